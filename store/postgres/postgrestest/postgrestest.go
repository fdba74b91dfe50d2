// Package postgrestest gives each test its own PostgreSQL schema, so that
// tests against a real database can run in parallel without seeing each other
// or any user data.
//
// The database is named by the ADSYNC_TEST_DATABASE_URL environment variable
// (any URL or key=value connection string lib/pq accepts). When it is unset,
// [URL] and [New] skip the calling test with a one-line reason; when it is set
// but the database cannot be reached, they fail the test: a configured
// database that does not answer is an error, not a reason to skip.
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		s := postgrestest.New(t) // fresh schema, dropped when t ends
//		st, err := postgres.New(s.DB, postgres.Options{})
//		...
//	}
package postgrestest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// EnvURL is the environment variable that holds the test database URL.
const EnvURL = "ADSYNC_TEST_DATABASE_URL"

// URL returns the test database URL from [EnvURL], or skips t with a
// one-line reason when it is unset.
func URL(t testing.TB) string {
	t.Helper()
	return urlOrSkip(t)
}

// skipper is the part of testing.TB that urlOrSkip uses, so that a test
// can see it skip without skipping.
type skipper interface {
	Helper()
	Skip(args ...any)
}

func urlOrSkip(t skipper) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		skipped.Add(1)
		t.Skip(EnvURL + " is not set: skipping PostgreSQL test")
	}
	return u
}

// skipped counts the tests [URL] skipped in this test binary, for [Main].
var skipped atomic.Int64

// Main runs the package's tests, for its TestMain, and returns the exit
// code for os.Exit. When tests were skipped for want of [EnvURL], it says
// so once, with how to enable them: on the terminal when there is one,
// else on stderr. go test shows nothing a passing package prints unless
// it tests one package or runs with -v, so that without the terminal a
// skipped PostgreSQL test would look like a pass.
//
//	func TestMain(m *testing.M) { os.Exit(postgrestest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if n := skipped.Load(); n > 0 && os.Getenv(EnvURL) == "" {
		var w io.Writer = os.Stderr
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
		writeSkipped(w, n)
	}
	return code
}

// writeSkipped says that n tests skipped, and how to run them.
func writeSkipped(w io.Writer, n int64) {
	fmt.Fprintf(w, "postgrestest: %d PostgreSQL tests of %s skipped: %s is not set; "+
		"to run them: %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ...\n",
		n, testBinary(), EnvURL, EnvURL)
}

// testBinary names the package under test, by its test binary's name.
func testBinary() string {
	name := filepath.Base(os.Args[0])
	return strings.TrimSuffix(strings.TrimSuffix(name, ".exe"), ".test")
}

// Schema is a schema created for one test.
type Schema struct {
	// Name is the schema's name: safe to use unquoted in SQL.
	Name string
	// DB is a small pool whose connections have search_path set to Name,
	// so unqualified table names resolve inside the schema. It is closed
	// when the test ends.
	DB *sqlx.DB
	// URL is the test database URL with search_path set to Name, for code
	// that opens its own connections (a subprocess, say).
	URL string
}

// New creates a fresh schema for t and drops it, with everything in it,
// when t and its subtests have finished. It skips t when [EnvURL] is unset.
func New(t testing.TB) *Schema {
	t.Helper()
	base := URL(t)
	name := schemaName(t.Name())

	cfg, err := pq.NewConfig(base)
	if err != nil {
		t.Fatalf("postgrestest: parse %s: %v", EnvURL, err)
	}
	admin, err := openPool(cfg)
	if err != nil {
		t.Fatalf("postgrestest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		t.Fatalf("postgrestest: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Errorf("postgrestest: drop schema %s: %v", name, err)
		}
	})

	scoped := cfg.Clone()
	if scoped.Runtime == nil {
		scoped.Runtime = map[string]string{}
	}
	scoped.Runtime["search_path"] = name
	db, err := openPool(scoped)
	if err != nil {
		t.Fatalf("postgrestest: %v", err)
	}
	// Registered after the schema's cleanup, so it runs first: the pool is
	// closed before the schema is dropped.
	t.Cleanup(func() { db.Close() })

	return &Schema{Name: name, DB: db, URL: withSearchPath(base, name)}
}

// openPool opens a small pool and checks that the database answers.
func openPool(cfg pq.Config) (*sqlx.DB, error) {
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// schemaName derives a unique, valid, unquoted identifier from a test name.
func schemaName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

// withSearchPath adds search_path to a URL or key=value connection string.
func withSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
