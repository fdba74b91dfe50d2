package postgres_test

import (
	"testing"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/store/postgres/postgrestest"
	"github.com/adsync/adsync/store/storetest"
)

// TestConformance proves the store keeps the store package's contract,
// with its tables in the connection's schema.
func TestConformance(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) *postgres.Store {
		schema := postgrestest.New(t)
		s, err := postgres.New(schema.DB, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore { return open(t) })
}

// TestConformanceExplicitSchema runs the suite again with every name
// qualified by the Schema option, on a pool whose search_path points
// elsewhere, and chunks smaller than the suite's big batches.
func TestConformanceExplicitSchema(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) *postgres.Store {
		schema := postgrestest.New(t)
		name := `adsync "explicit" ` + schema.Name[len(schema.Name)-12:]
		t.Cleanup(func() {
			schema.DB.MustExec("DROP SCHEMA IF EXISTS " + pq.QuoteIdentifier(name) + " CASCADE")
		})
		s, err := postgres.New(schema.DB, postgres.Options{Schema: name, BatchSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore { return open(t) })
}
