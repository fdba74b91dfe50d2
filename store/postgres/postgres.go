package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// Store is a [store.RunStore] on PostgreSQL. It is safe for concurrent use.
type Store struct {
	db    *sqlx.DB
	owned bool // Open made db, so Close closes it
	opts  Options
	log   *slog.Logger
	q     queries

	// ready is set once the schema was found at SchemaVersion, and
	// schemaKey is then the schema's oid, the first key of every
	// account's advisory lock.
	ready     atomic.Bool
	readyMu   sync.Mutex
	schemaKey uint32

	// leases counts the leases alive, each holding a connection of the
	// pool (see Acquire).
	leases atomic.Int64

	// hook, when set (by tests only), runs inside a transaction that
	// writes campaigns, at the named points ("staged", "merged"), so that
	// a test can break the connection or provoke a conflict at an exact
	// moment.
	hook func(point string, tx *sql.Tx) error
}

var _ store.RunStore = (*Store)(nil)

// ErrSchemaVersion is wrapped by the error of a store whose database schema
// is not at the SchemaVersion this package needs: run Store.Migrate, or
// apply Migrations with your tool.
var ErrSchemaVersion = errors.New("postgres: the database schema is not at this adsync's version")

// New returns a store on db, a pool the service owns and keeps owning:
// [Store.Close] does not close it. db must use the lib/pq driver. Call
// [Store.Migrate] before using the store (or apply [Migrations] with your
// own tool): its first use checks the schema's version. An invalid option
// is an error naming the field.
func New(db *sqlx.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("postgres: New: db is nil")
	}
	if _, ok := db.Driver().(*pq.Driver); !ok {
		return nil, fmt.Errorf("postgres: New: db must use the lib/pq driver, not %T", db.Driver())
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Store{db: db, opts: opts, log: opts.Logger, q: newQueries(opts.Schema)}, nil
}

// Open opens a pool on the database named by url (a URL or key=value
// connection string lib/pq accepts), checks that the database answers, and
// returns a store on it that [Store.Close] closes. Errors never contain the
// url, which may hold a password.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	conn, err := pq.NewConnector(url)
	if err != nil {
		// lib/pq's parse errors can quote the connection string.
		return nil, dsnError(url, err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, classify(ctx, "Open", err)
	}
	s, err := New(db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close closes the pool if [Open] made it; a pool given to [New] is left
// open for its owner.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.db.Close()
}

// CheckSchema returns nil when the database schema is at SchemaVersion (a
// later one is used too, with a warning), or an error wrapping
// ErrSchemaVersion that says to migrate. Every method but Migrate checks
// it before its first use; a service that migrates with its own tool can
// call it at start-up, to fail fast. It asks the database once per store
// (again after Migrate, or after a failure).
func (s *Store) CheckSchema(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.ready.Load() {
		return nil
	}
	var version sql.NullInt64
	var oid sql.NullInt64
	err := s.db.QueryRowxContext(ctx, `SELECT (SELECT max(version) FROM `+s.q.schema+`schema_version),
			(SELECT oid::bigint FROM pg_namespace WHERE nspname = coalesce(nullif($1, ''), current_schema()))`,
		s.opts.Schema).Scan(&version, &oid)
	where := "the connection's schema"
	if s.opts.Schema != "" {
		where = fmt.Sprintf("schema %q", s.opts.Schema)
	}
	switch {
	case sqlState(err) == "42P01": // undefined_table
		return fmt.Errorf("%w: %s has no adsync schema_version table (not migrated, or migrated before version 2): run Store.Migrate (or apply postgres.Migrations with your migration tool)",
			ErrSchemaVersion, where)
	case err != nil:
		return classify(ctx, "check the schema", err)
	case !version.Valid || version.Int64 < SchemaVersion:
		return fmt.Errorf("%w: %s is at version %d, this adsync needs %d: run Store.Migrate (or apply postgres.Migrations with your migration tool)",
			ErrSchemaVersion, where, version.Int64, SchemaVersion)
	case !oid.Valid:
		return fmt.Errorf("postgres: %s does not exist", where)
	case version.Int64 > SchemaVersion:
		s.log.WarnContext(ctx, "postgres: the database schema is newer than this version of adsync",
			"schema", s.opts.Schema, "database_version", version.Int64, "known_version", SchemaVersion)
	}
	s.schemaKey = uint32(oid.Int64)
	s.ready.Store(true)
	return nil
}

// queries are the store's SQL, with table names qualified by the schema
// option once, at construction. Values are always parameters or COPY data.
type queries struct {
	schema string // the quoted schema and a dot, or "" for the current one

	createStage, copyStage, merge, mergeRange string

	get, syncedSince string

	accountKey, insertAccount, bumpGeneration, generation, accountHeldSince, saveState, state string

	newestRun, resumeRun, endRun, interruptRetries, insertRun, recordRun, runState, runSeq, runs,
	lastCompleted, pruneRuns string

	addDeadLetters, resolveDeadLetters, retireDeadLetters, deadLetters, activeDeadLetters, discardDeadLetter string
}

// stageTable is the per-connection temporary table campaigns are copied
// into. It is named with a version, so that a connection kept across an
// upgrade never meets a stage of another shape.
const stageTable = "pg_temp.adsync_campaign_stage_v2"

// runColumns are the columns a runRow scans.
const runColumns = `id, account_id, kind, status, started_at, finished_at, seen, synced, skipped, failed, error`

// letterColumns are the columns a letterRow scans.
const letterColumns = `campaign_id, run_id, data, error, attempts, first_failed_at, last_failed_at,
	retired_at, retired_reason`

func newQueries(schema string) queries {
	prefix := ""
	if schema != "" {
		prefix = pq.QuoteIdentifier(schema) + "."
	}
	campaigns, runs, deadLetters, accounts := prefix+"campaigns", prefix+"runs", prefix+"dead_letters", prefix+"accounts"
	letterPage := `SELECT account_id, ` + letterColumns + ` FROM ` + deadLetters + `
			WHERE account_id = $1 AND substring(campaign_id FOR 256) >= substring($2 FOR 256)
				AND campaign_id > $2 %s
			ORDER BY substring(campaign_id FOR 256), campaign_id LIMIT $3`
	return queries{
		schema: prefix,

		// ON COMMIT DELETE ROWS empties the stage at every commit; IF NOT
		// EXISTS in every transaction keeps this correct behind a pooler
		// that hands each transaction a different server connection.
		createStage: `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (
			account_id text COLLATE "C", ord integer, id text COLLATE "C", name text, status text,
			budget numeric, impressions bigint, clicks bigint, conversions bigint,
			created_at timestamptz, synced_at timestamptz, listed_at timestamptz
		) ON COMMIT DELETE ROWS`,
		copyStage: `COPY ` + stageTable + ` (account_id, ord, id, name, status, budget,
			impressions, clicks, conversions, created_at, synced_at, listed_at) FROM STDIN`,
		merge:      mergeSQL(campaigns, ""),
		mergeRange: mergeSQL(campaigns, "WHERE ord >= $1 AND ord < $2"),

		get: `SELECT id, name, status, budget, impressions, clicks, conversions,
				created_at, synced_at, listed_at, updated_at
			FROM ` + campaigns + ` WHERE account_id = $1 AND id = $2`,
		syncedSince: `SELECT id FROM ` + campaigns + `
			WHERE account_id = $1 AND id = ANY($2) AND synced_at >= $3`,

		accountKey:       `SELECT lock_key FROM ` + accounts + ` WHERE account_id = $1`,
		insertAccount:    `INSERT INTO ` + accounts + ` (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING`,
		bumpGeneration:   `UPDATE ` + accounts + ` SET generation = generation + 1, acquired_at = $2 WHERE account_id = $1 RETURNING generation`,
		generation:       `SELECT generation FROM ` + accounts + ` WHERE account_id = $1`,
		accountHeldSince: `SELECT acquired_at FROM ` + accounts + ` WHERE account_id = $1`,
		saveState:        `UPDATE ` + accounts + ` SET state = $2, state_saved_at = $3 WHERE account_id = $1`,
		state:            `SELECT state, state_saved_at FROM ` + accounts + ` WHERE account_id = $1`,

		newestRun: `SELECT ` + runColumns + ` FROM ` + runs + `
			WHERE account_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1`,
		resumeRun:        `UPDATE ` + runs + ` SET status = 'running', finished_at = NULL, error = '' WHERE id = $1`,
		endRun:           `UPDATE ` + runs + ` SET status = 'interrupted', finished_at = greatest($2, started_at), error = $3 WHERE id = $1`,
		interruptRetries: `UPDATE ` + runs + ` SET status = 'interrupted', finished_at = greatest($2, started_at), error = $3 WHERE account_id = $1 AND kind = 'retry' AND status = 'running'`,
		insertRun:        `INSERT INTO ` + runs + ` (id, account_id, kind, status, started_at) VALUES ($1, $2, $3, 'running', $4)`,
		// A Commit's run: its counts, and its end if it ends. The
		// generation is checked too: belt and braces, the lock connection
		// already fences the lease.
		recordRun: `UPDATE ` + runs + ` SET seen = $3, synced = $4, skipped = $5, failed = $6,
				status = coalesce($7, status), error = CASE WHEN $7::text IS NULL THEN error ELSE $8 END,
				finished_at = CASE WHEN $7::text IS NULL THEN finished_at ELSE greatest($9, started_at) END
			WHERE id = $1 AND account_id = $2 AND status = 'running'
				AND EXISTS (SELECT 1 FROM ` + accounts + ` WHERE account_id = $2 AND generation = $10)`,
		runState: `SELECT status FROM ` + runs + ` WHERE id = $1 AND account_id = $2`,
		runSeq:   `SELECT seq FROM ` + runs + ` WHERE id = $1 AND account_id = $2`,
		runs: `SELECT ` + runColumns + ` FROM ` + runs + `
			WHERE account_id = $1 AND ($2 = '' OR kind = $2) AND seq < $3
			ORDER BY seq DESC LIMIT $4`,
		lastCompleted: `SELECT ` + runColumns + ` FROM ` + runs + `
			WHERE account_id = $1 AND kind = 'sync' AND status = 'completed' ORDER BY seq DESC LIMIT 1`,
		// Never an unfinished run, an account's newest run of a kind, nor
		// its last completed sync run.
		pruneRuns: `DELETE FROM ` + runs + ` WHERE id IN (
			SELECT id FROM (
				SELECT id, status, finished_at,
					row_number() OVER (PARTITION BY account_id, kind ORDER BY seq DESC) AS nth_of_kind,
					row_number() OVER (PARTITION BY account_id, kind, status ORDER BY seq DESC) AS nth_of_status,
					kind = 'sync' AND status = 'completed' AS completed_sync
				FROM ` + runs + `) r
			WHERE status <> 'running' AND finished_at < $1 AND nth_of_kind > 1
				AND NOT (completed_sync AND nth_of_status = 1))`,

		// A letter that failed again counts one more attempt; a retired
		// one starts over.
		addDeadLetters: `INSERT INTO ` + deadLetters + ` AS d (key, account_id, campaign_id, run_id, data, error,
				attempts, first_failed_at, last_failed_at)
			SELECT l.key, $1, l.campaign_id, l.run_id, l.data, l.error, l.n, $2, $2
			FROM unnest($3::bytea[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::integer[])
				AS l(key, campaign_id, run_id, data, error, n)
			ON CONFLICT (key) DO UPDATE SET
				run_id = EXCLUDED.run_id, data = EXCLUDED.data, error = EXCLUDED.error,
				attempts = CASE WHEN d.retired_at IS NULL THEN d.attempts + EXCLUDED.attempts ELSE EXCLUDED.attempts END,
				first_failed_at = CASE WHEN d.retired_at IS NULL THEN d.first_failed_at ELSE EXCLUDED.first_failed_at END,
				last_failed_at = greatest(EXCLUDED.last_failed_at, d.last_failed_at),
				retired_at = NULL, retired_reason = ''`,
		resolveDeadLetters: `DELETE FROM ` + deadLetters + ` WHERE account_id = $1 AND key = ANY($2)`,
		retireDeadLetters: `UPDATE ` + deadLetters + ` AS d SET retired_at = $2, retired_reason = r.reason
			FROM unnest($3::bytea[], $4::text[]) AS r(key, reason)
			WHERE d.key = r.key AND d.account_id = $1 AND d.retired_at IS NULL`,
		deadLetters:       fmt.Sprintf(letterPage, ""),
		activeDeadLetters: fmt.Sprintf(letterPage, "AND retired_at IS NULL"),
		discardDeadLetter: `DELETE FROM ` + deadLetters + ` WHERE key = $1 AND account_id = $2`,
	}
}

// mergeSQL is the statement that merges the stage (the rows filter
// selects) into campaigns, by the rules of store.Merge:
//
//   - the content is replaced only by content listed at the same time or
//     later ("newer");
//   - a row is rewritten only when something changes: its content, or a
//     later listed_at or synced_at. An unchanged row is not touched (its
//     xmin stays). The content is compared column by column (the budget
//     by value and scale: "1.50" is not "1.5"), so that a row edited by
//     hand is repaired by the next write;
//   - updated_at moves only when the content changes, never back;
//   - listed_at and synced_at never go back.
//
// Rows are locked in id order, the same in every transaction, so that
// concurrent writes of the same campaigns wait rather than deadlock.
func mergeSQL(campaigns, filter string) string {
	// The columns of a campaign's content: what store.SameContent compares.
	content := []string{"name", "status", "budget", "impressions", "clicks", "conversions", "created_at"}
	var set, stored, written []string
	for _, c := range content {
		set = append(set, c+" = CASE WHEN EXCLUDED.listed_at >= c.listed_at THEN EXCLUDED."+c+" ELSE c."+c+" END")
		stored, written = append(stored, "c."+c), append(written, "EXCLUDED."+c)
	}
	stored, written = append(stored, "scale(c.budget)"), append(written, "scale(EXCLUDED.budget)")
	changed := `EXCLUDED.listed_at >= c.listed_at AND (` + strings.Join(stored, ", ") + `) IS DISTINCT FROM (` + strings.Join(written, ", ") + `)`
	return `INSERT INTO ` + campaigns + ` AS c (account_id, id, name, status, budget,
			impressions, clicks, conversions, created_at, synced_at, listed_at, updated_at)
		SELECT account_id, id, name, status, budget,
			impressions, clicks, conversions, created_at, synced_at, listed_at, now()
		FROM ` + stageTable + ` ` + filter + ` ORDER BY id
		ON CONFLICT (account_id, id) DO UPDATE SET
			` + strings.Join(set, ",\n\t\t\t") + `,
			updated_at = CASE WHEN ` + changed + ` THEN greatest(EXCLUDED.updated_at, c.updated_at) ELSE c.updated_at END,
			listed_at = greatest(c.listed_at, EXCLUDED.listed_at),
			synced_at = greatest(c.synced_at, EXCLUDED.synced_at)
		WHERE (` + changed + `)
			OR EXCLUDED.listed_at > c.listed_at
			OR EXCLUDED.synced_at > coalesce(c.synced_at, '-infinity')`
}
