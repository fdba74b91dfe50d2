package syncer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// Platform is what the syncer needs of the ad platform: the account's
// listing, page by page, and the per-campaign sync. *adplatform.Client
// implements it; a test or a service can substitute its own.
type Platform interface {
	// Pages iterates over the pages of the account's listing, with the
	// contract of adplatform.Client.Pages: records that cannot be decoded
	// are in the page with their Err set; any other error ends it.
	Pages(ctx context.Context) iter.Seq2[adplatform.Page, error]
	// SyncCampaign asks the platform to sync one campaign.
	SyncCampaign(ctx context.Context, id string) (adplatform.SyncResult, error)
}

// Syncer syncs one account's campaigns from a platform into a store. Its
// methods are safe for concurrent use, but an account has one run at a
// time, across processes: Run or RetryFailed while another holds the
// account (on this Syncer or elsewhere) fails at once with an error
// matching store.ErrAccountBusy.
type Syncer struct {
	platform Platform
	store    store.RunStore
	opts     Options
	log      *slog.Logger
	obs      Observer
	// holder identifies this Syncer in the account's handover state.
	holder string

	progress progressCounters
}

// New returns a Syncer that syncs from platform into st. An invalid option
// is an [*OptionError] naming the field.
//
// The store keeps the bookkeeping of runs (exclusive accounts, resume,
// dead letters) as well as the campaigns: store/postgres and store/memory
// do. A store of your own that implements only store.Store is used through
// memory.WithBookkeeping(yourStore), which keeps that bookkeeping in
// memory, for the life of the process.
func New(platform Platform, st store.RunStore, opts Options) (*Syncer, error) {
	if platform == nil {
		return nil, errors.New("syncer: platform is nil")
	}
	if st == nil {
		return nil, errors.New("syncer: store is nil (a store.Store of your own goes through memory.WithBookkeeping)")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Syncer{platform: platform, store: st, opts: opts, log: opts.Logger, obs: opts.Observer, holder: rand.Text()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	return s, nil
}

// Run syncs the account: it lists every campaign, calls the platform's sync
// for each, and stores each campaign, with its SyncedAt when its sync
// succeeded. Listing streams into syncing, sync calls run concurrently, and
// the writer batches store writes.
//
// Run holds the account exclusively for its whole duration (through
// store.RunStore.Acquire), across processes: another Run or RetryFailed of
// it meanwhile fails at once with an error matching store.ErrAccountBusy
// that names the account. A run that loses the account (its lease lost,
// store.ErrAccountLost: another holder took it) stops at once with that
// error and writes nothing more. The account is released when Run
// returns, even when ctx was cancelled.
//
// Run resumes the account's unfinished run (unless Options.Fresh, or it
// started longer ago than Options.MaxResumeAge: then a fresh run starts,
// and Report.Note says why): campaigns that run already synced are
// skipped, not synced again.
// Campaigns that fail become dead letters, with the listed data and the
// last error, and are retried by [Syncer.RetryFailed] or the next run.
//
// Campaigns failing is not an error: they are in the report. Run returns an
// error when it could not do its job: the store was unavailable past
// Options.StoreRetryBudget, the listing failed part way, the platform was
// unavailable (adplatform.ErrPlatformUnavailable) or asked to wait longer
// than the client allows (an *adplatform.RateLimitError): the run is
// interrupted, and the next one resumes it. Refused credentials (an
// *adplatform.AuthError) fail it: the next run starts afresh. The report
// says what was done either way.
//
// When ctx is cancelled, Run stops listing and starting sync calls, lets
// calls already on the wire finish within Options.GracePeriod, stores what
// was synced, marks the run interrupted, and returns the report, with
// Status StatusInterrupted, and a nil error.
//
// The report's Status says how the run ended, and its Err is the error
// Run returns.
func (s *Syncer) Run(ctx context.Context) (Report, error) {
	return s.run(ctx, store.StartOptions{Fresh: s.opts.Fresh, MaxResumeAge: s.opts.MaxResumeAge})
}

// RetryFailed re-syncs only the campaigns recorded as dead letters, from
// the data they were listed with, without listing the account again. A
// campaign that syncs is stored and its dead letter removed; one that fails
// again stays, with the new error. The account, errors and cancellation
// behave as in [Syncer.Run]. It records a run of kind store.KindRetry,
// which neither resumes nor replaces an unfinished sync run.
func (s *Syncer) RetryFailed(ctx context.Context) (Report, error) {
	return s.run(ctx, store.StartOptions{Kind: store.KindRetry})
}

// run takes the account, takes over what its last holder handed over,
// starts (or resumes) a run as opts say, and executes it.
func (s *Syncer) run(ctx context.Context, opts store.StartOptions) (Report, error) {
	started := time.Now()
	retrying := opts.Kind == store.KindRetry
	log := s.log.With("account", s.opts.AccountID)
	lease, err := s.store.Acquire(ctx, s.opts.AccountID)
	if err != nil {
		return s.notStarted(started, retrying, fmt.Errorf("syncer: %w", err))
	}
	defer release(ctx, lease)
	if err := s.takeOver(ctx, lease, log); err != nil {
		return s.notStarted(started, retrying, err)
	}
	run, err := lease.StartRun(ctx, opts)
	if err != nil {
		return s.notStarted(started, retrying, fmt.Errorf("syncer: start a run: %w", err))
	}
	e := s.newExecution(run, lease, started, retrying)
	if retrying {
		return e.execute(ctx, e.deadLetters)
	}
	return e.execute(ctx, e.listCampaigns)
}

// notStarted is the report and error of a run that could not start.
func (s *Syncer) notStarted(started time.Time, retrying bool, err error) (Report, error) {
	// Returned, not logged at Error: the caller reports it, once.
	s.log.Info("the run could not start", "account", s.opts.AccountID, "err", err)
	return Report{AccountID: s.opts.AccountID, Retry: retrying, Status: stoppedStatus(err), Err: err,
		StartedAt: started, Duration: time.Since(started)}, err
}

// releaseTimeout bounds giving the account up: a database that does not
// answer must not hold the caller. A lease whose release fails is freed
// anyway when its connection goes.
const releaseTimeout = 10 * time.Second

// release gives the account up, even when ctx is cancelled (a stopped run
// still releases what it holds).
func release(ctx context.Context, lease store.Lease) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_ = lease.Release(ctx)
}

// Progress returns the counts of the run in progress, or of the last run
// when none is: safe to call from another goroutine, e.g. to draw a
// progress bar.
func (s *Syncer) Progress() Progress { return s.progress.snapshot() }
