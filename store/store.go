// Package store defines where adsync puts campaigns: the [Store] interface a
// database implements, the [RunStore] interface for the bookkeeping a
// resumable sync needs, and the record type they share.
//
// Implementations live in sub-packages: store/postgres (PostgreSQL, through
// sqlx and lib/pq) and store/memory (in process, for tests and the
// example). store/storetest is a conformance suite that proves any
// implementation, including yours, keeps the contract below.
//
// # The contract
//
// A Store stores every campaign exactly as given or rejects it with a
// reason: ids and text are arbitrary Unicode, counts are int64, the budget
// is an exact decimal, and nothing is rounded except times, which are kept
// to the microsecond. Upserting the same campaigns again is harmless, and a
// campaign whose content did not change keeps its UpdatedAt. Campaigns of
// different accounts never see each other, even with the same id. Stores
// are safe for concurrent use.
package store

import (
	"context"
	"time"
)

// Campaign is one stored campaign of one account.
type Campaign struct {
	// ID is the platform's campaign id: any non-empty valid UTF-8 string
	// without NUL bytes.
	ID     string
	Name   string
	Status string
	// Budget is an exact decimal in plain notation: an optional minus
	// sign, integer digits without leading zeros, and optional fractional
	// digits, e.g. "1100" or "-12.50". Trailing fractional zeros are kept.
	Budget      string
	Impressions int64
	Clicks      int64
	Conversions int64
	// CreatedAt is when the platform created the campaign; zero when it
	// is unknown.
	CreatedAt time.Time
	// SyncedAt is when the campaign's platform sync last succeeded. In
	// Upsert, zero means "this write records no sync": an existing row
	// keeps its SyncedAt and a new row has none. A row whose sync never
	// succeeded reads back with a zero SyncedAt.
	SyncedAt time.Time
	// UpdatedAt is set by the store when the campaign's content (every
	// field but SyncedAt and UpdatedAt) was last inserted or changed.
	// Upsert ignores it.
	UpdatedAt time.Time
}

// Store is where campaigns land. It is all the syncer needs, and small
// enough to implement for your own database in a few dozen lines; prove an
// implementation with storetest.Run.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Upsert inserts or updates campaigns of one account, keyed by
	// (accountID, Campaign.ID). If the batch holds the same id twice,
	// the last one wins. It is idempotent: the same batch twice leaves
	// the same rows, and a row whose content did not change keeps its
	// UpdatedAt.
	//
	// The error says what happened to the batch:
	//   - nil: every campaign was stored.
	//   - a *BatchError (errors.Is(err, ErrRejected)): the campaigns it
	//     lists were rejected, each with its reason, and none of their
	//     fields was written; every other campaign was stored.
	//   - any other error (a cancelled context, or one wrapping
	//     ErrUnavailable): nothing can be assumed stored, and the whole
	//     batch may be retried.
	Upsert(ctx context.Context, accountID string, campaigns []Campaign) error

	// Get returns one stored campaign, or an error wrapping ErrNotFound.
	Get(ctx context.Context, accountID, id string) (Campaign, error)
}

// RunStore is a Store that also keeps the bookkeeping of a resumable sync:
// run records, which campaigns a run already synced, and dead letters.
// A store that implements only Store still works with the syncer; it just
// cannot resume a run or remember failures.
//
// Implementations must be safe for concurrent use, including by several
// syncers of different accounts at once. One account is synced by one
// syncer at a time.
type RunStore interface {
	Store

	// StartRun resumes the account's unfinished run (one whose status is
	// RunRunning or RunInterrupted: interrupted, or killed before it could
	// finish) and returns it with Resumed set, or, when there is none or
	// opts.Fresh is set, starts a new run with status RunRunning. Only an
	// account's newest run is ever resumed: an unfinished run replaced by
	// a fresh one is marked RunInterrupted, with an Error saying so, and
	// stays that way.
	StartRun(ctx context.Context, accountID string, opts StartOptions) (Run, error)

	// FinishRun records the end of a run: its Status (RunCompleted,
	// RunInterrupted or RunFailed), FinishedAt, counts and Error.
	FinishRun(ctx context.Context, run Run) error

	// SyncedSince returns those of ids whose stored SyncedAt is at or
	// after since, in any order. A resumed run asks it, page by page,
	// which campaigns it already synced.
	SyncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error)

	// PutDeadLetters records campaigns that failed: a new one is added
	// with Attempts 1; an existing one (same account and CampaignID) gets
	// the new Data, Error, RunID and LastFailedAt, and Attempts + 1.
	PutDeadLetters(ctx context.Context, letters []DeadLetter) error

	// ResolveDeadLetters removes the dead letters of the given campaigns,
	// once they synced. Ids without a dead letter are ignored.
	ResolveDeadLetters(ctx context.Context, accountID string, ids []string) error

	// DeadLetters returns up to limit dead letters of the account in
	// CampaignID order, starting after the CampaignID after ("" for the
	// first page).
	DeadLetters(ctx context.Context, accountID, after string, limit int) ([]DeadLetter, error)
}

// StartOptions tune [RunStore.StartRun].
type StartOptions struct {
	// Fresh starts a new run even when an unfinished one exists.
	Fresh bool
}

// RunStatus is the state of a run.
type RunStatus string

// The states of a run.
const (
	RunRunning     RunStatus = "running"
	RunCompleted   RunStatus = "completed"
	RunInterrupted RunStatus = "interrupted"
	RunFailed      RunStatus = "failed"
)

// Run is the record of one sync run of one account.
type Run struct {
	ID        string
	AccountID string
	Status    RunStatus
	// StartedAt is when the run first started; a resumed run keeps it.
	StartedAt time.Time
	// FinishedAt is zero while the run is unfinished.
	FinishedAt time.Time
	// Resumed is set by StartRun when it returned an unfinished run
	// rather than a new one. It is not stored.
	Resumed bool
	// Counts of the run's last invocation, as recorded by FinishRun.
	Seen, Synced, Skipped, Failed int
	// Error says why a run failed or was interrupted; "" otherwise.
	Error string
}

// DeadLetter is a campaign that still failed after its retries, kept with
// what the platform listed and the last error, so that nothing is lost and
// a later run can retry it.
type DeadLetter struct {
	AccountID string
	// CampaignID is the campaign's id; for a listed record without a
	// usable id it is a key derived from the record's content.
	CampaignID string
	// RunID is the run that last failed it.
	RunID string
	// Data is the campaign as the platform listed it (the raw JSON
	// record), byte for byte.
	Data []byte
	// Error is the last error, as text.
	Error    string
	Attempts int
	// FirstFailedAt and LastFailedAt are set by the store.
	FirstFailedAt, LastFailedAt time.Time
}
