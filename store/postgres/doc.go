// Package postgres is adsync's PostgreSQL store: a [store.RunStore] on
// github.com/jmoiron/sqlx and github.com/lib/pq that writes campaigns as
// fast as PostgreSQL allows, exactly, and isolates the records PostgreSQL
// refuses.
//
// # Opening a store
//
// A service that owns a pool gives it to [New]; the store uses it and never
// closes it. [Open] makes a pool from a URL (or key=value string) and
// checks that the database answers; [Store.Close] closes that pool. Either
// way, call [Store.Migrate] once before use, at start-up: it is cheap when
// there is nothing to do.
//
//	s, err := postgres.New(db, postgres.Options{Schema: "adsync"})
//	if err != nil { ... } // a bad option, named: "postgres: Options.BatchSize ..."
//	if err := s.Migrate(ctx); err != nil { ... }
//
// The pool must use lib/pq (Upsert streams rows with COPY). Errors never
// contain the connection string, which may hold a password.
//
// [Options] has a default for every zero value:
//
//   - Schema "" keeps the tables in the connection's current schema (the
//     first existing schema of its search_path) through unqualified names,
//     which is how a search_path set in the URL works. Any other name, up to
//     63 bytes, is quoted and qualifies every table name; Migrate creates
//     the schema if it is missing.
//   - BatchSize (1000) is how many campaigns one transaction writes.
//   - MaxRetries (3; -1 for none), RetryWaitMin (50ms), RetryWaitMax (2s)
//     bound the retries of transient failures.
//   - Logger (nil: silent) receives retries, rejections and migrations.
//
// # Schema and migrations
//
// The schema is embedded as versioned SQL files (migrations/0001_....sql).
// Migrate applies those not yet recorded in the schema's
// schema_migrations(version, applied_at) table, all in one READ COMMITTED
// transaction holding pg_advisory_xact_lock on a key derived from the
// schema name: it is idempotent, a failure changes nothing, and processes
// migrating at once take turns, the later ones finding nothing to do. A
// schema_migrations table of another tool in the same schema is an error:
// give adsync a schema of its own with Options.Schema.
//
// The tables:
//
//   - campaigns: account_id, id, name, status, budget numeric, impressions,
//     clicks, conversions bigint, created_at and synced_at timestamptz NULL,
//     updated_at timestamptz, content_hash bytea, PRIMARY KEY (account_id,
//     id). Ids are COLLATE "C" (byte order, the order of Go strings, and
//     the fastest comparisons); the table has fillfactor 70, because counts
//     change on every listing and room on each page makes most updates HOT.
//   - runs: id, account_id, status, started_at, finished_at, the counts,
//     error, a seq that orders an account's runs, and replaced; an index
//     on (account_id, seq DESC) finds an account's newest run.
//   - dead_letters: account_id, campaign_id, run_id, data bytea (byte for
//     byte), error, attempts, first_failed_at, last_failed_at. Its key is
//     the SHA-256 of (account_id, campaign_id): a dead letter's campaign id
//     may be longer than an index entry can hold (the record of a campaign
//     refused for its over-long id is kept too). Pages come in campaign_id
//     order from an index on its first 256 characters.
//
// # How Upsert writes
//
// Upsert validates every campaign in Go first ([store.Campaign.Validate],
// [store.ValidateAccountID], then [store.Campaign.Normalize]). A campaign
// with a NUL byte, invalid UTF-8, a budget not in plain decimal notation or
// beyond numeric's limits, a time outside the years 1 to 9999, or an id
// empty or over [store.MaxIDBytes] is rejected with its reason and never
// sent: PostgreSQL would report such a value without saying which record
// held it, and NUL cannot be stored as text at all. adsync's policy for NUL
// is to reject, never to replace: the record is reported (and the syncer
// keeps it as a dead letter, byte for byte). Of campaigns with the same id
// in one batch the last valid one wins.
//
// The valid campaigns are written in chunks of BatchSize, each in ONE
// transaction with ONE data round trip:
//
//  1. COPY ... FROM STDIN streams the chunk into a temporary stage table
//     (CREATE TEMP TABLE IF NOT EXISTS ... ON COMMIT DELETE ROWS, so that
//     it also works behind a pooler that changes connections between
//     transactions);
//  2. one INSERT INTO campaigns SELECT ... FROM stage ORDER BY id ON
//     CONFLICT (account_id, id) DO UPDATE ... WHERE content_hash IS
//     DISTINCT FROM EXCLUDED.content_hash OR (a sync is recorded) merges
//     it. The content hash is computed in Go: SHA-256 over the
//     length-prefixed fields, times as UTC microseconds. An unchanged
//     campaign is not rewritten at all (its xmin stays); updated_at moves
//     only when the content changed; synced_at = COALESCE(new, stored), so a
//     write that records no sync keeps the stored one. Rows are locked in id
//     order, so concurrent upserts of the same campaigns wait for each
//     other instead of deadlocking.
//
// While one chunk is merged and committed, the next is already being copied
// on a second connection; chunks still commit in order. An Upsert holds at
// most two connections and never waits for one while holding one it could
// release, so it works on a pool of one. Its memory is bounded by
// BatchSize, not by the batch (BenchmarkUpsertMemory). Everything is a
// parameter or COPY data: no value is ever part of an SQL string.
//
// # Records PostgreSQL refuses
//
// If a chunk fails with a data error PostgreSQL raised (SQLSTATE class 22
// or 23: a CHECK constraint the service added, a trigger), it is split in
// halves, recursively, each half in its own transaction, down to the
// records that cause it. Each is rejected with "refused by PostgreSQL:
// SQLSTATE <code>: <message>" (the message, short; never the detail, which
// quotes the row); every other campaign lands, and a rejected campaign is
// never partly written. k refused records among n cost about 2k·log2(n)
// extra transactions. Rejections are returned as a *store.BatchError, in
// batch order.
//
// # Retries
//
// A transient failure, meaning a lost or refused connection
// (driver.ErrBadConn, io.EOF, io.ErrUnexpectedEOF, a reset), SQLSTATE class
// 08, 57P01-57P03 (the server shutting down or starting), 53300 (too many
// connections), 40001 (serialization failure) or 40P01 (deadlock), retries
// the whole transaction after a doubling, capped, jittered wait, at most
// MaxRetries times, and gives up early if ctx ends. Exhausted retries return
// an error wrapping [store.ErrUnavailable]; any other error is returned at
// once, wrapped with what failed. Chunks commit separately: after an error
// other than a *store.BatchError, nothing can be assumed stored, and since
// Upsert is idempotent the whole batch may simply be retried. Every method
// retries the same way.
//
// # Reads and bookkeeping
//
// Get returns times in UTC and a NULL time as the zero time, whatever the
// session's TimeZone. SyncedSince asks BatchSize ids at a time (id =
// ANY($2) AND synced_at >= $3). DeadLetters pages by keyset (campaign_id >
// after), as cheap for the last page as for the first. Run ids are 26
// random characters from crypto/rand. StartRun holds an advisory lock on
// the account, so that concurrent calls never both start a run; it resumes
// only the account's newest run, and a run replaced by a fresh one stays
// interrupted.
//
// # Performance
//
// Measured on 2 cores (AMD EPYC), PostgreSQL 15 on the same machine,
// lib/pq, batches of 20,000 campaigns, BatchSize 1000, with
//
//	ADSYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -run '^$' -bench 'Upsert|Copy' -benchtime 3x -count 3 ./store/postgres/
//
// (medians of the three runs, rows/s; ratios within the run):
//
//	BenchmarkUpsertPerRow     one autocommit INSERT ... ON CONFLICT per row    2,555
//	BenchmarkUpsertBatch      Upsert, new campaigns                          146,228  57× PerRow, 0.49× floor
//	BenchmarkUpsertChanged    Upsert, every campaign exists and changed      135,587  0.46× floor
//	BenchmarkUpsertUnchanged  Upsert, every campaign exists unchanged        148,987  0.50× floor
//	BenchmarkCopyFloor        one raw COPY into an empty table shaped like
//	                          campaigns (same columns and primary key)       297,891
//
// The machine is shared and runs vary: Unchanged spread from 123,000 to
// 180,000 in that run, and measured 177,000-189,000 (0.62× the floor) run
// alone. Per chunk, the copy costs about 2.5µs a row and the merge 4µs for
// new rows; without the pipelining of chunks, Batch measured 0.39× the
// floor. With fillfactor 100 instead of 70, Changed was about 30% slower.
// Chunks of 10,000 were about 7% faster than 1,000, for ten times the
// memory per round trip. BenchmarkUpsertMemory reports about 1.1-1.4 kB and
// 16 allocations per row whatever the batch size, and a peak heap above
// the input of 1 MiB for 1,000 campaigns and under 4 MiB for 10,000 and
// 100,000: memory follows BatchSize, not the batch.
package postgres
