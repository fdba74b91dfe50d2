// Package syncer keeps one account's campaigns in a store in step with the
// ad platform: it lists every campaign, calls the platform's sync for each,
// and stores each campaign with the time its sync succeeded.
//
// # Composing a Syncer
//
// A Syncer composes a platform and a store, both injected, by [New]:
//
//	client, err := adplatform.New(baseURL, adplatform.StaticCredentials(email, password), adplatform.Options{})
//	...
//	s, err := syncer.New(client, pgStore, syncer.Options{AccountID: "acme"})
//	...
//	report, err := s.Run(ctx)   // or s.RetryFailed(ctx)
//
// The platform is a [Platform]: the account's listing, page by page
// (adplatform.Page, with each record's raw bytes), and the per-campaign
// sync; *adplatform.Client is one, and a [LimitedPlatform] (see Handover).
// The store is a store.RunStore: the campaigns and the bookkeeping of runs
// (exclusive accounts, resumable runs, dead letters, handover state);
// store/postgres and store/memory are. A store of your own that only
// implements store.Store is given as memory.WithBookkeeping(yourStore),
// which keeps that bookkeeping in memory for the life of the process. No
// type assertion turns features off behind your back.
//
// Options has a default for every zero field but AccountID, and New
// rejects a nonsense value with an error naming the field.
//
// # One run per account
//
// Run and RetryFailed hold the account exclusively for their whole
// duration, across processes (store.RunStore.Acquire): another run of the
// account meanwhile, on this Syncer or in another process, fails at once
// with an error matching store.ErrAccountBusy that names the account. A
// run that loses the account (its lease lost: store.ErrAccountLost,
// another holder took it) stops at once and writes nothing more. The
// account is released when the run returns, with a context of its own, so
// a cancelled run still gives it up.
//
// # Speed: the rate window is the only bound
//
// On a platform that allows N requests in any rolling window W, the wall
// time of a sync is decided by how many requests it makes and whether any
// slot of the window goes unused. Run therefore
//
//   - streams listing into syncing: it ranges over the listing's pages, and
//     the first sync call starts as soon as the first page arrives;
//   - keeps Options.Concurrency sync calls in flight (default 10), so that
//     when the sync call is slower than the gap between slots, every slot
//     is still used; the client's limiter paces them so that none earns a
//     429;
//   - spends no request twice, nor one in vain: the client lists with the
//     largest page size and retries only what failed; a campaign listed
//     twice is synced once; a record the store would refuse is not synced;
//   - writes to the store from one writer, in batches (Options.BatchSize, or
//     after Options.FlushInterval), through bounded channels: a slow store
//     pushes back instead of growing memory, which stays O(page +
//     concurrency + batch + open dead letters) whatever the number of
//     campaigns.
//
// Measured: BenchmarkRunAtTheFloor syncs 100 campaigns against the fake
// platform at 10 requests per rolling second with a 1 s sync call, so only
// a concurrent syncer can reach the floor: 1.01× the rolling-window floor
// for the requests made, with zero 429s. BenchmarkRunLoaded syncs 120
// campaigns at 10 requests per rolling 2 s with both cores busy: see the
// README's Performance section for the figures and the commands. On the
// reference numbers (10 per minute, 2 s sync call) a run takes about 608 s
// against a 602 s floor: the limiter's safety margin is the difference.
// Syncing 100,000 campaigns peaks at about the same 3 MiB of live heap as
// 10,000, and 300,000 at the same as 100,000
// (TestMemoryIsBoundedByPageNotCampaigns).
//
// # One Commit per batch
//
// What the writer records of a batch (the campaigns, synced ones with
// their SyncedAt, failed ones with their listed content; the dead letters
// added, resolved and retired; the run's progress; the handover state) is
// one store.Lease.Commit: all of it or none of it, one transaction in
// PostgreSQL. The last Commit of a run also carries its end
// (store.Batch.Finish). A campaign the store rejects at Commit (a
// *store.BatchError) becomes a dead letter, and the batch is committed
// again without it. Only a committed campaign counts as synced.
//
// # Patience with the database
//
// The writer is the run's one retry layer for the store (a lease makes one
// attempt per call): a Commit, or a read of the run, that fails with
// store.ErrUnavailable (a restart, a failover, a lost connection) is made
// again after a capped, jittered backoff, each attempt under
// Options.StoreAttemptTimeout, until the database has been unavailable for
// Options.StoreRetryBudget. Meanwhile the writer reads no result: the
// workers block on the bounded channels, the source on theirs, and nothing
// a sync call brought back is dropped. Recording the end of the run is
// retried the same way. Past the budget the run stops, interrupted, with an
// error matching store.ErrUnavailable that says for how long, and the next
// run resumes it; what was synced but not yet stored is synced again then.
//
// # Rows that mean what they say
//
// Each row carries the time its page arrived as its ListedAt, and stores
// are newer-wins (see store.Campaign.ListedAt): a late write of older
// content never undoes a newer one. A campaign listed twice (offsets
// shifting under inserts repeat it on the next page; adplatform marks it
// Record.Duplicate) is synced once, and stored with its last valid copy's
// content, whichever lands first; a copy that is not valid is left out.
// A resumed run asks the store, once per page, which of the page's
// campaigns it already synced (store.Lease.SyncedSince).
//
// # Failures and dead letters
//
// Every campaign ends synced, skipped, or failed with its reason: the sync
// call failed for a reason of its own (a 4xx on its id, a 5xx or timeout
// still failing after the client's retries), its record could not be
// decoded, or the store refuses it. A record the store would refuse (a NUL
// byte, an id over store.MaxIDBytes: store.Campaign.Validate, the rules
// every store shares) fails before its sync call, so that no rate-limited
// request is spent on it.
//
// A failed campaign becomes a dead letter: the record as the platform
// listed it, byte for byte (adplatform.Record.Raw), and the last error,
// under the campaign's id (or, for a record without an id a store can
// keep, a key derived from its bytes). [Syncer.RetryFailed] re-syncs just
// those, from that data, listed at the letter's LastFailedAt: content the
// store received since is newer, and is kept. It is recorded as a run of
// kind store.KindRetry. The next Run retries them too, since it lists them.
//
// Dead letters are given up on, kept with the reason (retired), when
// retrying cannot help: after a complete listing (not an interrupted one)
// those whose campaign was not listed ("no longer listed"), and when a Run
// or RetryFailed starts, those that failed Options.MaxAttempts times. A
// Run reads the account's open dead letters when it starts, so its memory
// grows with their number (a few dozen bytes each), not with the
// campaigns'.
//
// Failures are in the [Report], not in Run's error: that error is for a
// run that did not complete (see Report and Status).
//
// # Resume
//
// A run is checkpointed as it goes, one Commit per batch: a campaign
// counts as synced once its row is stored with its SyncedAt. A run that is
// killed (even with SIGKILL) leaves the store consistent, and the next Run
// resumes it, skipping the campaigns it already synced. A run that
// completed or failed is not resumed: the next one starts afresh
// (Options.SkipSyncedWithin skips campaigns synced recently anyway). Nor is
// one started longer ago than Options.MaxResumeAge (a day by default): it
// would skip campaigns synced long ago, so a fresh run starts, and
// Report.Note and the log say why. Options.Fresh starts afresh anyway.
//
// # Stopping
//
// When Run's context is cancelled, it stops listing and starting calls,
// abandons calls still waiting for a rate-limit slot, lets calls already on
// the wire finish within Options.GracePeriod, stores what they brought
// back, marks the run interrupted and returns its report (and a nil
// error). This rests on adplatform's admission contract: each sync call
// runs under adplatform.WithAdmission(callCtx, runCtx), so that once the
// run's context is done the client sends nothing more (a waiting call ends
// with adplatform.ErrStopped, and is synced by the next run), while an
// attempt on the wire finishes under callCtx, which ends GracePeriod later.
// A Platform of your own should keep that contract.
//
// # What the platform says
//
// A campaign fails only for reasons of its own. What the platform says
// about itself stops the run instead, and every call with it:
// adplatform.ErrPlatformUnavailable (down for longer than the client
// waits) and an *adplatform.RateLimitError (a wait longer than the client
// allows; until then the client sends nothing) interrupt the run, and the
// next one resumes it; an *adplatform.AuthError (refused credentials)
// fails it, as does a listing that fails for good (a 4xx, a body that
// breaks the contract): running again, as it is, cannot help, and the next
// run starts afresh rather than resume it.
//
// # Handover
//
// A platform client's limiter knows the platform's window: when this
// client id last sent, and any wait the platform imposed. If the Platform
// is a [LimitedPlatform] (*adplatform.Client is), every Commit of a run
// saves the limiter's state with the account (a small versioned JSON in
// store.Batch.State), the last one marked final, and a run restores it
// (adplatform.Limiter.Restore) before its first request. So a process
// taking an account over, after another finished or crashed, never spends
// slots its predecessor spent. A predecessor that did not finish cleanly
// (its last state was saved mid-run) may have sent requests after it: the
// new holder then waits out one window before its first request. And a
// platform's "retry after an hour" holds for every holder: until then a
// run sends nothing, not even a token request, and returns at once an
// *adplatform.RateLimitError saying when it may run (the client's
// Options.MaxRateLimitWait says how long a wait it sits through instead).
// Keep one Syncer per account for the life of the process: it knows its
// own state, where a new one on the same client would count its
// predecessor's requests twice (and wait longer than it must).
//
// # Report
//
// Run and RetryFailed return a [Report]: the counts (of the platform's
// Total, when it gave one), the failures with their reasons, the client's
// counters, and how the run ended: [StatusCompleted],
// [StatusCompletedWithFailures], [StatusInterrupted] (the next run
// resumes it) or [StatusFailed] (running again as it is cannot help), with
// Report.Err, the error Run returns, when it did not complete. A caller's
// cancellation is interrupted with a nil error: it is not a failure.
//
// # Observability
//
// Options.Logger gets the run's lines, each with run_id and account; nil is
// silent. The error Run returns is not logged above Info (it is on the
// "run finished" line): the caller reports it, so that it is said once. An [Observer] gets the run's events (run started and finished,
// page listed, campaign synced, skipped or failed, rate-limit waits) for
// metrics; [Syncer.Progress] can be polled from another goroutine for a
// progress bar. The report carries the client's counters for the run:
// requests, 429s, retries and token refreshes. An Observer that also
// implements [PlatformObserverProvider] gets, for each run, an
// adplatform.Observer of its own attached to every platform call of that
// run (adplatform.WithObserver): what a tracing adapter needs to make each
// call's span a child of the run's.
package syncer
