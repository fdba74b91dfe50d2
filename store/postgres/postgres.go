package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

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

	// hook, when set (by tests only), runs inside an Upsert transaction at
	// the named points ("staged", "merged"), so that a test can break the
	// connection or provoke a conflict at an exact moment.
	hook func(point string, tx *sql.Tx) error
}

var _ store.RunStore = (*Store)(nil)

// New returns a store on db, a pool the service owns and keeps owning:
// [Store.Close] does not close it. db must use the lib/pq driver. Call
// [Store.Migrate] before using the store. An invalid option is an error
// naming the field.
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
		return nil, errors.New("postgres: Open: the connection string is not valid")
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: Open: %w", ctx.Err())
		}
		if isTransient(err) {
			return nil, fmt.Errorf("postgres: Open: %w: %w", store.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("postgres: Open: %w", err)
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

// queries are the store's SQL, with table names qualified by the schema
// option once, at construction. Values are always parameters or COPY data.
type queries struct {
	schema string // the quoted schema, or "" for the current one

	createStage, copyStage, merge string

	get, syncedSince string

	newestRun, resumeRun, replaceRun, insertRun, finishRun, runReplaced string

	putDeadLetter, resolveDeadLetters, deadLetters string
}

// stageTable is the per-connection temporary table Upsert copies into. It
// is named with a version, so that a connection kept across an upgrade
// never meets a stage of another shape.
const stageTable = "pg_temp.adsync_campaign_stage_v1"

func newQueries(schema string) queries {
	prefix := ""
	if schema != "" {
		prefix = pq.QuoteIdentifier(schema) + "."
	}
	campaigns, runs, deadLetters := prefix+"campaigns", prefix+"runs", prefix+"dead_letters"
	return queries{
		schema: prefix,

		// ON COMMIT DELETE ROWS empties the stage at every commit; IF NOT
		// EXISTS in every transaction keeps this correct behind a pooler
		// that hands each transaction a different server connection.
		createStage: `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (
			account_id text COLLATE "C", id text COLLATE "C", name text, status text,
			budget numeric, impressions bigint, clicks bigint, conversions bigint,
			created_at timestamptz, synced_at timestamptz, content_hash bytea
		) ON COMMIT DELETE ROWS`,
		copyStage: `COPY ` + stageTable + ` (account_id, id, name, status, budget,
			impressions, clicks, conversions, created_at, synced_at, content_hash) FROM STDIN`,
		// A row is rewritten only when its content changed or a sync is
		// recorded; an unchanged row is not touched (its xmin stays). Rows
		// are locked in id order, the same in every transaction, so that
		// concurrent upserts of the same campaigns wait rather than
		// deadlock.
		merge: `INSERT INTO ` + campaigns + ` AS c (account_id, id, name, status, budget,
				impressions, clicks, conversions, created_at, synced_at, updated_at, content_hash)
			SELECT account_id, id, name, status, budget,
				impressions, clicks, conversions, created_at, synced_at, now(), content_hash
			FROM ` + stageTable + ` ORDER BY id
			ON CONFLICT (account_id, id) DO UPDATE SET
				name = EXCLUDED.name, status = EXCLUDED.status, budget = EXCLUDED.budget,
				impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks,
				conversions = EXCLUDED.conversions, created_at = EXCLUDED.created_at,
				synced_at = COALESCE(EXCLUDED.synced_at, c.synced_at),
				updated_at = CASE WHEN c.content_hash = EXCLUDED.content_hash
					THEN c.updated_at ELSE EXCLUDED.updated_at END,
				content_hash = EXCLUDED.content_hash
			WHERE c.content_hash IS DISTINCT FROM EXCLUDED.content_hash
				OR (EXCLUDED.synced_at IS NOT NULL AND EXCLUDED.synced_at IS DISTINCT FROM c.synced_at)`,

		get: `SELECT id, name, status, budget, impressions, clicks, conversions,
				created_at, synced_at, updated_at
			FROM ` + campaigns + ` WHERE account_id = $1 AND id = $2`,
		syncedSince: `SELECT id FROM ` + campaigns + `
			WHERE account_id = $1 AND id = ANY($2) AND synced_at >= $3`,

		newestRun: `SELECT id, status, started_at, finished_at,
				seen, synced, skipped, failed, error
			FROM ` + runs + ` WHERE account_id = $1 ORDER BY seq DESC LIMIT 1`,
		resumeRun: `UPDATE ` + runs + ` SET status = $2, finished_at = NULL, error = '' WHERE id = $1`,
		replaceRun: `UPDATE ` + runs + ` SET status = $2, error = $3, finished_at = $4, replaced = true
			WHERE id = $1`,
		insertRun: `INSERT INTO ` + runs + ` (id, account_id, status, started_at) VALUES ($1, $2, $3, $4)`,
		finishRun: `UPDATE ` + runs + ` SET status = $3, finished_at = $4,
				seen = $5, synced = $6, skipped = $7, failed = $8, error = $9
			WHERE id = $1 AND account_id = $2 AND NOT replaced`,
		runReplaced: `SELECT replaced FROM ` + runs + ` WHERE id = $1 AND account_id = $2`,

		putDeadLetter: `INSERT INTO ` + deadLetters + ` AS d (key, account_id, campaign_id, run_id, data, error,
				attempts, first_failed_at, last_failed_at)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)
			ON CONFLICT (key) DO UPDATE SET
				run_id = EXCLUDED.run_id, data = EXCLUDED.data, error = EXCLUDED.error,
				attempts = d.attempts + 1,
				last_failed_at = greatest(EXCLUDED.last_failed_at, d.last_failed_at)`,
		resolveDeadLetters: `DELETE FROM ` + deadLetters + ` WHERE key = ANY($1) AND account_id = $2`,
		deadLetters: `SELECT campaign_id, run_id, data, error, attempts, first_failed_at, last_failed_at
			FROM ` + deadLetters + `
			WHERE account_id = $1 AND substring(campaign_id FOR 256) >= substring($2 FOR 256)
				AND campaign_id > $2
			ORDER BY substring(campaign_id FOR 256), campaign_id LIMIT $3`,
	}
}
