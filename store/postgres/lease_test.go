package postgres

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

// The environment of a child test process: the role it plays and its
// database.
const (
	childRole     = "ADSYNC_POSTGRES_TEST_CHILD"
	childDatabase = "ADSYNC_POSTGRES_TEST_DATABASE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childRole) {
	case "":
		os.Exit(postgrestest.Main(m))
	case "hold":
		os.Exit(childHold())
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
}

// childHold acquires account "acct", prints "acquired GENERATION", and
// holds it until it is killed.
func childHold() int {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(childDatabase), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := s.Acquire(ctx, "acct")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("acquired %d\n", l.(*lease).generation)
	select {}
}

// mustAcquire acquires the account or fails t; the lease is released when
// t ends.
func mustAcquire(t *testing.T, s *Store, account string) *lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), account)
	if err != nil {
		t.Fatalf("Acquire(%q) = %v", account, err)
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	return l.(*lease)
}

// mustStart starts or resumes a run of l, or fails t.
func mustStart(t *testing.T, l store.Lease) store.Run {
	t.Helper()
	r, err := l.StartRun(context.Background(), store.StartOptions{})
	if err != nil {
		t.Fatalf("StartRun = %v", err)
	}
	return r
}

// acquireSoon polls Acquire until it succeeds, for at most a generous
// deadline: the account is being freed by the server.
func acquireSoon(t *testing.T, s *Store, account string) *lease {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := s.Acquire(context.Background(), account)
		if err == nil {
			t.Cleanup(func() { l.Release(context.Background()) })
			return l.(*lease)
		}
		if !errors.Is(err, store.ErrAccountBusy) || time.Now().After(deadline) {
			t.Fatalf("Acquire(%q) = %v; want the account freed", account, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dbGeneration reads the account's generation.
func dbGeneration(t *testing.T, db *sqlx.DB, account string) int64 {
	t.Helper()
	var g int64
	if err := db.Get(&g, "SELECT generation FROM accounts WHERE account_id = $1", account); err != nil {
		t.Fatal(err)
	}
	return g
}

// A holder killed with SIGKILL frees its account at once: its connection
// closes with the process, and PostgreSQL ends the session and its lock.
func TestKilledHolderFreesTheAccount(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	s, schema := newTestStore(t, Options{})
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childRole+"=hold", childDatabase+"="+schema.URL)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child did not acquire the account: %v", err)
	}
	childGen, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "acquired "), 10, 64)
	if err != nil {
		t.Fatalf("the child said %q", line)
	}
	_, err = s.Acquire(context.Background(), "acct")
	var ae *store.AccountError
	if !errors.Is(err, store.ErrAccountBusy) || !errors.As(err, &ae) || !strings.Contains(err.Error(), `"acct"`) {
		t.Fatalf("Acquire while another process holds the account = %v; want ErrAccountBusy naming it", err)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	killed := time.Now()
	l := acquireSoon(t, s, "acct")
	t.Logf("acquired %v after the holder was killed", time.Since(killed).Round(time.Millisecond))
	if l.generation != childGen+1 {
		t.Errorf("generation %d after the killed holder's %d; want %d", l.generation, childGen, childGen+1)
	}
	mustStart(t, l)
}

// When the lease's connection is terminated, its next call takes the
// account back on a new connection, with the same generation, and goes on.
func TestLeaseTakesTheAccountBackAfterItsConnectionDied(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	ctx := context.Background()
	l := mustAcquire(t, s, "acct")
	run := mustStart(t, l)
	batch := makeCampaigns(4, 0)
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch[:2]}); err != nil {
		t.Fatal(err)
	}
	before, generation := l.session, l.generation
	schema.DB.MustExec("SELECT pg_terminate_backend($1, 5000)", before.pid)

	err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch[2:], Progress: store.RunCounts{Seen: 4, Synced: 4}})
	if err != nil {
		t.Fatalf("Commit after the lease's connection was terminated = %v; want it to reconnect and go on", err)
	}
	if l.session.pid == before.pid {
		t.Errorf("the lease still uses the terminated session %d", before.pid)
	}
	if l.generation != generation || dbGeneration(t, schema.DB, "acct") != generation {
		t.Errorf("generation %d (database %d) after reconnecting; want %d unchanged", l.generation, dbGeneration(t, schema.DB, "acct"), generation)
	}
	mustGet(t, s, "acct", batch[3].ID)
	if _, err := s.Acquire(ctx, "acct"); !errors.Is(err, store.ErrAccountBusy) {
		t.Errorf("Acquire after the lease reconnected = %v; want ErrAccountBusy: it holds the account again", err)
	}
}

// When the lease's connection died and another holder took the account
// meanwhile, the lease is lost: every call fails with ErrAccountLost, and
// it never writes over the new holder's rows.
func TestLeaseLostWhenAnotherHolderTookTheAccount(t *testing.T) {
	t.Parallel()
	for _, released := range []bool{false, true} {
		t.Run(fmt.Sprintf("released=%v", released), func(t *testing.T) {
			t.Parallel()
			s, schema := newTestStore(t, Options{})
			ctx := context.Background()
			l1 := mustAcquire(t, s, "acct")
			run := mustStart(t, l1)
			c := makeCampaigns(1, 0)[0]
			if err := l1.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: []store.Campaign{c}}); err != nil {
				t.Fatal(err)
			}
			schema.DB.MustExec("SELECT pg_terminate_backend($1, 5000)", l1.session.pid)

			l2 := acquireSoon(t, s, "acct")
			if l2.generation != l1.generation+1 {
				t.Errorf("the new holder's generation is %d; want %d", l2.generation, l1.generation+1)
			}
			run2 := mustStart(t, l2)
			theirs := c
			theirs.Name, theirs.ListedAt = "written by the new holder", c.ListedAt.Add(time.Hour)
			if err := l2.Commit(ctx, store.Batch{RunID: run2.ID, Campaigns: []store.Campaign{theirs}}); err != nil {
				t.Fatal(err)
			}
			if released {
				l2.Release(ctx)
			}

			mine := c
			mine.Name, mine.ListedAt = "written by the lost lease", c.ListedAt.Add(2*time.Hour)
			err := l1.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: []store.Campaign{mine}})
			var ae *store.AccountError
			if !errors.Is(err, store.ErrAccountLost) || !errors.As(err, &ae) || ae.AccountID != "acct" {
				t.Fatalf("Commit of the lease whose account another holder took = %v; want ErrAccountLost", err)
			}
			if _, err := l1.StartRun(ctx, store.StartOptions{}); !errors.Is(err, store.ErrAccountLost) {
				t.Errorf("StartRun of the lost lease = %v; want ErrAccountLost", err)
			}
			if got := mustGet(t, s, "acct", c.ID); got.Name != theirs.Name {
				t.Errorf("the campaign reads %q; want the new holder's %q", got.Name, theirs.Name)
			}
			if !released {
				if err := l2.Commit(ctx, store.Batch{RunID: run2.ID, Progress: store.RunCounts{Seen: 1}}); err != nil {
					t.Errorf("the new holder's Commit after the lost lease tried = %v", err)
				}
			} else if _, err := s.Acquire(ctx, "acct"); err != nil {
				t.Errorf("Acquire after the lost lease tried = %v; want the account free: a lost lease holds nothing", err)
			}
		})
	}
}

// throughProxy returns a migrated store whose pool connects through a
// proxy the test drives, and the proxy.
func throughProxy(t *testing.T, opts Options) (*Store, *postgrestest.Schema, *postgrestest.Proxy) {
	t.Helper()
	schema := postgrestest.New(t)
	proxy := postgrestest.NewProxy(t, schema.URL)
	db, err := sqlx.Open("postgres", proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newStoreOn(t, db, opts), schema, proxy
}

// While the database is unreachable every call of the lease fails with
// ErrUnavailable (it may be retried), and when the database is back the
// lease takes its account back, with the same generation, and goes on.
func TestLeaseWaitsOutAnOutage(t *testing.T) {
	t.Parallel()
	s, schema, proxy := throughProxy(t, Options{})
	ctx := context.Background()
	l := mustAcquire(t, s, "acct")
	run := mustStart(t, l)
	batch := makeCampaigns(6, 0)
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch[:3]}); err != nil {
		t.Fatal(err)
	}
	generation := l.generation

	proxy.Refuse()
	proxy.Cut()
	for i := range 3 {
		err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch[3:]})
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrAccountLost) {
			t.Fatalf("Commit %d while the database is unreachable = %v; want ErrUnavailable", i, err)
		}
	}
	if _, err := l.SyncedSince(ctx, []string{batch[0].ID}, time.Time{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("SyncedSince while the database is unreachable = %v; want ErrUnavailable", err)
	}
	if err := s.Upsert(ctx, "other", batch); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Upsert while the database is unreachable = %v; want ErrUnavailable after its retries", err)
	}

	proxy.Allow()
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch[3:], Progress: store.RunCounts{Seen: 6, Synced: 6}}); err != nil {
		t.Fatalf("Commit once the database is back = %v; want the lease to go on", err)
	}
	if l.generation != generation || dbGeneration(t, schema.DB, "acct") != generation {
		t.Errorf("generation after the outage: lease %d, database %d; want %d", l.generation, dbGeneration(t, schema.DB, "acct"), generation)
	}
	for _, c := range batch {
		mustGet(t, s, "acct", c.ID)
	}
}

// A Commit whose connection is cut part way, after its campaigns were
// merged and before it committed, leaves nothing written: no campaign, no
// dead letter, no progress, no state. Committed again once the database is
// back, the batch is recorded once.
func TestCommitCutPartWayWritesNothing(t *testing.T) {
	t.Parallel()
	for _, back := range []bool{false, true} {
		t.Run(fmt.Sprintf("back_at_once=%v", back), func(t *testing.T) {
			t.Parallel()
			s, schema, proxy := throughProxy(t, Options{})
			ctx := context.Background()
			l := mustAcquire(t, s, "acct")
			run := mustStart(t, l)
			cuts := 0
			s.hook = func(point string, _ *sql.Tx) error {
				if point == "merged" && cuts == 0 {
					cuts++
					if !back {
						proxy.Refuse()
					}
					proxy.Cut()
				}
				return nil
			}
			b := store.Batch{
				RunID: run.ID, Campaigns: makeCampaigns(5, 0),
				DeadLetters: []store.DeadLetter{{CampaignID: "failed", Data: []byte("{}"), Error: "HTTP 500"}},
				Progress:    store.RunCounts{Seen: 6, Synced: 5, Failed: 1}, State: []byte("state"),
			}
			err := l.Commit(ctx, b)
			if cuts != 1 {
				t.Fatalf("the connection was cut %d times; want once", cuts)
			}
			if back {
				// The connection died before the commit: the lease took
				// its account back and wrote the batch on a new one.
				if err != nil {
					t.Fatalf("Commit cut part way, the database still there = %v; want it done on a new connection", err)
				}
			} else {
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("Commit cut part way = %v; want ErrUnavailable", err)
				}
				for table, where := range map[string]string{
					"campaigns": "true", "dead_letters": "true", "runs": "seen > 0", "accounts": "state IS NOT NULL",
				} {
					if n := countWhere(t, schema.DB, table, where); n != 0 {
						t.Errorf("after a Commit cut part way, %d rows of %s where %s; want none", n, table, where)
					}
				}
				proxy.Allow()
				if err := l.Commit(ctx, b); err != nil {
					t.Fatalf("Commit again once the database is back = %v", err)
				}
			}
			if n := countWhere(t, schema.DB, "campaigns", "true"); n != 5 {
				t.Errorf("%d campaigns; want the batch's 5", n)
			}
			letters, err := s.DeadLetters(ctx, "acct", "", 10)
			if err != nil || len(letters) != 1 || letters[0].Attempts != 1 {
				t.Errorf("dead letters %+v, %v; want one, with one attempt: the batch was recorded once", letters, err)
			}
		})
	}
}

// countWhere counts the rows of a table of the test's schema.
func countWhere(t *testing.T, db *sqlx.DB, table, where string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM "+table+" WHERE "+where); err != nil {
		t.Fatal(err)
	}
	return n
}

// Accounts of two schemas in one database never share a lock, though the
// first account of each has the same lock_key: the lock is keyed by the
// schema's oid too.
func TestAccountsOfTwoSchemasDoNotShareALock(t *testing.T) {
	t.Parallel()
	a, schemaA := newTestStore(t, Options{})
	b, _ := newTestStore(t, Options{})
	la, lb := mustAcquire(t, a, "acct"), mustAcquire(t, b, "acct")
	if la.key.account != lb.key.account || la.key.schema == lb.key.schema {
		t.Fatalf("lock keys %+v and %+v: the test wants the same lock_key in two schemas", la.key, lb.key)
	}
	var locks int
	if err := schemaA.DB.Get(&locks, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
			AND objid = $1::bigint::oid AND classid IN ($2::bigint::oid, $3::bigint::oid) AND granted`,
		int64(la.key.account), int64(la.key.schema), int64(lb.key.schema)); err != nil {
		t.Fatal(err)
	}
	if locks != 2 {
		t.Errorf("%d advisory locks held for the two accounts; want 2", locks)
	}
}

// A call cut short by its context's deadline (a caller's per-attempt
// timeout) fails with ErrUnavailable and context.DeadlineExceeded, and
// the lease keeps its account and its connection: the server ended the
// statement (statement_timeout) before the context had to, so the session
// and its lock live on, and the next call goes on.
func TestLeaseCallPastItsDeadline(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	l := mustAcquire(t, s, "acct")
	run := mustStart(t, l)
	session := l.session
	// Another transaction holds the run's row: the Commit waits for it.
	other, err := schema.DB.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	other.MustExec("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", run.ID)

	// 3s: the server gives up 300ms before the context, room enough on a
	// loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: makeCampaigns(2, 0)})
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Commit past its deadline = %v; want ErrUnavailable and context.DeadlineExceeded", err)
	}
	other.Rollback()
	if err := l.Commit(context.Background(), store.Batch{RunID: run.ID, Campaigns: makeCampaigns(2, 0)}); err != nil {
		t.Fatalf("Commit after a call past its deadline = %v", err)
	}
	if l.session != session {
		t.Errorf("the lease changed its session (%v, was %v) after a deadline: it should have kept its connection", l.session, session)
	}
	if n := countWhere(t, schema.DB, "campaigns", "true"); n != 2 {
		t.Errorf("%d campaigns; want the 2 of the Commit that went through", n)
	}
}

// Acquire while the database is unreachable is unavailable, not busy.
func TestAcquireWhileUnreachable(t *testing.T) {
	t.Parallel()
	s, _, proxy := throughProxy(t, Options{})
	proxy.Refuse()
	proxy.Cut()
	_, err := s.Acquire(context.Background(), "acct")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrAccountBusy) {
		t.Fatalf("Acquire while the database is unreachable = %v; want ErrUnavailable", err)
	}
	proxy.Allow()
	mustAcquire(t, s, "acct")
}

// Release frees the account at once, even with a cancelled context (it is
// what a stopping process does last): the next Acquire needs no retry.
func TestReleaseWithACancelledContext(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	for range 3 {
		l := mustAcquire(t, s, "acct")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Release(ctx); err != nil {
			t.Fatalf("Release = %v", err)
		}
	}
}

// A pool whose every connection is a lease's would make the leases' own
// reads wait forever: Acquire refuses the lease that would leave no
// connection for anything else, saying why, and accepts it again once a
// lease is released.
func TestAcquireRefusesToExhaustThePool(t *testing.T) {
	t.Parallel()
	schema := postgrestest.New(t)
	db := openPool(t, schema, nil) // MaxOpenConns 4
	s := newStoreOn(t, db, Options{})
	ctx := context.Background()
	var leases []store.Lease
	for _, acct := range []string{"a", "b", "c"} {
		leases = append(leases, mustAcquire(t, s, acct))
	}
	_, err := s.Acquire(ctx, "d")
	if !errors.Is(err, ErrPoolTooSmall) || !strings.Contains(err.Error(), "MaxOpenConns is 4") {
		t.Fatalf("fourth Acquire on a pool of 4 = %v; want ErrPoolTooSmall naming MaxOpenConns", err)
	}
	// The three leases can still read, write and release.
	for _, l := range leases {
		run := mustStart(t, l)
		if _, err := l.DeadLetters(ctx, "", 10); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: makeCampaigns(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := leases[0].Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leases[0].Release(ctx); err != nil { // twice: counted once
		t.Fatal(err)
	}
	l := mustAcquire(t, s, "d")
	defer l.Release(ctx)
	if _, err := s.Acquire(ctx, "e"); !errors.Is(err, ErrPoolTooSmall) {
		t.Fatalf("Acquire with three leases again = %v; want ErrPoolTooSmall", err)
	}
}
