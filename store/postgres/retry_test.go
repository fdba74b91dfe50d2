package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

// fastRetries keeps the tests' backoff short.
var fastRetries = Options{RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond}

func withLogs(opts Options, logs *logBuffer) Options {
	opts.Logger = logs.logger()
	return opts
}

func TestRetriesWhenTheConnectionIsTerminatedMidTransaction(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	app := uniqueName("adsync_kill")
	db := openPool(t, schema, map[string]string{"application_name": app})
	logs := &logBuffer{}
	s := newStoreOn(t, db, withLogs(fastRetries, logs))
	ctx := context.Background()

	// The first attempt's connection is terminated after the rows are
	// copied, before the merge: the merge fails, the chunk is retried.
	var attempts atomic.Int32
	s.hook = func(point string, tx *sql.Tx) error {
		if point != "staged" || attempts.Add(1) > 1 {
			return nil
		}
		var pid int
		if err := tx.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		schema.DB.MustExec("SELECT pg_terminate_backend($1, 5000)", pid)
		return nil
	}
	batch := makeCampaigns(30, 0)
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatalf("Upsert after a terminated connection = %v, want success after a retry", err)
	}
	if attempts.Load() != 2 {
		t.Errorf("%d attempts, want 2", attempts.Load())
	}
	if n := count(t, schema.DB, "campaigns"); n != 30 {
		t.Errorf("%d campaigns stored, want 30", n)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", logs)
	}

	// Between operations: every idle connection of the pool is killed.
	s.hook = nil
	if n := terminate(t, schema.DB, app); n == 0 {
		t.Fatal("no connection of the store's pool to terminate")
	}
	if got := mustGet(t, s, "a", batch[0].ID); got.Name != batch[0].Name {
		t.Errorf("Get after the pool's connections were terminated = %+v", got)
	}
	terminate(t, schema.DB, app)
	if err := s.Upsert(ctx, "a", makeCampaigns(30, 1)); err != nil {
		t.Errorf("Upsert after the pool's connections were terminated = %v", err)
	}
	terminate(t, schema.DB, app)
	l, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatalf("Acquire after the pool's connections were terminated = %v", err)
	}
	defer l.Release(ctx)
	if _, err := s.Runs(ctx, "a", store.RunQuery{}); err != nil {
		t.Errorf("Runs after the pool's connections were terminated = %v", err)
	}
}

func TestRetriesAreBoundedAndEndInErrUnavailable(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	opts := fastRetries
	opts.MaxRetries = 2
	s := newStoreOn(t, schema.DB, opts)
	var attempts atomic.Int32
	s.hook = func(point string, tx *sql.Tx) error {
		if point != "staged" {
			return nil
		}
		attempts.Add(1)
		var pid int
		if err := tx.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		schema.DB.MustExec("SELECT pg_terminate_backend($1, 5000)", pid)
		return nil
	}
	err := s.Upsert(context.Background(), "a", makeCampaigns(3, 0))
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRejected) {
		t.Fatalf("Upsert = %v, want an error wrapping store.ErrUnavailable", err)
	}
	if got := attempts.Load(); got != 3 {
		t.Errorf("%d attempts, want 3: 1 + MaxRetries", got)
	}
	if n := count(t, schema.DB, "campaigns"); n != 0 {
		t.Errorf("%d campaigns stored by failed attempts, want 0", n)
	}

	// MaxRetries -1: no retry at all.
	opts.MaxRetries = -1
	s2 := newStoreOn(t, schema.DB, opts)
	attempts.Store(0)
	s2.hook = s.hook
	if err := s2.Upsert(context.Background(), "a", makeCampaigns(3, 0)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Upsert = %v, want an error wrapping store.ErrUnavailable", err)
	}
	if got := attempts.Load(); got != 1 {
		t.Errorf("%d attempts with MaxRetries -1, want 1", got)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	s := newStoreOn(t, schema.DB, Options{RetryWaitMin: time.Hour, RetryWaitMax: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	s.hook = func(point string, tx *sql.Tx) error {
		if point == "staged" {
			var pid int
			if err := tx.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			schema.DB.MustExec("SELECT pg_terminate_backend($1, 5000)", pid)
			time.AfterFunc(50*time.Millisecond, cancel)
		}
		return nil
	}
	start := time.Now()
	err := s.Upsert(ctx, "a", makeCampaigns(3, 0))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upsert = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Upsert returned after %v: the backoff ignored the context", d)
	}
}

func TestRetriesADeadlock(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	app := uniqueName("adsync_deadlock")
	logs := &logBuffer{}
	s := newStoreOn(t, openPool(t, schema, map[string]string{"application_name": app}), withLogs(fastRetries, logs))
	ctx := context.Background()
	if err := s.Upsert(ctx, "a", []store.Campaign{{ID: "a", Budget: "1"}, {ID: "b", Budget: "1"}}); err != nil {
		t.Fatal(err)
	}

	// The store locks rows in id order: a, then b. T locks b; the store's
	// merge locks a, then waits for b; T then updates a: a cycle. The
	// store, waiting longest, finds the deadlock (after deadlock_timeout)
	// and is the one aborted; it retries.
	first, second := "a", "b"
	other, err := schema.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	other.MustExec("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", second)

	done := make(chan error, 1)
	go func() {
		done <- s.Upsert(ctx, "a", []store.Campaign{{ID: "a", Name: "store", Budget: "2"}, {ID: "b", Name: "store", Budget: "2"}})
	}()
	waitForLockWait(t, schema, app)
	other.MustExec("UPDATE campaigns SET name = 'other' WHERE id = $1", first)
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Upsert = %v, want success after retrying the deadlock", err)
	}
	if !strings.Contains(logs.String(), "40P01") {
		t.Errorf("no deadlock (40P01) retried in the logs:\n%s", logs)
	}
	for _, id := range []string{"a", "b"} {
		if got := mustGet(t, s, "a", id); got.Name != "store" || got.Budget != "2" {
			t.Errorf("%s = %+v, want the store's retried write", id, got)
		}
	}
}

// waitForLockWait waits until a connection named app waits for a lock.
func waitForLockWait(t *testing.T, schema *postgrestest.Schema, app string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var waiting bool
		err := schema.DB.Get(&waiting, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock')`, app)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the store never waited for the lock")
}

func TestRetriesASerializationFailure(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	logs := &logBuffer{}
	// A service whose transactions default to REPEATABLE READ: a row
	// changed by another transaction since the snapshot cannot be updated.
	db := openPool(t, schema, map[string]string{"default_transaction_isolation": "repeatable read"})
	s := newStoreOn(t, db, withLogs(fastRetries, logs))
	ctx := context.Background()
	if err := s.Upsert(ctx, "a", []store.Campaign{{ID: "a", Budget: "1"}}); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	s.hook = func(point string, tx *sql.Tx) error {
		if point != "staged" || attempts.Add(1) > 1 {
			return nil
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM campaigns").Scan(&n); err != nil { // takes the snapshot
			return err
		}
		schema.DB.MustExec("UPDATE campaigns SET name = 'other' WHERE id = 'a'")
		return nil
	}
	if err := s.Upsert(ctx, "a", []store.Campaign{{ID: "a", Name: "store", Budget: "2"}}); err != nil {
		t.Fatalf("Upsert = %v, want success after retrying the serialization failure", err)
	}
	if !strings.Contains(logs.String(), "40001") {
		t.Errorf("no serialization failure (40001) retried in the logs:\n%s", logs)
	}
	if got := mustGet(t, s, "a", "a"); got.Name != "store" {
		t.Errorf("a = %+v, want the store's retried write", got)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	live := context.Background()
	expired, cancel := context.WithTimeout(live, -time.Second)
	defer cancel()
	cancelled, cancel2 := context.WithCancel(live)
	cancel2()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		err         error
		unavailable bool
		is          error
	}{
		{"admin shutdown", live, &pq.Error{Code: "57P01"}, true, nil},
		{"cannot connect now", live, &pq.Error{Code: "57P03"}, true, nil},
		{"serialization", live, &pq.Error{Code: "40001"}, true, nil},
		{"deadlock", live, &pq.Error{Code: "40P01"}, true, nil},
		{"connection refused", live, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true, syscall.ECONNREFUSED},
		{"reset", live, fmt.Errorf("read: %w", syscall.ECONNRESET), true, syscall.ECONNRESET},
		{"bad connection", live, driver.ErrBadConn, true, driver.ErrBadConn},
		{"the attempt's deadline", expired, context.DeadlineExceeded, true, context.DeadlineExceeded},
		{"a deadline the driver did not report", expired, errors.New("pq: canceling statement due to user request"), true, context.DeadlineExceeded},
		{"cancelled", cancelled, context.Canceled, false, context.Canceled},
		{"check violation", live, &pq.Error{Code: "23514"}, false, nil},
		{"undefined table", live, &pq.Error{Code: "42P01"}, false, nil},
		{"already unavailable", live, fmt.Errorf("x: %w", store.ErrUnavailable), true, nil},
	} {
		err := classify(tc.ctx, "op", tc.err)
		if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: classify = %v; errors.Is(err, store.ErrUnavailable) = %v, want %v", tc.name, err, got, tc.unavailable)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: classify = %v; want it to wrap %v", tc.name, err, tc.is)
		}
	}
	if classify(live, "op", nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

func TestTransientClassification(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"57P01": true, "57P02": true, "57P03": true, "53300": true, "40001": true, "40P01": true,
		"08006": true, "08000": true, "08P01": true,
		"23505": false, "22P02": false, "42P01": false, "57014": false, "53100": false, "0800": false,
	} {
		if got := transientCode(code); got != want {
			t.Errorf("transientCode(%s) = %v, want %v", code, got, want)
		}
	}
}
