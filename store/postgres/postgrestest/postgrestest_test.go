package postgrestest_test

import (
	"context"
	"database/sql"
	"testing"

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
