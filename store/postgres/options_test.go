package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  Options
		field string // "" for valid options
	}{
		{"zero", Options{}, ""},
		{"everything", Options{Schema: "s", BatchSize: 5, MaxRetries: 7, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Second}, ""},
		{"no retries", Options{MaxRetries: -1}, ""},
		{"long schema", Options{Schema: strings.Repeat("s", maxIdentifierLength)}, ""},
		{"only min wait, above the default max", Options{RetryWaitMin: time.Minute}, ""},
		{"negative batch", Options{BatchSize: -1}, "Options.BatchSize"},
		{"retries below -1", Options{MaxRetries: -2}, "Options.MaxRetries"},
		{"negative min wait", Options{RetryWaitMin: -time.Second}, "Options.RetryWaitMin"},
		{"negative max wait", Options{RetryWaitMax: -time.Second}, "Options.RetryWaitMax"},
		{"max below min", Options{RetryWaitMin: time.Second, RetryWaitMax: time.Millisecond}, "Options.RetryWaitMax"},
		{"schema too long", Options{Schema: strings.Repeat("s", maxIdentifierLength+1)}, "Options.Schema"},
		{"schema with NUL", Options{Schema: "a\x00b"}, "Options.Schema"},
		{"schema not UTF-8", Options{Schema: "a\xffb"}, "Options.Schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.withDefaults()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("withDefaults() = %v, want valid", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("withDefaults() = %v, want an error naming %s", err, tc.field)
			case tc.field == "":
				if got.BatchSize <= 0 || got.MaxRetries < 0 || got.RetryWaitMin <= 0 || got.RetryWaitMax < got.RetryWaitMin || got.Logger == nil {
					t.Errorf("withDefaults() = %+v: a default is missing", got)
				}
			}
		})
	}
	def, _ := Options{}.withDefaults()
	if def.BatchSize != DefaultBatchSize || def.MaxRetries != DefaultMaxRetries {
		t.Errorf("defaults = BatchSize %d, MaxRetries %d; want %d, %d", def.BatchSize, def.MaxRetries, DefaultBatchSize, DefaultMaxRetries)
	}
	if none, _ := (Options{MaxRetries: -1}).withDefaults(); none.MaxRetries != 0 {
		t.Errorf("MaxRetries -1 = %d retries, want 0", none.MaxRetries)
	}
}

// otherDriver is a connector of a driver that is not lib/pq. It never
// connects: New must refuse it before any I/O.
type otherDriver struct{}

func (otherDriver) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("otherDriver never connects")
}
func (otherDriver) Driver() driver.Driver { return otherDriverDriver{} }

type otherDriverDriver struct{}

func (otherDriverDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("otherDriver never connects")
}

func TestNewRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) = nil error")
	}
	db := sqlx.NewDb(sql.OpenDB(otherDriver{}), "other")
	defer db.Close()
	if _, err := New(db, Options{}); err == nil || !strings.Contains(err.Error(), "lib/pq") {
		t.Errorf("New with another driver = %v, want an error naming lib/pq", err)
	}
	schema := postgrestest.New(t)
	if _, err := New(schema.DB, Options{BatchSize: -3}); err == nil || !strings.Contains(err.Error(), "Options.BatchSize") {
		t.Errorf("New with a bad option = %v, want an error naming Options.BatchSize", err)
	}
}

func TestOpenAndClose(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	ctx := context.Background()

	// Open makes a pool; Close closes it.
	s, err := Open(ctx, schema.URL, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(ctx, "a", makeCampaigns(2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(ctx, "a", "campaign_0"); err == nil {
		t.Error("Get after Close = nil error, want the pool closed")
	}

	// New takes the service's pool; Close leaves it open.
	s2, err := New(schema.DB, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s2, "a", "campaign_0"); got.ID != "campaign_0" {
		t.Errorf("Get after closing a store on the service's pool = %+v", got)
	}
	if err := schema.DB.PingContext(ctx); err != nil {
		t.Errorf("the service's pool was closed: %v", err)
	}
}

func TestOpenErrorsHideTheConnectionString(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-p4ss"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		url         string
		unavailable bool
	}{
		// Nothing listens on port 1: connection refused.
		{"postgres://adsync:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", true},
		{"postgres://adsync:" + secret + "@127.0.0.1:1/db?sslmode=bogus", false},
		{"postgres://adsync:" + secret + "@[::1/db", false},
		{"host=127.0.0.1 port=1 password='" + secret + "' sslmode=disable", true},
	} {
		_, err := Open(ctx, tc.url, Options{})
		if err == nil {
			t.Errorf("Open(%q) = nil error", tc.url)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the password: %v", err)
		}
		if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
			t.Errorf("Open error %v: errors.Is(err, store.ErrUnavailable) = %v, want %v", err, got, tc.unavailable)
		}
	}
	if _, err := Open(ctx, "", Options{BatchSize: -1}); err == nil || !strings.Contains(err.Error(), "Options.BatchSize") {
		t.Errorf("Open with a bad option = %v, want an error naming Options.BatchSize", err)
	}
}
