package riversync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// Kind is the River job kind of an account's sync: SyncArgs's.
const Kind = "adsync_sync"

// SyncArgs are the arguments of an account's sync job: the account's id and
// nothing else. Credentials never travel in a job: the worker gets them from
// the Factory, that is from the service's own secret source.
type SyncArgs struct {
	AccountID string `json:"account_id"`
}

// Kind returns Kind, the job kind River stores.
func (SyncArgs) Kind() string { return Kind }

// InsertOpts makes every sync job unique by account over the states in
// which a job is waiting or working: available, pending, retryable, running
// and scheduled. Inserting a job for an account that has one is then a
// no-op, so at most one job per account is queued or running, whoever
// inserts it. Completed (and cancelled, discarded) are left out, so that an
// account whose job finished can be queued again at once.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: UniqueOpts()}
}

// UniqueOpts returns the uniqueness of SyncArgs's InsertOpts: by args (the
// account id), over the non-final states.
func UniqueOpts() river.UniqueOpts {
	return river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable,
			rivertype.JobStatePending,
			rivertype.JobStateRetryable,
			rivertype.JobStateRunning,
			rivertype.JobStateScheduled,
		},
	}
}

// ErrUnknownAccount is matched by the error that cancels the job of an
// account the Factory no longer knows.
var ErrUnknownAccount = errors.New("riversync: not an account to sync")

// Factory is the service's account source: which accounts are to be synced,
// and a Syncer for each, with that account's credentials, client id and
// store.
type Factory interface {
	// Active reports whether the account is (still) one to sync. The
	// worker asks before every job of the account: false cancels the job
	// (river.JobCancel), and the account is synced no more until a job is
	// inserted for it again. It should be cheap: a map or a query by key.
	Active(ctx context.Context, accountID string) (bool, error)

	// Syncer returns a new Syncer for the account, on a platform client of
	// the account's own (its limiter is that client id's) and the store.
	// The worker calls it once per account and keeps the Syncer for the life
	// of the process (see syncer's Handover), or until a run fails for
	// good (refused credentials): it asks again then, so that rotated
	// credentials are picked up.
	Syncer(ctx context.Context, accountID string) (*syncer.Syncer, error)
}

// Options configure a Worker. The zero value of every field selects the
// default documented on it.
type Options struct {
	// Every is the pause between the end of an account's run and the
	// start of its next one: the job snoozes that long after each run that
	// went through the listing (completed, with failed campaigns or not).
	// 0 (the default) syncs once: the job completes, and the account can
	// be queued again with Enqueue.
	Every time.Duration

	// BusyRetry is how long a job snoozes when its account is busy: held
	// by another run (a process outside River, an operator's command) or
	// taken over by another holder (default 10s).
	BusyRetry time.Duration

	// RetryInterval is how long a job snoozes after a run interrupted by
	// something that passes: the database or the platform unavailable
	// for longer than the syncer waits, a listing broken part way (default
	// 1 minute). The next run resumes the interrupted one.
	RetryInterval time.Duration

	// Timeout bounds a job (default 1 hour): a run still going then is
	// stopped as a cancelled run is (calls on the wire finish within the
	// syncer's GracePeriod and are stored) and the job snoozes to be
	// resumed at once, here or elsewhere. Make it longer than an
	// account's run: at 10 requests a minute, 100 campaigns take ten
	// minutes.
	Timeout time.Duration

	// GracePeriod is the syncers' GracePeriod, as the Factory sets it
	// (default 30s, the syncer's default). It is only used to compute
	// RescueStuckJobsAfter.
	GracePeriod time.Duration

	// Logger receives a line per job outcome that is not a plain
	// success; nil is silent.
	Logger *slog.Logger
}

// The defaults of Options.
const (
	DefaultBusyRetry     = 10 * time.Second
	DefaultRetryInterval = time.Minute
	DefaultTimeout       = time.Hour
	DefaultGracePeriod   = 30 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Every < 0:
		return o, fmt.Errorf("riversync: Options.Every must not be negative, got %s", o.Every)
	case o.BusyRetry < 0:
		return o, fmt.Errorf("riversync: Options.BusyRetry must not be negative, got %s", o.BusyRetry)
	case o.RetryInterval < 0:
		return o, fmt.Errorf("riversync: Options.RetryInterval must not be negative, got %s", o.RetryInterval)
	case o.Timeout < 0:
		return o, fmt.Errorf("riversync: Options.Timeout must not be negative, got %s", o.Timeout)
	case o.GracePeriod < 0:
		return o, fmt.Errorf("riversync: Options.GracePeriod must not be negative, got %s", o.GracePeriod)
	}
	if o.BusyRetry == 0 {
		o.BusyRetry = DefaultBusyRetry
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.GracePeriod == 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Worker is the River worker of SyncArgs jobs: each job runs one sync of its
// account (Syncer.Run) and decides, from how it ended, when the account
// runs next. Register it with river.AddWorker; a process has one Worker,
// which keeps one Syncer per account.
type Worker struct {
	river.WorkerDefaults[SyncArgs]

	factory Factory
	opts    Options

	mu      sync.Mutex
	syncers map[string]*syncer.Syncer
}

// NewWorker returns a Worker that syncs the accounts factory gives. It fails,
// naming the field, when an option is invalid.
func NewWorker(factory Factory, opts Options) (*Worker, error) {
	if factory == nil {
		return nil, errors.New("riversync: NewWorker needs a Factory")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Worker{factory: factory, opts: opts, syncers: make(map[string]*syncer.Syncer)}, nil
}

// Timeout returns Options.Timeout: River cancels a job's context then.
func (w *Worker) Timeout(*river.Job[SyncArgs]) time.Duration { return w.opts.Timeout }

// RescueStuckJobsAfter is the value to give river.Config.RescueStuckJobsAfter
// with this worker: Options.Timeout plus twice the GracePeriod, so that a
// job is never rescued while its run is still finishing the calls it had on
// the wire. A job whose process died (SIGKILL, a lost machine) is made
// available again by River's rescuer this long after it started, at the
// rescuer's next pass (every 30 s), and the next process takes the account
// over. That is the takeover time; see the package documentation.
func (w *Worker) RescueStuckJobsAfter() time.Duration {
	return w.opts.Timeout + 2*w.opts.GracePeriod
}

// Work runs one sync of the job's account. See the package documentation
// for what each outcome does to the job.
func (w *Worker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	id := job.Args.AccountID
	if err := store.ValidateAccountID(id); err != nil {
		return river.JobCancel(fmt.Errorf("riversync: job %d: %w", job.ID, err))
	}
	log := w.opts.Logger.With("account", id, "job_id", job.ID)
	active, err := w.factory.Active(ctx, id)
	if err != nil {
		log.Warn("riversync: cannot tell whether the account is active; trying later", "error", err, "retry_in", w.opts.RetryInterval.String())
		return river.JobSnooze(w.opts.RetryInterval)
	}
	if !active {
		w.drop(id)
		log.Info("riversync: account no longer to sync: job cancelled")
		return river.JobCancel(fmt.Errorf("riversync: account %q: %w", id, ErrUnknownAccount))
	}
	s, err := w.syncer(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownAccount) {
			log.Info("riversync: account no longer to sync: job cancelled")
			return river.JobCancel(err)
		}
		return err // River retries with its backoff
	}
	rep, err := s.Run(ctx)
	return w.outcome(ctx, log, id, rep, err)
}

// outcome maps how a run ended to what the job does next.
func (w *Worker) outcome(ctx context.Context, log *slog.Logger, id string, rep syncer.Report, err error) error {
	var rl *adplatform.RateLimitError
	switch {
	case errors.Is(err, store.ErrAccountBusy), errors.Is(err, store.ErrAccountLost):
		log.Info("riversync: account busy: snoozing", "retry_in", w.opts.BusyRetry.String())
		return river.JobSnooze(w.opts.BusyRetry)
	case errors.As(err, &rl):
		wait := max(time.Until(rl.Until), 0)
		log.Warn("riversync: the platform asked to wait: snoozing until then", "until", rl.Until, "retry_in", wait.String())
		return river.JobSnooze(wait)
	}
	switch rep.Status {
	case syncer.StatusCompleted, syncer.StatusCompletedWithFailures:
		if w.opts.Every == 0 {
			return nil
		}
		return river.JobSnooze(w.opts.Every)
	case syncer.StatusInterrupted:
		// Stopped: the job's timeout (the run then reports the deadline
		// as its error), or the client stopping.
		if err == nil || ctx.Err() != nil {
			log.Info("riversync: run interrupted by a stop: resumes at once", "synced", rep.Synced, "pending", rep.Pending())
			return river.JobSnooze(0)
		}
		log.Warn("riversync: run interrupted: resumes later", "error", err, "retry_in", w.opts.RetryInterval.String())
		return river.JobSnooze(w.opts.RetryInterval)
	}
	// Failed: running again as it is cannot help. Forget the Syncer, so
	// that the next attempt builds one with fresh credentials, and let
	// River record the error and retry with its backoff.
	w.drop(id)
	if err == nil {
		err = fmt.Errorf("riversync: account %q: run %s", id, rep.Status)
	}
	log.Error("riversync: run failed", "error", err)
	return err
}

// syncer returns the account's Syncer, made by the factory the first time.
func (w *Worker) syncer(ctx context.Context, id string) (*syncer.Syncer, error) {
	w.mu.Lock()
	s := w.syncers[id]
	w.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := w.factory.Syncer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("riversync: account %q: %w", id, err)
	}
	if s == nil {
		return nil, fmt.Errorf("riversync: account %q: the Factory returned no Syncer", id)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev := w.syncers[id]; prev != nil {
		return prev, nil // another job of the account made one meanwhile
	}
	w.syncers[id] = s
	return s, nil
}

func (w *Worker) drop(id string) {
	w.mu.Lock()
	delete(w.syncers, id)
	w.mu.Unlock()
}

// Enqueue inserts a sync job for each account that has none waiting or
// running, and returns how many it inserted: the others already had one
// (SyncArgs is unique by account). It is what adds an account, and what a
// service calls, at start and whenever its list of accounts may have changed,
// to reconcile the queue with it: idempotent, cheap, and safe from several
// processes at once. An invalid account id is an error naming it, and nothing
// is inserted.
func Enqueue[TTx any](ctx context.Context, client *river.Client[TTx], accounts ...string) (int, error) {
	if len(accounts) == 0 {
		return 0, nil
	}
	params := make([]river.InsertManyParams, 0, len(accounts))
	seen := make(map[string]bool, len(accounts))
	for _, id := range accounts {
		if err := store.ValidateAccountID(id); err != nil {
			return 0, fmt.Errorf("riversync: account %q: %w", id, err)
		}
		if !seen[id] { // one insert may not hold one unique key twice
			seen[id] = true
			params = append(params, river.InsertManyParams{Args: SyncArgs{AccountID: id}})
		}
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("riversync: enqueue: %w", err)
	}
	n := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			n++
		}
	}
	return n, nil
}

// SyncNow enqueues the accounts as Enqueue does, then makes those whose job
// is waiting (scheduled: for its next run, after a busy account or a
// platform's wait; retryable: after a failure) due at once: an operator's
// "sync now", or a process's -once. A running job is left alone. It keeps
// every guarantee: a platform's wait still holds (the run sends nothing and
// snoozes again until then), and a busy account snoozes.
func SyncNow[TTx any](ctx context.Context, client *river.Client[TTx], accounts ...string) error {
	if _, err := Enqueue(ctx, client, accounts...); err != nil {
		return err
	}
	want := make(map[string]bool, len(accounts))
	for _, id := range accounts {
		want[id] = true
	}
	const page = 1000
	params := river.NewJobListParams().Kinds(Kind).
		States(rivertype.JobStateScheduled, rivertype.JobStateRetryable).First(page)
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return fmt.Errorf("riversync: sync now: %w", err)
		}
		for _, j := range res.Jobs {
			var args SyncArgs
			if json.Unmarshal(j.EncodedArgs, &args) != nil || !want[args.AccountID] {
				continue
			}
			if _, err := client.JobRetry(ctx, j.ID); err != nil {
				return fmt.Errorf("riversync: sync now: account %q: %w", args.AccountID, err)
			}
		}
		if len(res.Jobs) < page {
			return nil
		}
		params = params.After(res.LastCursor)
	}
}
