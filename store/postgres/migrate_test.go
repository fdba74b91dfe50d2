package postgres

import (
	"context"
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

func TestMigrationsAreWellFormed(t *testing.T) {
	t.Parallel()
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].version != 1 {
		t.Fatalf("migrations = %v, want versions from 1", all)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	ctx := context.Background()
	if err := s.Upsert(ctx, "a", makeCampaigns(3, 0)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	all, _ := migrations()
	var versions []int
	if err := schema.DB.Select(&versions, "SELECT version FROM schema_migrations ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	if len(versions) != len(all) {
		t.Errorf("schema_migrations = %v, want each of the %d versions once", versions, len(all))
	}
	if n := count(t, schema.DB, "campaigns"); n != 3 {
		t.Errorf("campaigns has %d rows after migrating again, want the 3 kept", n)
	}
}

// TestConcurrentMigrationsTakeTurns migrates one new schema from two pools
// at once, several times each: without the advisory lock, concurrent
// CREATE SCHEMA and CREATE TABLE collide (duplicate key errors) or apply a
// migration twice.
func TestConcurrentMigrationsTakeTurns(t *testing.T) {
	t.Parallel()
	base := postgrestest.New(t) // for its URL and its cleanup of the test's schema
	name := hostileSchemaName(base)
	t.Cleanup(func() { base.DB.MustExec("DROP SCHEMA IF EXISTS " + pq.QuoteIdentifier(name) + " CASCADE") })

	pools := []*sqlx.DB{openPool(t, base, nil), openPool(t, base, nil)}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s, err := New(pools[i%2], Options{Schema: name})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs <- s.Migrate(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	var versions []int
	if err := base.DB.Select(&versions, "SELECT version FROM "+pq.QuoteIdentifier(name)+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if all, _ := migrations(); len(versions) != len(all) {
		t.Errorf("schema_migrations = %v, want each of the %d versions once", versions, len(all))
	}
}

func TestExplicitSchemaQualifiesEveryName(t *testing.T) {
	t.Parallel()
	base := postgrestest.New(t)
	name := hostileSchemaName(base)
	t.Cleanup(func() { base.DB.MustExec("DROP SCHEMA IF EXISTS " + pq.QuoteIdentifier(name) + " CASCADE") })
	// The pool's search_path is base: nothing may land there.
	s := newStoreOn(t, base.DB, Options{Schema: name})
	ctx := context.Background()
	if err := s.Upsert(ctx, "a", makeCampaigns(5, 0)); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	run, err := l.StartRun(ctx, store.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, DeadLetters: []store.DeadLetter{{CampaignID: "x"}}, State: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	var inBase int
	if err := base.DB.Get(&inBase, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", base.Name); err != nil {
		t.Fatal(err)
	}
	if inBase != 0 {
		t.Errorf("%d tables created in the connection's schema, want 0", inBase)
	}
	q := pq.QuoteIdentifier(name)
	for table, want := range map[string]int{"campaigns": 5, "runs": 1, "dead_letters": 1, "accounts": 1} {
		if n := count(t, base.DB, q+"."+table); n != want {
			t.Errorf("%s.%s has %d rows, want %d", name, table, n, want)
		}
	}
}

func TestMigrateWithoutASchemaToCreateIn(t *testing.T) {
	t.Parallel()
	base := postgrestest.New(t)
	db := openPool(t, base, map[string]string{"search_path": base.Name + "_does_not_exist"})
	s, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "search_path") || !strings.Contains(err.Error(), "Options.Schema") {
		t.Fatalf("Migrate = %v, want an error explaining the search_path has no schema", err)
	}
}

// hostileSchemaName returns a schema name unique to base's test that
// needs quoting: upper case, a quote, a semicolon, spaces, a comment.
func hostileSchemaName(base *postgrestest.Schema) string {
	return `adsync "Q"; DROP x;-- é ` + base.Name[len(base.Name)-12:]
}

func TestMigrateRefusesAnotherToolsSchemaMigrations(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	// golang-migrate's table has the same name and other columns.
	schema.DB.MustExec("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)")
	schema.DB.MustExec("INSERT INTO schema_migrations VALUES (1, false)")
	s, err := New(schema.DB, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not adsync's") || !strings.Contains(err.Error(), "Options.Schema") {
		t.Fatalf("Migrate = %v, want an error saying the table is another tool's", err)
	}
}

// The embedded migrations are usable by other tools as they are:
// golang-migrate's file names, goose's annotation, and a lock_timeout.
func TestMigrationFilesSuitOtherTools(t *testing.T) {
	t.Parallel()
	golangMigrate := regexp.MustCompile(`^([0-9]+)_(.*)\.(down|up)\.(.*)$`)
	entries, err := fs.ReadDir(Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != SchemaVersion {
		t.Fatalf("%d migration files; want SchemaVersion, %d", len(entries), SchemaVersion)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !golangMigrate.MatchString(e.Name()) {
			t.Errorf("%s: not a golang-migrate file name ({version}_{title}.up.{ext})", e.Name())
		}
		if !strings.HasPrefix(string(body), "-- +goose Up\n") {
			t.Errorf("%s: does not start with goose's annotation, -- +goose Up", e.Name())
		}
		if !strings.Contains(string(body), "SET LOCAL lock_timeout") {
			t.Errorf("%s: sets no lock_timeout", e.Name())
		}
	}
}

// applyFile runs one migration file as golang-migrate does: the whole file
// in one Exec, which PostgreSQL runs as one implicit transaction.
func applyFile(t *testing.T, db *sqlx.DB, name string) {
	t.Helper()
	body, err := fs.ReadFile(Migrations(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(body)); err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
}

// A schema migrated by another tool works, and the store refuses a schema
// that is not migrated, or not to its version, with a message saying what
// to do, before it writes anything.
func TestSchemaVersionIsChecked(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	ctx := context.Background()
	s, err := New(schema.DB, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when, want string) {
		t.Helper()
		err := s.Upsert(ctx, "a", makeCampaigns(1, 0))
		if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Migrate") {
			t.Errorf("Upsert %s = %v; want an error wrapping ErrSchemaVersion, saying %q and to run Migrate", when, err, want)
		}
		if _, err := s.Acquire(ctx, "a"); !errors.Is(err, ErrSchemaVersion) {
			t.Errorf("Acquire %s = %v; want an error wrapping ErrSchemaVersion", when, err)
		}
	}
	check("on a schema without tables", "not migrated")
	applyFile(t, schema.DB, "0001_create_tables.up.sql")
	check("on a schema at version 1", "not migrated, or migrated before version 2")
	applyFile(t, schema.DB, "0002_leases_and_listed_at.up.sql")
	if err := s.Upsert(ctx, "a", makeCampaigns(3, 0)); err != nil {
		t.Fatalf("Upsert on a schema migrated file by file, as another tool does = %v", err)
	}
	l, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	l.Release(ctx)

	// A later schema (a newer adsync migrated it) is used, with a warning.
	schema.DB.MustExec("UPDATE schema_version SET version = $1", SchemaVersion+1)
	logs := &logBuffer{}
	newer, err := New(schema.DB, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := newer.Upsert(ctx, "a", makeCampaigns(3, 0)); err != nil {
		t.Fatalf("Upsert on a newer schema = %v", err)
	}
	if !strings.Contains(logs.String(), "newer than this version") {
		t.Errorf("no warning about a newer schema:\n%s", logs)
	}
}

// A migration that would wait for a lock longer than its lock_timeout
// fails, instead of holding every query of the table behind it.
func TestMigrationStopsWaitingForALock(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	ctx := context.Background()
	// Version 1 applied as Migrate would have: 0002 is pending.
	applyFile(t, schema.DB, "0001_create_tables.up.sql")
	schema.DB.MustExec("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	schema.DB.MustExec("INSERT INTO schema_migrations (version) VALUES (1)")
	reader, err := schema.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	reader.MustExec("SELECT count(*) FROM campaigns") // a long transaction holding a lock ALTER TABLE waits for
	s, err := New(schema.DB, Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if sqlState(err) != "55P03" || !strings.Contains(err.Error(), "lock timeout") {
		t.Fatalf("Migrate while a transaction holds a lock on campaigns = %v; want SQLSTATE 55P03, a lock timeout", err)
	}
	reader.Rollback()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate once the lock is free = %v", err)
	}
}
