package postgrestest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/store/postgres/postgrestest"
)

func TestSchemasAreIsolatedAndDropped(t *testing.T) {
	t.Parallel()
	base := postgrestest.URL(t)
	ctx := context.Background()
	var first string

	t.Run("a", func(t *testing.T) {
		a := postgrestest.New(t)
		b := postgrestest.New(t)
		first = a.Name
		if a.Name == b.Name {
			t.Fatalf("two schemas share the name %q", a.Name)
		}
		for _, s := range []*postgrestest.Schema{a, b} {
			var current string
			if err := s.DB.GetContext(ctx, &current, "SELECT current_schema()"); err != nil {
				t.Fatal(err)
			}
			if current != s.Name {
				t.Fatalf("current_schema() = %q, want %q", current, s.Name)
			}
		}
		a.DB.MustExecContext(ctx, "CREATE TABLE campaigns (id text)")
		a.DB.MustExecContext(ctx, "INSERT INTO campaigns VALUES ('only-in-a')")
		var n int
		err := b.DB.GetContext(ctx, &n, "SELECT count(*) FROM campaigns")
		if err == nil {
			t.Fatalf("schema %s sees a table created in %s", b.Name, a.Name)
		}

		// The URL carries the schema too, for code that opens its own pool.
		other, err := sqlx.Open("postgres", a.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := other.GetContext(ctx, &n, "SELECT count(*) FROM campaigns"); err != nil || n != 1 {
			t.Fatalf("through URL: count = %d, err = %v; want 1, nil", n, err)
		}
	})

	// The subtest has ended, so its schemas must be gone.
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var name string
	err = admin.GetContext(ctx, &name, "SELECT nspname FROM pg_namespace WHERE nspname = $1", first)
	if err != sql.ErrNoRows {
		t.Fatalf("schema %q still exists after its test ended (err = %v)", first, err)
	}
}

// A pool through the proxy works; when the proxy cuts its connections and
// refuses new ones, the pool's calls fail; when it allows them again, they
// work again, on new sessions.
func TestProxyCutsRefusesAndAllows(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	proxy := postgrestest.NewProxy(t, schema.URL)
	db, err := sqlx.Open("postgres", proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	pid := func() (int, error) {
		var pid int
		err := db.GetContext(ctx, &pid, "SELECT pg_backend_pid()")
		return pid, err
	}
	first, err := pid()
	if err != nil {
		t.Fatalf("a query through the proxy: %v", err)
	}
	var current string
	if err := db.GetContext(ctx, &current, "SELECT current_schema()"); err != nil || current != schema.Name {
		t.Fatalf("through the proxy, current_schema() = %q, %v; want %q (the URL keeps its parameters)", current, err, schema.Name)
	}

	proxy.Refuse()
	if n := proxy.Cut(); n == 0 {
		t.Fatal("Cut cut no connection; the pool had one open")
	}
	for i := range 3 { // the dead pooled connection, then refused new ones
		if _, err := pid(); err == nil {
			t.Fatalf("query %d while the proxy refuses connections succeeded", i)
		}
	}
	// The cut session is gone from the server.
	var alive bool
	if err := schema.DB.GetContext(ctx, &alive, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if err := schema.DB.GetContext(ctx, &alive, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", first); err != nil {
			t.Fatal(err)
		}
	}
	if alive {
		t.Errorf("the server session %d outlived the cut connection by 10s", first)
	}

	proxy.Allow()
	second, err := pid()
	if err != nil {
		t.Fatalf("a query once the proxy allows connections again: %v", err)
	}
	if second == first {
		t.Errorf("the query after the cut ran in the cut session %d", first)
	}
	if proxy.Accepted() < 2 {
		t.Errorf("the proxy let %d connections through; want at least 2", proxy.Accepted())
	}
}
