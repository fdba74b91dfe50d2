// Package riversync runs adsync on River (github.com/riverqueue/river): many
// accounts, each with its own credentials and client id, synced on a
// schedule by any number of processes sharing one PostgreSQL, with a dead
// process's accounts taken over by the others.
//
// It is a module of its own (github.com/adsync/adsync/syncer/riversync), as
// River's drivers are, so that the core module gains no dependency. It uses
// River over database/sql and lib/pq (riverdriver/riverdatabasesql), which
// is poll-only: give the client river.Config.PollOnly, and a
// FetchPollInterval that suits you (1 s by default: a new job waits up to
// that long).
//
// # Wiring
//
// The service supplies a Factory: Active says whether an account is still
// one to sync, Syncer builds a syncer.Syncer for it on a platform client of
// its own (with the account's credentials and client id) and the store.
// NewWorker makes the River worker; register it, start the client, and
// Enqueue the accounts (see Example):
//
//	worker, err := riversync.NewWorker(factory, riversync.Options{Every: time.Hour})
//	workers := river.NewWorkers()
//	river.AddWorker(workers, worker)
//	client, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
//		PollOnly: true, Queues: ..., Workers: workers,
//		RescueStuckJobsAfter: worker.RescueStuckJobsAfter(),
//	})
//	...
//	_, err = riversync.Enqueue(ctx, client, "acme", "globex")
//
// River's tables are found through the connection's search_path (or
// river.Config.Schema): lib/pq passes a search_path given in the URL to the
// server, so one URL can place River's tables and adsync's (postgres.Options
// Schema "") in the same schema. River names its NOTIFY channels
// "<schema>.river_leadership": PostgreSQL caps them at 63 bytes, so the
// schema's name must not exceed 46.
//
// # One job per account
//
// A job's args are SyncArgs{AccountID}: the account's id and nothing
// secret. SyncArgs is unique by args over the states available, pending,
// retryable, running and scheduled (UniqueOpts): at most one job per account
// waits or runs, and Enqueue, from any number of processes, inserts a job
// only for the accounts that have none. Completed is left out, so that an
// account synced once (Options.Every 0) can be queued again at once.
//
// The store's account lock is the fence behind River's uniqueness: a run
// holds its account exclusively across processes (store.RunStore.Acquire),
// so even a job River runs twice (a rescue while its first process still
// works, an operator's command syncing the account by hand) cannot make two
// runs of one account at once. A job that finds its account busy snoozes
// (Options.BusyRetry) and does not fail.
//
// A Worker keeps one Syncer per account for the life of the process, so
// that its platform client's limiter is that account's. Handing an account
// over between processes is the syncer's business, not this package's: every
// commit of a run saves the limiter's state with the account, and the next
// holder restores it (see syncer's Handover): the new process spends none of
// the slots its predecessor spent in the window, and one that follows a
// crash waits out one window before its first request.
//
// # What each outcome does
//
//   - The run went through the listing (completed, with failed campaigns
//     or not): the job snoozes Options.Every, or completes when Every is 0.
//   - The account is busy, or was taken over: the job snoozes BusyRetry.
//   - The platform asked to wait (an *adplatform.RateLimitError, "retry
//     after an hour"): the job snoozes until then. The wait is saved with
//     the account, so a run that starts earlier, in any process, sends
//     nothing and snoozes again.
//   - The run was stopped (the job's Timeout, or the client stopping): the
//     calls on the wire finish within the syncer's GracePeriod and are
//     stored, and the job snoozes 0: it is available at once, to this
//     process or another, and the next run resumes where this one stopped.
//   - The run was interrupted by something that passes (the database or
//     the platform unavailable longer than the syncer waits, a listing
//     broken part way): the job snoozes Options.RetryInterval, and the next
//     run resumes it.
//   - The run failed for good (refused credentials, a listing that fails
//     for good): the job returns the error, which River records on the job
//     and retries with its backoff (the client's RetryPolicy), up to the
//     job's MaxAttempts, then discards; the worker drops its Syncer, so that
//     the next attempt asks the Factory again and picks up rotated
//     credentials. Running again as it is cannot help, so a human or a
//     rotation has to act, and River's job list is where they look;
//     cancelling instead would hide the account from its own backoff.
//     Enqueue brings back a discarded account.
//   - The Factory no longer has the account (Active false, or Syncer
//     failing with ErrUnknownAccount): the job is cancelled
//     (river.JobCancel), and the account is synced no more.
//
// Snoozing never spends an attempt, which is why the schedule snoozes rather
// than inserting the next job: a job that snoozes Every after each run
// keeps its row (its state moves from running to scheduled in one update),
// so no instant exists at which the account has no job, nor one at which a
// second job could be inserted beside it; inserting a successor instead
// would meet the running job's own unique key. Every is measured from a
// run's end to the next one's start. A snooze longer than River's scheduler
// interval (5 s) is made available by the leader's scheduler, up to 5 s late.
//
// Adding an account takes effect at the next Enqueue: call it at start and
// whenever the service's list may have changed (or on a ticker; it is
// cheap). Removing one takes effect at its next job, when Active says false.
// Active is asked by whichever process runs the job, so every process should
// read one source (a table, say): a process with a stale list cancels the
// job of an account it does not know yet. Enqueue on a ticker repairs that
// (a cancelled job does not count for uniqueness), which is what
// examples/worker does while replicas with different -accounts roll out.
//
// # Timeouts and takeover
//
// River runs each job under Options.Timeout (1 hour by default; make it
// longer than an account's run: at the reference's 10 requests a minute,
// 100 campaigns take ten minutes). A job whose process died (SIGKILL, a lost
// machine) stays "running" until River's rescuer, run by the leader every
// 30 s, finds it running for longer than river.Config.RescueStuckJobsAfter,
// and schedules it again (the retry policy's first backoff: about a second);
// the next fetch takes it, and its run resumes the dead one's from the
// store's checkpoint. The account's lock was freed the moment the process
// died (PostgreSQL ends its session), so nothing else holds it up.
//
// RescueStuckJobsAfter must exceed the job timeout plus the time a stopped
// run takes to finish (the syncer's GracePeriod), or a live job is rescued
// and run twice (harmless, thanks to the lock, but wasteful):
// Worker.RescueStuckJobsAfter returns Timeout + 2×GracePeriod. The takeover
// time after a crash is then, from the dead job's start:
//
//	RescueStuckJobsAfter + up to 30 s (the rescuer's pass)
//	  + up to 15 s when the dead process was River's leader (a new one is elected)
//	  + about 1 s (backoff) + up to 5 s (the scheduler) + FetchPollInterval
//	  + one rate window (the syncer's wait after an unclean predecessor)
//
// With the defaults (1 h, 30 s) that is a little over an hour after the job
// started: shorten Timeout to what your longest account needs. A run that
// outlives Timeout is not lost: it stops, and is resumed at once.
//
// # Stopping
//
// river.Client.Stop (a soft stop) lets running jobs finish; a job cancelled
// by river.Config.SoftStopTimeout, StopAndCancel or its Timeout stops its
// run gracefully (the syncer's GracePeriod) and snoozes 0, so another
// process picks it up at once and resumes it.
package riversync
