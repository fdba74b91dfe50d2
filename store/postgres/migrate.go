package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/lib/pq"
)

// migrationFiles are the schema's versions: migrations/NNNN_what.up.sql,
// applied in order of NNNN, each once.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the version of the schema this package's code needs:
// the number of its migrations.
const SchemaVersion = 2

// Migrations returns the schema's migrations, for a service that applies
// them with its own tool rather than [Store.Migrate]: files named
// NNNN_what.up.sql at the root of the file system, to be applied in order
// of NNNN, each once, each in a transaction. They are plain SQL that set a
// lock_timeout, with unqualified table names (run them with the
// search_path set to the schema adsync uses), and carry the annotation
// goose wants; golang-migrate (source/iofs) and Atlas (golang-migrate
// format) read them as they are. The last of them records SchemaVersion
// in the table schema_version, which the store checks before its first
// use.
//
// Use one tool: Migrate keeps its own record (schema_migrations) of what it
// applied, and would apply again what another tool applied.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // unreachable: the directory is embedded
	}
	return sub
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads and orders the embedded migrations, checking their
// names: a mistake there is a bug of this package, caught by its tests.
func migrations() ([]migration, error) {
	files := Migrations()
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 || !strings.HasSuffix(rest, ".up.sql") || strings.Count(rest, ".") != 2 {
			return nil, fmt.Errorf("migration file %q is not named NNNN_what.up.sql", e.Name())
		}
		body, err := fs.ReadFile(files, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: want version %d: versions must be 1, 2, 3... without gaps or repeats", m.name, i+1)
		}
	}
	if len(out) != SchemaVersion {
		return nil, fmt.Errorf("%d migrations, but SchemaVersion is %d", len(out), SchemaVersion)
	}
	return out, nil
}

// Migrate creates or upgrades the store's tables. It applies the embedded
// migrations not yet recorded in the schema's schema_migrations table, all
// in one transaction under an advisory lock derived from the schema name:
// it is idempotent, a failure leaves the schema as it was, and processes
// migrating at once take turns (the later ones find nothing to do). With
// Options.Schema set, the schema is created if it does not exist. Each
// migration waits at most 10 s for a table's lock (lock_timeout): a
// migration that would queue behind a long transaction, and hold every
// query behind it, fails instead, and can be run again later.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var applied []int
	err = s.retry(ctx, "migrate", func(ctx context.Context) error {
		var err error
		applied, err = s.migrate(ctx, all)
		return err
	})
	if err != nil {
		return classify(ctx, "migrate", err)
	}
	for _, v := range applied {
		s.log.InfoContext(ctx, "postgres: applied migration", "schema", s.opts.Schema, "version", v)
	}
	s.ready.Store(false) // check the schema again before the next use
	return nil
}

func (s *Store) migrate(ctx context.Context, all []migration) (applied []int, err error) {
	// READ COMMITTED: once the lock is ours, each statement must see what
	// a process that held it before committed.
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()

	schema := s.opts.Schema
	if schema == "" {
		var current sql.NullString
		if err := tx.GetContext(ctx, &current, "SELECT current_schema()"); err != nil {
			return nil, err
		}
		if !current.Valid {
			return nil, errors.New("no schema to create tables in: the connection's search_path names no existing schema (create one, or set Options.Schema)")
		}
		schema = current.String
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey(schema)); err != nil {
		return nil, err
	}
	if s.opts.Schema != "" {
		var exists bool
		if err := tx.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema); err != nil {
			return nil, err
		}
		if !exists {
			if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+pq.QuoteIdentifier(schema)); err != nil {
				return nil, err
			}
		}
		// The migrations use unqualified names: point them at the schema
		// for this transaction only.
		if _, err := tx.ExecContext(ctx, "SELECT set_config('search_path', $1, true)", pq.QuoteIdentifier(schema)); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, err
	}
	// Naming applied_at makes a schema_migrations of another tool (the
	// name is common: golang-migrate has version and dirty) an error, not
	// a list of versions taken for ours.
	var done []int
	if err := tx.SelectContext(ctx, &done, "SELECT version FROM schema_migrations WHERE applied_at IS NOT NULL ORDER BY version"); err != nil {
		if sqlState(err) == "42703" { // undefined_column
			return nil, fmt.Errorf("schema %q has a schema_migrations table that is not adsync's: set Options.Schema to keep adsync's tables apart", schema)
		}
		return nil, err
	}
	if len(done) > 0 && done[len(done)-1] > len(all) {
		s.log.WarnContext(ctx, "postgres: the database schema is newer than this version of adsync",
			"schema", schema, "database_version", done[len(done)-1], "known_version", len(all))
	}
	for _, m := range all {
		if slices.Contains(done, m.version) {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.version); err != nil {
			return nil, err
		}
		applied = append(applied, m.version)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return applied, nil
}

// migrateLockKey is the advisory lock key migrations of a schema take
// turns on. A collision with another application's key would only make
// one wait for the other.
func migrateLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("adsync\x00migrate\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}
