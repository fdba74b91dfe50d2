package postgres

import (
	"context"
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
	run, err := s.StartRun(ctx, "a", store.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeadLetters(ctx, []store.DeadLetter{{AccountID: "a", CampaignID: "x", RunID: run.ID}}); err != nil {
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
	for table, want := range map[string]int{"campaigns": 5, "runs": 1, "dead_letters": 1} {
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
