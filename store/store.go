// Package store defines where adsync puts campaigns: the [Store] interface a
// database implements, the [RunStore] interface for the bookkeeping of
// exclusive, resumable runs, and the records they share.
//
// Implementations live in sub-packages: store/postgres (PostgreSQL, through
// sqlx and lib/pq) and store/memory (in process, for tests and the
// example; its WithBookkeeping adds the bookkeeping to any Store).
// store/storetest is a conformance suite that proves any implementation,
// including yours, keeps the contract below.
//
// # Campaigns
//
// A Store stores every campaign exactly as given or rejects it with a
// reason: ids and text are arbitrary Unicode, counts are int64, the budget
// is an exact decimal, and nothing is rounded except times, which are kept
// to the microsecond. Campaigns of different accounts never see each
// other, even with the same id. Stores are safe for concurrent use.
//
// Content is newer-wins: each campaign carries the time the platform
// listed it ([Campaign.ListedAt]), and a write never replaces content
// listed later with content listed earlier; SyncedAt never goes backwards.
// So a late write of old data (a retried dead letter, a slow process) can
// never undo a newer one. Writing the same campaigns again is harmless, and
// a campaign whose content did not change keeps its UpdatedAt. [Merge] is
// this rule as a function, and [Prepare] the validation and deduplication
// of a batch, for any store to use.
//
// # Runs, leases and batches
//
// A [RunStore] adds the bookkeeping a sync needs, built around exclusive
// accounts. [RunStore.Acquire] takes an account for one holder, across
// processes; a second Acquire fails at once with [ErrAccountBusy]. Every
// write of a run goes through the [Lease] it returns, and is fenced: a
// holder that lost the account (its connection died and someone else took
// the account meanwhile, or it released it) cannot write another row, and
// gets [ErrAccountLost]. [Lease.Commit] records one [Batch] — campaigns,
// dead letters added, resolved and retired, the run's progress, its end,
// the account's handover state — atomically: all of it or none of it.
//
// The operator's view needs no lease: [RunStore.Runs] (newest first, paged),
// [RunStore.LastCompletedRun] for health checks, [RunStore.DeadLetters],
// [RunStore.DiscardDeadLetter] and [RunStore.PruneRuns].
//
// # Errors
//
// Errors are inspected with errors.Is and errors.As: [ErrRejected] with
// [*RecordError] and [*BatchError] for records a store refused,
// [ErrNotFound], [ErrAccountBusy] and [ErrAccountLost] with [*AccountError],
// and [ErrUnavailable] for every failure that may pass if the same call is
// made again later (the database unreachable or restarting, a lost
// connection, a serialization failure or deadlock, the attempt's context
// deadline). ErrUnavailable is the one rule a caller's retry loop needs.
package store

import (
	"context"
	"time"
)

// Campaign is one stored campaign of one account.
type Campaign struct {
	// ID is the platform's campaign id: any non-empty valid UTF-8 string
	// without NUL bytes, at most MaxIDBytes long.
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
	// SyncedAt is when the campaign's platform sync last succeeded. A
	// write keeps the later of the stored and the written SyncedAt, so a
	// zero SyncedAt means "this write records no sync". A row whose sync
	// never succeeded reads back with a zero SyncedAt.
	SyncedAt time.Time
	// ListedAt is when the platform listed this content. A write whose
	// ListedAt is before the stored one leaves the stored content as it
	// is (its SyncedAt may still move forward): newer content is never
	// replaced by older. Zero, in a write, means the store's current time.
	// A row stored before adsync recorded it reads back zero.
	ListedAt time.Time
	// UpdatedAt is set by the store when the campaign's content (every
	// field but SyncedAt, ListedAt and UpdatedAt) was last inserted or
	// changed. Writes ignore it.
	UpdatedAt time.Time
}

// Store is where campaigns land: the plain, unfenced interface, small
// enough to implement for your own database in a few dozen lines; prove an
// implementation with storetest.Run. memory.WithBookkeeping turns any Store
// into a RunStore that the syncer can use.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Upsert inserts or updates campaigns of one account, keyed by
	// (accountID, Campaign.ID), by the content rules of [Merge]. Of
	// several valid copies of one id in a batch, the one listed last wins
	// and the others are ignored (see [Prepare]). It is idempotent: the
	// same batch twice leaves the same rows, and a row whose content did
	// not change keeps its UpdatedAt.
	//
	// The error says what happened to the batch:
	//   - nil: every campaign was stored.
	//   - a *BatchError (errors.Is(err, ErrRejected)): the campaigns it
	//     lists were rejected, each with its reason, and none of their
	//     fields was written; every other campaign was stored.
	//   - any other error (a cancelled context, or one wrapping
	//     ErrUnavailable): nothing can be assumed stored, and the whole
	//     batch may be written again.
	Upsert(ctx context.Context, accountID string, campaigns []Campaign) error

	// Get returns one stored campaign, or an error wrapping ErrNotFound.
	Get(ctx context.Context, accountID, id string) (Campaign, error)
}

// RunStore is a Store that also keeps the bookkeeping of exclusive,
// resumable runs: leases on accounts, run records, the campaigns a run
// synced, dead letters and the handover state of each account.
//
// Implementations must be safe for concurrent use, by several holders of
// different accounts at once.
type RunStore interface {
	Store

	// Acquire takes the account exclusively, across processes, until the
	// lease is released or lost. When another holder has it, Acquire
	// fails at once with an *AccountError matching
	// errors.Is(err, ErrAccountBusy), whose text names the account. A
	// holder that dies (even killed with SIGKILL) loses the account at
	// once, so that a new Acquire succeeds.
	Acquire(ctx context.Context, accountID string) (Lease, error)

	// Runs returns the account's runs, newest first, at most q.Limit,
	// starting after the run q.Before ("" for the newest). A q.Before
	// that is no run of the account is an error wrapping ErrNotFound.
	Runs(ctx context.Context, accountID string, q RunQuery) ([]Run, error)

	// LastCompletedRun returns the account's newest sync run that
	// completed (failed campaigns or not), or an error wrapping
	// ErrNotFound when there is none: what a health check asks.
	LastCompletedRun(ctx context.Context, accountID string) (Run, error)

	// DeadLetters returns up to limit dead letters of the account in
	// CampaignID order (Go's string order), starting after the CampaignID
	// after ("" for the first page), retired ones included (RetiredAt
	// set). limit must be positive.
	DeadLetters(ctx context.Context, accountID, after string, limit int) ([]DeadLetter, error)

	// DiscardDeadLetter deletes the account's dead letter of campaignID,
	// retired or not, or returns an error wrapping ErrNotFound when there
	// is none. The campaign is not retried any more, until it fails again.
	DiscardDeadLetter(ctx context.Context, accountID, campaignID string) error

	// PruneRuns deletes the runs of every account that finished before
	// olderThan, and returns how many it deleted. It never deletes an
	// unfinished run, the newest run of each kind of an account, nor an
	// account's last completed sync run.
	PruneRuns(ctx context.Context, olderThan time.Time) (int, error)
}

// Lease is one holder's exclusive hold on one account, from
// [RunStore.Acquire] until Release. Every write of a run goes through it,
// and is fenced: once the lease is lost or released, its methods fail
// with an *AccountError matching ErrAccountLost, and nothing more is
// written.
//
// A lease makes one attempt per call. A call that failed for a reason that
// may pass (the database unreachable, the connection lost) returns an
// error wrapping ErrUnavailable and leaves the lease usable: the next call
// reconnects, and goes on if nobody else took the account meanwhile.
//
// A Lease is safe for concurrent use; its writes are serialized, its reads
// need not wait for them.
type Lease interface {
	// AccountID is the account the lease holds.
	AccountID() string

	// StartRun starts a run of the account, or resumes its unfinished
	// one, as StartOptions say. The run is written before StartRun
	// returns.
	StartRun(ctx context.Context, opts StartOptions) (Run, error)

	// SyncedSince returns those of ids whose stored SyncedAt is at or
	// after since, each once, in any order. A resumed run asks it, page
	// by page, which campaigns it already synced.
	SyncedSince(ctx context.Context, ids []string, since time.Time) ([]string, error)

	// DeadLetters returns up to limit of the account's dead letters that
	// are not retired, in CampaignID order, starting after the CampaignID
	// after ("" for the first page): what a retry pass retries.
	DeadLetters(ctx context.Context, after string, limit int) ([]DeadLetter, error)

	// State returns the account's handover state as the last Commit that
	// carried one saved it; zero when none ever did.
	State(ctx context.Context) (AccountState, error)

	// Commit records one batch atomically: all of it or none of it (see
	// [Batch]). If a campaign of the batch cannot be stored, Commit
	// writes nothing and returns a *BatchError listing every such
	// campaign (RecordError.Index is its position in Batch.Campaigns), so
	// that the caller can move them to dead letters and commit again.
	//
	// After an error wrapping ErrUnavailable the batch may or may not
	// have been recorded (the connection died while committing).
	// Committing it again is safe: everything a batch records is
	// idempotent, except that the Attempts of its dead letters may count
	// this failure twice.
	Commit(ctx context.Context, b Batch) error

	// Release gives the account up. It is idempotent; after it, every
	// method but AccountID fails with ErrAccountLost. A lease that is
	// never released holds the account until its process ends.
	Release(ctx context.Context) error
}

// Batch is what one [Lease.Commit] records, in one transaction. Its parts
// are applied in this order: Campaigns, Resolved, Retired, DeadLetters,
// Progress and Finish, State.
type Batch struct {
	// RunID is the run the batch belongs to: a run of the lease's
	// account that is running (started or resumed, not finished).
	RunID string
	// Campaigns are upserted by the rules of [Store.Upsert]; a synced
	// one carries its SyncedAt.
	Campaigns []Campaign
	// DeadLetters are added: a new one with Attempts 1; an existing one
	// (same CampaignID) gets the new Data, Error and RunID, its
	// LastFailedAt, and Attempts + 1, or starts over at 1 if it was
	// retired. A CampaignID given n times counts n attempts, the last
	// copy's fields win. Their AccountID is ignored (it is the lease's),
	// and an empty RunID is the batch's.
	DeadLetters []DeadLetter
	// Resolved are campaign ids whose dead letters go: they synced. Ids
	// without a dead letter are ignored.
	Resolved []string
	// Retired are dead letters given up on, with a reason (the campaign
	// is no longer listed, it failed too many times): they are kept, with
	// RetiredAt and RetiredReason set, and no longer returned by
	// Lease.DeadLetters. Ids without a dead letter are ignored.
	Retired []Retirement
	// Progress replaces the run's counts.
	Progress RunCounts
	// Finish, when set, ends the run in the same transaction.
	Finish *RunFinish
	// State, when not nil, replaces the account's handover state (see
	// AccountState); nil leaves it unchanged.
	State []byte
}

// RunCounts are a run's counts of campaigns.
type RunCounts struct {
	Seen, Synced, Skipped, Failed int
}

// RunFinish ends a run.
type RunFinish struct {
	// Status is RunCompleted, RunInterrupted or RunFailed.
	Status RunStatus
	// Error says why a run failed or was interrupted; "" otherwise.
	Error string
}

// Retirement is a dead letter given up on, and why.
type Retirement struct {
	CampaignID string
	Reason     string
}

// AccountState is an account's handover state: an opaque blob a holder
// saves with its batches (the platform client's limiter state, say: recent
// request times, a wait the platform imposed), so that the next holder,
// after a crash even, continues where the last one stopped.
type AccountState struct {
	// Data is what the last Commit carrying a State saved; nil when none
	// ever did.
	Data []byte
	// SavedAt is when it was saved; zero when never.
	SavedAt time.Time
}

// RunKind is what a run does.
type RunKind string

// The kinds of run.
const (
	// KindSync lists the account and syncs its campaigns. It is the
	// default kind, and the only one that is ever resumed.
	KindSync RunKind = "sync"
	// KindRetry re-syncs the account's dead letters. It never resumes an
	// unfinished run, and never replaces the account's unfinished sync
	// run.
	KindRetry RunKind = "retry"
)

// DefaultMaxResumeAge is how old an unfinished sync run may be and still
// be resumed, when StartOptions.MaxResumeAge is zero.
const DefaultMaxResumeAge = 24 * time.Hour

// StartOptions tune [Lease.StartRun].
type StartOptions struct {
	// Kind is the kind of run; "" is KindSync.
	Kind RunKind

	// Fresh starts a new sync run even when the account has an
	// unfinished one; that one is marked interrupted, saying so, and is
	// never resumed.
	Fresh bool

	// MaxResumeAge is how long after it started an unfinished sync run
	// may still be resumed (0: DefaultMaxResumeAge, a day; negative: no
	// limit). A resumed run skips the campaigns it synced, so resuming a
	// run started long ago would skip campaigns synced long ago. An older
	// one is marked interrupted, saying why, a new run starts, and the
	// returned Run's Note says so.
	MaxResumeAge time.Duration
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

// Run is the record of one run of one account.
type Run struct {
	ID        string
	AccountID string
	Kind      RunKind
	Status    RunStatus
	// StartedAt is when the run first started; a resumed run keeps it.
	StartedAt time.Time
	// FinishedAt is zero while the run is running.
	FinishedAt time.Time
	// Resumed is set by StartRun when it returned an unfinished run
	// rather than a new one. It is not stored.
	Resumed bool
	// Note is set by StartRun when it did something the caller should
	// know of: it replaced an unfinished run, or found one too old to
	// resume. It is not stored.
	Note string
	// Counts are the run's counts as its last Commit recorded them.
	RunCounts
	// Error says why a run failed or was interrupted; "" otherwise.
	Error string
}

// RunQuery pages through an account's runs, newest first.
type RunQuery struct {
	// Before is the ID of the last run of the previous page; "" for the
	// first page.
	Before string
	// Limit is the most runs returned; 0 means 100.
	Limit int
	// Kind keeps only runs of this kind; "" keeps every run.
	Kind RunKind
}

// DeadLetter is a campaign that still failed after its retries, kept with
// what the platform listed and the last error, so that nothing is lost and
// a later run can retry it.
type DeadLetter struct {
	AccountID string
	// CampaignID is the campaign's id; for a listed record without a
	// usable id it is a key derived from the record's content. It may be
	// any non-empty valid UTF-8 without NUL, of any length.
	CampaignID string
	// RunID is the run that last failed it.
	RunID string
	// Data is the record as the caller gave it (the raw JSON the
	// platform listed), kept byte for byte.
	Data []byte
	// Error is the last error, as text. A store keeps it with NUL bytes
	// and invalid UTF-8 replaced by U+FFFD.
	Error string
	// Attempts counts the failures since it was added (or retired).
	Attempts int
	// FirstFailedAt and LastFailedAt are set by the store.
	FirstFailedAt, LastFailedAt time.Time
	// RetiredAt and RetiredReason are set when the letter was retired:
	// given up on, it is no longer retried.
	RetiredAt     time.Time
	RetiredReason string
}
