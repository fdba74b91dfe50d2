package syncer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/adsync/adsync/store"
)

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

	// MaxResumeAge is how long after it started an unfinished run may
	// still be resumed (0: the store's default, store.DefaultMaxResumeAge,
	// a day; negative: no limit). A resumed run skips what it synced, so
	// resuming one started long ago would skip campaigns synced long ago:
	// an older one is left, a fresh run starts, and Report.Note says why.
	MaxResumeAge time.Duration

	// SkipSyncedWithin skips campaigns whose last successful sync is more
	// recent than this (0: sync everything not already synced by a resumed
	// run).
	SkipSyncedWithin time.Duration

	// MaxAttempts is how many times a campaign may fail before its dead
	// letter is retired (default 10; negative: never): kept, with the
	// reason, but no longer retried by RetryFailed. It is retired when the
	// next Run or RetryFailed starts. (A Run still syncs a listed
	// campaign whose letter was retired; failing again, it starts over.)
	MaxAttempts int

	// MaxReportedFailures caps Report.Failures (default 1000); Report.Failed
	// always counts every failure, and every failure is a dead letter.
	MaxReportedFailures int

	// StoreAttemptTimeout bounds each attempt at a store call (default
	// 30s): a database that does not answer is given up on and asked
	// again, as one that refuses is.
	StoreAttemptTimeout time.Duration

	// StoreRetryBudget is how long a run waits for an unavailable database
	// (default 5 minutes): a store call failing with store.ErrUnavailable
	// (a restart, a failover, a lost connection) is retried with capped,
	// jittered backoff until it succeeds or the database has been
	// unavailable this long. Meanwhile the run pauses: its sync calls wait
	// for the writer, and nothing they brought back is dropped. Past the
	// budget the run stops, interrupted, and the next run resumes it.
	StoreRetryBudget time.Duration

	// Logger receives the run's log lines, each with the run id and the
	// account. Nil means silent.
	Logger *slog.Logger

	// Observer receives the run's events. Nil means none.
	Observer Observer
}

// OptionError is New's error for an Options field that is not valid. It
// names the field as Options spells it (e.g. "Concurrency"), so that a
// program can tell its user which of its own settings is at fault.
type OptionError struct {
	Field string
	Err   error
}

func (e *OptionError) Error() string { return "syncer: Options." + e.Field + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// withDefaults returns opts validated, with the defaults applied, or an
// error naming the first field that is not valid.
func (opts Options) withDefaults() (Options, error) {
	if err := store.ValidateAccountID(opts.AccountID); err != nil {
		return opts, &OptionError{Field: "AccountID", Err: err}
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
		{"StoreAttemptTimeout", int64(opts.StoreAttemptTimeout)},
		{"StoreRetryBudget", int64(opts.StoreRetryBudget)},
	} {
		if f.value < 0 {
			return opts, &OptionError{Field: f.name, Err: errors.New("must not be negative")}
		}
	}
	if opts.Concurrency > 10000 {
		return opts, &OptionError{Field: "Concurrency", Err: fmt.Errorf("%d is more than 10000", opts.Concurrency)}
	}
	setDefault(&opts.Concurrency, 10)
	setDefault(&opts.BatchSize, 100)
	setDefault(&opts.FlushInterval, 200*time.Millisecond)
	setDefault(&opts.GracePeriod, 30*time.Second)
	setDefault(&opts.MaxReportedFailures, 1000)
	setDefault(&opts.MaxAttempts, 10)
	setDefault(&opts.StoreAttemptTimeout, 30*time.Second)
	setDefault(&opts.StoreRetryBudget, 5*time.Minute)
	return opts, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
