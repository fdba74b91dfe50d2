package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

// newTestStore returns a migrated store in a fresh schema of its own.
func newTestStore(t testing.TB, opts Options) (*Store, *postgrestest.Schema) {
	t.Helper()
	schema := postgrestest.New(t)
	s, err := New(schema.DB, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, schema
}

// makeCampaigns returns n valid campaigns with ids campaign_0.., whose
// counts depend on version: two versions differ in every campaign. They
// are all listed at the same time, whatever the version: writing them
// again is writing the same listing again.
func makeCampaigns(n, version int) []store.Campaign {
	created := time.Date(2024, 12, 11, 10, 30, 0, 123456000, time.UTC)
	listed := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	out := make([]store.Campaign, n)
	for i := range out {
		out[i] = store.Campaign{
			ID:          "campaign_" + strconv.Itoa(i),
			Name:        fmt.Sprintf("Campaign %d — été 🚀", i),
			Status:      "active",
			Budget:      strconv.Itoa(1000+i) + ".50",
			Impressions: int64(8432 + i + version),
			Clicks:      int64(234 + version),
			Conversions: int64(12 + version),
			CreatedAt:   created.Add(time.Duration(i) * time.Second),
			ListedAt:    listed,
		}
	}
	return out
}

// openPool opens a pool of its own on schema, with extra run-time
// parameters (application_name, TimeZone, ...), closed when t ends.
func openPool(t testing.TB, schema *postgrestest.Schema, params map[string]string) *sqlx.DB {
	t.Helper()
	cfg, err := pq.NewConfig(schema.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.Clone()
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	for k, v := range params {
		cfg.Runtime[k] = v
	}
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// newStoreOn returns a migrated store on db.
func newStoreOn(t testing.TB, db *sqlx.DB, opts Options) *Store {
	t.Helper()
	s, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// uniqueName returns a name no other test uses, for application_name.
func uniqueName(prefix string) string { return prefix + "_" + strings.ToLower(rand.Text()) }

// terminate ends the server processes of every connection whose
// application_name is app, and waits until they are gone.
func terminate(t testing.TB, admin *sqlx.DB, app string) int {
	t.Helper()
	// Pids first, then each pid: a single query could evaluate
	// pg_terminate_backend before the filter, on anyone's connection.
	var pids []int
	if err := admin.Select(&pids, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app); err != nil {
		t.Fatalf("terminate %s: %v", app, err)
	}
	for _, pid := range pids {
		admin.MustExec("SELECT pg_terminate_backend($1, 5000)", pid)
	}
	return len(pids)
}

// logBuffer is a slog handler's destination that tests can read while
// the store writes to it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustGet returns a stored campaign or fails t.
func mustGet(t testing.TB, s *Store, account, id string) store.Campaign {
	t.Helper()
	c, err := s.Get(context.Background(), account, id)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", account, id, err)
	}
	return c
}

// count returns the number of rows of a table of the store's schema.
func count(t testing.TB, db *sqlx.DB, table string) int {
	t.Helper()
	var n int
	if err := db.GetContext(context.Background(), &n, "SELECT count(*) FROM "+table); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
