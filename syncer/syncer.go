package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// Platform is what the syncer needs of the ad platform. *adplatform.Client
// implements it; a test or a service can substitute its own.
type Platform interface {
	// Campaigns iterates over every campaign of the account. A
	// *adplatform.RecordError reports one undecodable record and iteration
	// goes on; any other error ends it.
	Campaigns(ctx context.Context) iter.Seq2[adplatform.Campaign, error]
	// SyncCampaign asks the platform to sync one campaign.
	SyncCampaign(ctx context.Context, id string) (adplatform.SyncResult, error)
}

// Store is what the syncer needs of a store: one batched write, with the
// contract of store.Store.Upsert. Every store.Store implements it.
type Store interface {
	Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error
}

// Options configure a [Syncer]. The zero value of every field but AccountID
// selects the default.
type Options struct {
	// AccountID keys the account's campaigns and runs in the store.
	// Required. Several syncers, one per account, may share one store.
	AccountID string

	// Concurrency is how many sync calls may be in flight at once
	// (default 10). The platform client's limiter, not this number, keeps
	// requests within the rate limit; Concurrency only has to be large
	// enough to use every slot of the window: at least the rate limit when
	// the sync call is slower than the gap between slots.
	Concurrency int

	// BatchSize is how many campaigns the writer collects before one
	// store write (default 100); FlushInterval is the longest a synced
	// campaign waits for its write (default 200ms). A short interval keeps
	// what a crash can lose small.
	BatchSize     int
	FlushInterval time.Duration

	// GracePeriod is how long calls already on the wire may take to
	// finish once the run's context is cancelled (default 30s). Calls still
	// waiting for a rate-limit slot are abandoned at once.
	GracePeriod time.Duration

	// Fresh starts a new run even when the account has an unfinished one,
	// instead of resuming it.
	Fresh bool

	// SkipSyncedWithin skips campaigns whose last successful sync is more
	// recent than this (0: sync everything not already synced by a resumed
	// run). It needs a store that implements store.RunStore.
	SkipSyncedWithin time.Duration

	// MaxReportedFailures caps Report.Failures (default 1000); Report.Failed
	// always counts every failure, and every failure is a dead letter when
	// the store keeps them.
	MaxReportedFailures int

	// StoreRetries is how many times a store write that failed as a whole
	// is retried before the run stops (default 3).
	StoreRetries int

	// Logger receives the run's log lines, each with the run id and the
	// account. Nil means silent.
	Logger *slog.Logger

	// Observer receives the run's events. Nil means none.
	Observer Observer
}

// Syncer syncs one account's campaigns from a platform into a store. Its
// methods are safe for concurrent use, but one account should be synced by
// one run at a time: Run and RetryFailed on the same Syncer wait for each
// other.
type Syncer struct {
	platform Platform
	store    Store
	books    store.RunStore // nil when the store keeps no bookkeeping
	opts     Options
	log      *slog.Logger
	obs      Observer

	runMu    sync.Mutex // one run at a time
	progress progressCounters
}

// New returns a Syncer that syncs from platform into st. It fails, naming
// the option, when an option is invalid.
func New(platform Platform, st Store, opts Options) (*Syncer, error) {
	if platform == nil {
		return nil, errors.New("syncer: platform is nil")
	}
	if st == nil {
		return nil, errors.New("syncer: store is nil")
	}
	if err := store.ValidateAccountID(opts.AccountID); err != nil {
		return nil, fmt.Errorf("syncer: Options.AccountID: %w", err)
	}
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"Concurrency", int64(opts.Concurrency)},
		{"BatchSize", int64(opts.BatchSize)},
		{"FlushInterval", int64(opts.FlushInterval)},
		{"GracePeriod", int64(opts.GracePeriod)},
		{"SkipSyncedWithin", int64(opts.SkipSyncedWithin)},
		{"MaxReportedFailures", int64(opts.MaxReportedFailures)},
		{"StoreRetries", int64(opts.StoreRetries)},
	} {
		if f.value < 0 {
			return nil, fmt.Errorf("syncer: Options.%s: must not be negative", f.name)
		}
	}
	if opts.Concurrency > 10000 {
		return nil, fmt.Errorf("syncer: Options.Concurrency: %d is more than 10000", opts.Concurrency)
	}
	setDefault(&opts.Concurrency, 10)
	setDefault(&opts.BatchSize, 100)
	setDefault(&opts.FlushInterval, 200*time.Millisecond)
	setDefault(&opts.GracePeriod, 30*time.Second)
	setDefault(&opts.MaxReportedFailures, 1000)
	setDefault(&opts.StoreRetries, 3)

	s := &Syncer{platform: platform, store: st, opts: opts, obs: opts.Observer}
	s.books, _ = st.(store.RunStore)
	if opts.SkipSyncedWithin > 0 && s.books == nil {
		return nil, fmt.Errorf("syncer: Options.SkipSyncedWithin: the store (%T) keeps no sync bookkeeping", st)
	}
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// ErrNoBookkeeping is returned by [Syncer.RetryFailed] when the store keeps
// no dead letters.
var ErrNoBookkeeping = errors.New("syncer: the store keeps no run bookkeeping")

// Run syncs the account: it lists every campaign, calls the platform's sync
// for each, and stores each campaign, with its SyncedAt when its sync
// succeeded. Listing streams into syncing, sync calls run concurrently, and
// the writer batches store writes.
//
// When the store keeps bookkeeping, Run resumes the account's unfinished
// run (unless Options.Fresh): campaigns that run already synced are
// skipped, not synced again. Campaigns that fail become dead letters, with
// the listed data and the last error, and are retried by [Syncer.RetryFailed]
// or the next run.
//
// Campaigns failing is not an error: they are in the report. Run returns an
// error when it could not do its job: the credentials were refused, the
// store was unavailable, the listing failed part way, or the platform asked
// to wait longer than the client allows (an *adplatform.RateLimitError). The
// report then says what was done, and the run is left to be resumed.
//
// When ctx is cancelled, Run stops listing and starting sync calls, lets
// calls already on the wire finish within Options.GracePeriod, stores what
// was synced, marks the run interrupted, and returns the report with
// Interrupted set and a nil error.
func (s *Syncer) Run(ctx context.Context) (Report, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()

	started := time.Now()
	lease, run, err := s.start(ctx, store.StartOptions{Fresh: s.opts.Fresh})
	if err != nil {
		return Report{}, err
	}
	if lease != nil {
		defer lease.Release(context.WithoutCancel(ctx))
	}
	if run.Note != "" {
		s.log.Warn("run not resumed", "account", s.opts.AccountID, "note", run.Note)
	}
	var since time.Time // campaigns synced at or after since are skipped
	if run.Resumed {
		since = run.StartedAt
	}
	if age := s.opts.SkipSyncedWithin; age > 0 {
		if cutoff := started.Add(-age); since.IsZero() || cutoff.Before(since) {
			since = cutoff
		}
	}
	e := s.newExecution(run, lease, started)
	return e.execute(ctx, func(ctx context.Context, emit emitter) error {
		return e.listCampaigns(ctx, since, emit)
	})
}

// RetryFailed re-syncs only the campaigns recorded as dead letters, from
// the data they were listed with, without listing the account again. A
// campaign that syncs is stored and its dead letter removed; one that fails
// again stays, with the new error. It returns [ErrNoBookkeeping] when the
// store keeps no dead letters. Errors and cancellation behave as in
// [Syncer.Run]. It records a run of kind store.KindRetry, which neither
// resumes nor replaces an unfinished sync run.
func (s *Syncer) RetryFailed(ctx context.Context) (Report, error) {
	if s.books == nil {
		return Report{}, ErrNoBookkeeping
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()

	started := time.Now()
	lease, run, err := s.start(ctx, store.StartOptions{Kind: store.KindRetry})
	if err != nil {
		return Report{}, err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	e := s.newExecution(run, lease, started)
	e.retrying = true
	return e.execute(ctx, e.deadLetters)
}

// start takes the account and starts (or resumes) a run as opts say, when
// the store keeps bookkeeping; otherwise it returns a run of its own and
// no lease.
func (s *Syncer) start(ctx context.Context, opts store.StartOptions) (store.Lease, store.Run, error) {
	if s.books == nil {
		return nil, store.Run{ID: store.NewRunID(), AccountID: s.opts.AccountID, Status: store.RunRunning, StartedAt: time.Now()}, nil
	}
	lease, err := s.books.Acquire(ctx, s.opts.AccountID)
	if err != nil {
		return nil, store.Run{}, fmt.Errorf("syncer: %w", err)
	}
	run, err := lease.StartRun(ctx, opts)
	if err != nil {
		lease.Release(context.WithoutCancel(ctx))
		return nil, store.Run{}, fmt.Errorf("syncer: start run: %w", err)
	}
	return lease, run, nil
}

// Progress returns the counts of the run in progress, or of the last run
// when none is: safe to call from another goroutine, e.g. to draw a
// progress bar.
func (s *Syncer) Progress() Progress { return s.progress.snapshot() }
