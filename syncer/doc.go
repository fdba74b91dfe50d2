// Package syncer keeps one account's campaigns in a store in step with the
// ad platform: it lists every campaign, calls the platform's sync for each,
// and stores each campaign with the time its sync succeeded.
//
// A Syncer composes a platform client and a store, both injected: the
// platform through [Platform], declared here (the listing's pages and the
// per-campaign sync), the store as a store.RunStore (campaigns and the
// bookkeeping of runs). A store that only implements store.Store goes
// through memory.WithBookkeeping.
//
//	client, err := adplatform.New(baseURL, adplatform.StaticCredentials(email, password), adplatform.Options{})
//	...
//	s, err := syncer.New(client, pgStore, syncer.Options{AccountID: "acme"})
//	...
//	report, err := s.Run(ctx)
//
// # Speed: the rate window is the only bound
//
// On a platform that allows N requests in any rolling window W, the wall
// time of a sync is decided by how many requests it makes and whether any
// slot of the window goes unused. Run therefore
//
//   - streams listing into syncing: the first sync call starts as soon as the
//     first page arrives;
//   - keeps Options.Concurrency sync calls in flight (default 10), so that
//     when the sync call is slower than the gap between slots, every slot
//     is still used; the client's limiter paces them so that none earns a
//     429;
//   - spends no request twice: the client lists with the largest page size
//     and retries only what failed;
//   - writes to the store from one writer, in batches (by count or after a
//     short interval), through bounded channels: a slow store pushes back
//     instead of growing memory, which stays O(page + concurrency + batch)
//     whatever the number of campaigns.
//
// Measured: BenchmarkRunAtTheFloor syncs 100 campaigns against the fake
// platform at 10 requests per rolling second with a 1 s sync call, so only a
// concurrent syncer can reach the floor. It took 1.010× the rolling-window
// floor for the 101 requests made, with zero 429s
// (go test -run '^$' -bench RunAtTheFloor -benchtime 3x ./syncer). On the
// reference numbers (10 per minute, 2 s sync call) the same run takes
// 608 s against a 602 s floor. The limiter's 1% safety margin is the
// difference. Syncing 100,000 campaigns peaks at the same ~2 MiB of live heap
// as 10,000 (TestMemoryIsBoundedByPageNotCampaigns).
//
// # Rows that mean what they say
//
// Each row carries the time its page arrived as its ListedAt, and stores
// are newer-wins (see store.Campaign.ListedAt): a late write of older
// content never undoes a newer one. A campaign listed twice (offsets
// shifting under inserts repeat it on the next page; adplatform marks it
// Record.Duplicate) is synced once, and stored with its last valid copy's
// content, whichever lands first; a copy that cannot be decoded is left
// out. A resumed run asks the store, once per page, which of the page's
// campaigns it already synced.
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
// run that could not do its job at all (refused credentials, an unavailable
// store, a listing that failed part way, a platform asking to wait longer
// than the client allows).
//
// # Resume and shutdown
//
// The run holds its account exclusively, across processes (a second run
// of the account fails at once with store.ErrAccountBusy, naming it; a run
// that loses its account, store.ErrAccountLost, stops writing at once) and
// is
// checkpointed as it goes, one Commit per batch: a campaign counts as
// synced once its row is stored with its SyncedAt. A run that is killed
// (even with SIGKILL) leaves the store consistent, and the next Run resumes
// it, skipping the campaigns it already synced. A run that completed is not
// resumed: the next one starts afresh (Options.SkipSyncedWithin skips
// campaigns synced recently anyway). Nor is one started longer ago than
// Options.MaxResumeAge (a day by default): it would skip campaigns synced
// long ago, so a fresh run starts, and Report.Note and the log say why.
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
// run resumes it.
//
// When Run's context is cancelled, it stops listing and starting calls,
// abandons calls still waiting for a rate-limit slot, lets calls already on
// the wire finish within Options.GracePeriod, stores what they brought
// back, marks the run interrupted and returns its report. This rests on
// adplatform's admission contract: each sync call runs under
// adplatform.WithAdmission(callCtx, runCtx), so that once the run's
// context is done the client sends nothing more (a waiting call ends with
// adplatform.ErrStopped, and is synced by the next run), while an attempt
// on the wire finishes under callCtx, which ends GracePeriod later. A
// Platform of your own should keep that contract.
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
// # Observability
//
// Options.Logger gets the run's lines, each with run_id and account; nil is
// silent. An [Observer] gets the run's events (run started and finished,
// page listed, campaign synced, skipped or failed, rate-limit waits) for
// metrics; [Syncer.Progress] can be polled from another goroutine for a
// progress bar. The report carries the client's counters for the run:
// requests, 429s, retries and token refreshes. An Observer that also
// implements [PlatformObserverProvider] gets, for each run, an
// adplatform.Observer of its own attached to every platform call of that
// run (adplatform.WithObserver): what a tracing adapter needs to make each
// call's span a child of the run's.
package syncer
