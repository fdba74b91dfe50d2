package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"os"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
)

// Open a store on a database URL, create its tables, and write and read
// campaigns. (Examples here need a database: they are compiled, not run.)
func Example() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Options{
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err) // never the URL: it may hold a password
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	err = s.Upsert(ctx, "acct-1", []store.Campaign{
		{ID: "c-1", Name: "Spring sale 🌷", Status: "ACTIVE", Budget: "1100.50", Impressions: 120000},
		{ID: "c-2", Name: "bad\x00name", Status: "ACTIVE", Budget: "7"}, // NUL: rejected, never sent
	})
	var batch *store.BatchError
	switch {
	case errors.As(err, &batch):
		for _, r := range batch.Rejected {
			fmt.Printf("rejected #%d %s: %s: %s\n", r.Index, r.ID, r.Field, r.Reason)
		}
	case errors.Is(err, store.ErrUnavailable):
		log.Fatal("database unavailable, retry the batch later: ", err)
	case err != nil:
		log.Fatal(err)
	}

	c, err := s.Get(ctx, "acct-1", "c-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Budget, c.Impressions, c.UpdatedAt.Location())
}

// A service that owns its pool gives it to New, and keeps adsync's tables
// in a schema of their own.
func ExampleNew() {
	ctx := context.Background()
	db, err := sqlx.Open("postgres", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // the service's pool: the store never closes it

	s, err := postgres.New(db, postgres.Options{Schema: "adsync", BatchSize: 500})
	if err != nil {
		log.Fatal(err) // a bad option, named
	}
	if err := s.Migrate(ctx); err != nil { // creates schema "adsync" and its tables
		log.Fatal(err)
	}
	lease, err := s.Acquire(ctx, "acct-1")
	if errors.Is(err, store.ErrAccountBusy) {
		log.Fatal(err) // another process syncs this account: `store: account "acct-1" is busy: ...`
	}
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release(ctx)
	run, err := lease.StartRun(ctx, store.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed:", run.Resumed)
}

// A service that applies its migrations with its own tool (goose,
// golang-migrate, Atlas) gives it the embedded files.
func ExampleMigrations() {
	entries, err := fs.ReadDir(postgres.Migrations(), ".")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// 0001_create_tables.up.sql
	// 0002_leases_and_listed_at.up.sql
}
