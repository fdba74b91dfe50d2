// Package postgres is adsync's PostgreSQL store: a [store.RunStore] on
// github.com/jmoiron/sqlx and github.com/lib/pq that writes campaigns as
// fast as PostgreSQL allows, exactly, isolates the records PostgreSQL
// refuses, and holds each account for one run at a time, across processes.
//
// # Opening a store
//
// A service that owns a pool gives it to [New]; the store uses it and never
// closes it. [Open] makes a pool from a URL (or key=value string) and
// checks that the database answers; [Store.Close] closes that pool. Either
// way, create the schema before use, at start-up: [Store.Migrate] does it
// (cheap when there is nothing to do), or your own migration tool with
// [Migrations]. The store's first use checks the schema's version, and
// fails with an error wrapping [ErrSchemaVersion], saying to migrate, on a
// schema it does not know.
//
//	s, err := postgres.New(db, postgres.Options{Schema: "adsync"})
//	if err != nil { ... } // a bad option, named: "postgres: Options.BatchSize ..."
//	if err := s.Migrate(ctx); err != nil { ... }
//
// The pool must use lib/pq (writes stream rows with COPY), and must give
// sessions, not transactions: a lease holds a session-level lock (see
// below), so a pooler in front of PostgreSQL must run in session mode.
// Each lease holds one connection of the pool while it lives. Errors never
// contain the connection string, which may hold a password.
//
// [Options] has a default for every zero value:
//
//   - Schema "" keeps the tables in the connection's current schema (the
//     first existing schema of its search_path) through unqualified names,
//     which is how a search_path set in the URL works. Any other name, up to
//     63 bytes, is quoted and qualifies every table name; Migrate creates
//     the schema if it is missing.
//   - BatchSize (1000) is how many campaigns one transaction of Upsert
//     writes, and how many ids SyncedSince asks at once.
//   - MaxRetries (3; -1 for none), RetryWaitMin (50ms), RetryWaitMax (2s)
//     bound the retries of transient failures of the plain methods
//     (Upsert, Get, Migrate, the operator's view). A lease retries
//     nothing: see "Failures".
//   - Logger (nil: silent) receives retries, rejections and migrations.
//
// # Schema and migrations
//
// The schema is embedded as versioned SQL files, migrations/NNNN_what.up.sql.
// Migrate applies those not yet recorded in the schema's
// schema_migrations(version, applied_at) table, all in one READ COMMITTED
// transaction holding pg_advisory_xact_lock on a key derived from the
// schema name: it is idempotent, a failure changes nothing, and processes
// migrating at once take turns, the later ones finding nothing to do. A
// schema_migrations table of another tool in the same schema is an error:
// give adsync a schema of its own with Options.Schema.
//
// [Migrations] returns the same files as an fs.FS, for goose (they carry
// its annotation), golang-migrate (its file names; source/iofs) or Atlas
// (golang-migrate format). Apply them in order, each in a transaction,
// with the search_path set to adsync's schema. Every migration sets a
// lock_timeout of 10 s: one that would wait for a long transaction's lock,
// and make every query of the table wait behind it, fails instead and can
// be run again. The last migration records its version in the table
// schema_version, which is what the store checks, whoever migrated.
//
// The tables:
//
//   - campaigns: account_id, id, name, status, budget numeric, impressions,
//     clicks, conversions bigint, created_at and synced_at timestamptz NULL,
//     listed_at and updated_at timestamptz, PRIMARY KEY (account_id, id).
//     Ids are COLLATE "C" (byte order, the order of Go strings, and the
//     fastest comparisons); the table has fillfactor 70, because counts
//     change on every listing and room on each page makes most updates HOT.
//   - runs: id, account_id, kind, status, started_at, finished_at, the
//     counts, error, and a seq that orders an account's runs; indexes on
//     (account_id, seq DESC) and (account_id, kind, seq DESC) find an
//     account's newest runs.
//   - dead_letters: account_id, campaign_id, run_id, data bytea (byte for
//     byte), error, attempts, first_failed_at, last_failed_at, retired_at
//     and retired_reason. Its key is the SHA-256 of (account_id,
//     campaign_id): a dead letter's campaign id may be longer than an index
//     entry can hold (the record of a campaign refused for its over-long id
//     is kept too). Pages come in campaign_id order from an index on its
//     first 256 characters.
//   - accounts: account_id, lock_key, generation, acquired_at, and the
//     handover state and the time it was saved.
//
// # Exclusive accounts
//
// [Store.Acquire] takes pg_try_advisory_lock(schema oid, lock_key), a
// session-level advisory lock, on a connection of the pool that the lease
// keeps for itself. The schema's oid and the account's lock_key (an
// identity column of accounts) are unique in the database, so two
// accounts, in one schema or two, never share a lock. When the lock is
// held, Acquire fails at once with an *store.AccountError matching
// store.ErrAccountBusy that names the account and since when it is held.
// Each Acquire bumps the account's generation.
//
// A holder that dies, even killed with SIGKILL, closes its connection with
// it; PostgreSQL ends the session and frees the lock at once, and a new
// Acquire succeeds (TestKilledHolderFreesTheAccount: about 10 ms).
// Release frees the lock with pg_advisory_unlock and returns the
// connection to the pool; it works with a cancelled context.
//
// Writes are fenced: every write of a lease (StartRun, Commit) is a
// transaction on the lease's own connection, the lock's session. If that
// session is gone (the database restarted, the connection was cut or
// terminated), so is the lock, and nothing can be written through it. The
// lease's next call takes a new connection and the lock again, and goes on
// only if the lock is free and the account's generation is the one it
// acquired; a session of its own that still holds the lock on the other
// side of a broken connection is terminated first. If another holder took
// the account in between, the lease is lost for good: that call and every
// later one fail with an *store.AccountError matching store.ErrAccountLost,
// and the new holder's rows are never written over. A Commit also checks
// the generation in its transaction.
//
// Reads of a lease (SyncedSince, DeadLetters, State) need no fence: they go
// to the pool.
//
// # Failures
//
// A lease makes one attempt per call and classifies its failure: the
// database unreachable, shutting down or starting (SQLSTATE class 08,
// 57P01-57P03), a lost or refused connection, a serialization failure or
// deadlock (40001, 40P01), or the call's context deadline wrap
// store.ErrUnavailable, and the call may be made again; anything else is
// permanent. One exception keeps the retry loop single: a connection
// found dead before a transaction committed (terminated while idle, say)
// is replaced at once, and the transaction run again on the new one,
// within the call: nothing of the first attempt was written. A connection
// that dies while committing leaves the outcome unknown, and the call
// fails with ErrUnavailable; committing the batch again is safe (see
// store.Lease.Commit).
//
// lib/pq marks a connection bad when a context ends a query on it, which
// would end the lease's session and free its lock. So a deadline of the
// call's context is enforced first by the server: each write transaction
// sets a statement_timeout a little short of it (min(10%, 1s) short), and
// the context is only the backstop for a server that does not answer.
//
// The plain methods retry a transient failure of their transaction after
// a doubling, capped, jittered wait, at most MaxRetries times, and give up
// early if ctx ends; exhausted retries return an error wrapping
// store.ErrUnavailable.
//
// # How campaigns are written
//
// Every campaign is validated in Go first ([store.Campaign.Validate],
// [store.ValidateAccountID]), and of several copies of one id in a batch
// only the one listed last is written ([store.Prepare]), however far apart
// they are. A campaign with a NUL byte, invalid UTF-8, a budget not in
// plain decimal notation or beyond numeric's limits, a time outside the
// years 1 to 9999, or an id empty or over [store.MaxIDBytes] is rejected
// with its reason and never sent: PostgreSQL would report such a value
// without saying which record held it, and NUL cannot be stored as text at
// all. adsync's policy for NUL is to reject, never to replace.
//
// Campaigns are copied with COPY ... FROM STDIN into a temporary stage
// (CREATE TEMP TABLE IF NOT EXISTS ... ON COMMIT DELETE ROWS, so that it
// also works behind a pooler that changes connections between
// transactions) and merged by one INSERT INTO campaigns SELECT ... FROM
// stage ORDER BY id ON CONFLICT (account_id, id) DO UPDATE, by the rules of
// [store.Merge]:
//
//   - content listed before the stored content (listed_at) never replaces
//     it; listed_at and synced_at never go back;
//   - a row is rewritten only when something changes: its content, or a
//     later listed_at or synced_at. An unchanged row is not touched (its
//     xmin stays);
//   - the content is compared column by column (the budget by value and
//     scale: "1.50" is not "1.5"), so that a row edited by hand is
//     repaired by the next write of its campaign. Comparing columns was
//     measured 1.2 times as fast as comparing a content hash computed in
//     Go and stored (BenchmarkUnchangedCompare);
//   - updated_at moves only when the content changes, never back.
//
// Rows are locked in id order, so concurrent writes of the same campaigns
// wait for each other instead of deadlocking. Everything is a parameter
// or COPY data: no value is ever part of an SQL string.
//
// Upsert writes BatchSize campaigns per transaction, each with one data
// round trip. While one chunk is merged and committed, the next is
// already being copied on a second connection; chunks commit in order. An
// Upsert holds at most two connections and never waits for one while
// holding one it could release, so it works on a pool of one. Its memory
// follows BatchSize, plus an index of the batch's ids for deduplication
// (BenchmarkUpsertMemory: about 1.1-1.3 kB and 18 allocations per row,
// and a peak heap above the input of 1 MiB for 1,000 campaigns, 1.8 MiB
// for 10,000, 6.7 MiB for 100,000). After an error other than a
// *store.BatchError, nothing can be assumed stored, and the whole batch
// may be written again.
//
// # One transaction per batch
//
// [store.Lease.Commit] records a batch in one transaction on the lease's
// connection: the run's counts and end (one UPDATE, which also checks the
// run is running and the generation unchanged), the campaigns (one COPY
// into the stage and one merge, as above), the dead letters resolved,
// retired and added (one statement each, their values in arrays), and the
// handover state. Parts with nothing to do send nothing. A Commit of a
// syncer's batch of 100 campaigns took about as long as an Upsert of them
// (BenchmarkCommit: 8.5 ms each on a loaded machine).
//
// # Records PostgreSQL refuses
//
// A campaign can pass validation and still be refused by PostgreSQL for a
// data reason (SQLSTATE class 22 or 23: a CHECK constraint the service
// added, a trigger). Then its rows are merged again in one transaction,
// half by half, each half under a savepoint, down to the refused records:
// k refused records among n cost about 2k·log2(n) extra statements. Each
// is rejected with "refused by PostgreSQL: SQLSTATE <code>: <message>"
// (the message, short; never the detail, which quotes the row), in a
// *store.BatchError, in batch order. Upsert stores every other campaign of
// the chunk; Commit finds the refused ones in a transaction it rolls back,
// and writes nothing of the batch.
//
// # Reads and the operator's view
//
// Get returns times in UTC and a NULL time as the zero time, whatever the
// session's TimeZone. SyncedSince asks BatchSize ids at a time (id =
// ANY($2) AND synced_at >= $3). DeadLetters pages by keyset (campaign_id >
// after), as cheap for the last page as for the first. Runs pages newest
// first by seq; LastCompletedRun is an index lookup; PruneRuns is one
// DELETE. Run ids are store.NewRunID's 26 random characters.
//
// # Performance
//
// Measured on 2 shared cores (AMD EPYC), PostgreSQL 15 on the same
// machine, lib/pq, batches of 20,000 campaigns, BatchSize 1000, with
//
//	ADSYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -run '^$' -bench 'Upsert|Copy' -benchtime 3x -count 3 ./store/postgres/
//
// (medians of the three runs, rows/s; ratios within the run):
//
//	BenchmarkUpsertPerRow     one autocommit INSERT ... ON CONFLICT per row        846
//	BenchmarkUpsertBatch      Upsert, new campaigns                          39,710  47× PerRow, 0.36× floor
//	BenchmarkUpsertChanged    Upsert, every campaign exists and changed      41,926  0.38× floor
//	BenchmarkUpsertUnchanged  Upsert, every campaign exists, the same batch
//	                          again: no row is rewritten                     74,517  0.68× floor
//	BenchmarkUpsertRelisted   Upsert, the same content listed later: only
//	                          listed_at is rewritten                         50,607  0.46× floor
//	BenchmarkCopyFloor        one raw COPY into an empty table shaped like
//	                          campaigns (same columns and primary key)      109,873
//
// The machine is shared with other work and runs vary by a factor of two.
// Run side by side, in the same conditions, with the version before
// leases, newer-wins content and column comparison, the ratios to the
// floor were on a par: Batch 0.33-0.36× against 0.34-0.37×, Changed
// 0.36-0.42× against 0.39-0.56×, Unchanged 0.52-0.58× against 0.44-0.51×.
// Per chunk, the copy costs about 2.5µs a row and the merge 4µs for new
// rows; without the pipelining of chunks, Batch measured 0.39× the floor
// (on a quieter machine, where it measured 0.49×). With fillfactor 100
// instead of 70, Changed was about 30% slower. Chunks of 10,000 were about
// 7% faster than 1,000, for ten times the memory per round trip.
package postgres
