package syncer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/store/postgres/postgrestest"
	"github.com/adsync/adsync/syncer"
)

// newPostgresStore returns a migrated PostgreSQL store in a schema of its
// own, and the schema.
func newPostgresStore(t testing.TB) (*postgres.Store, *postgrestest.Schema) {
	t.Helper()
	schema := postgrestest.New(t)
	st, err := postgres.New(schema.DB, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, schema
}

// The reference behaviour end to end into PostgreSQL, failures and
// RetryFailed included.
func TestRunPostgres(t *testing.T) {
	t.Parallel()
	st, _ := newPostgresStore(t)
	srv := startPlatform(t, adplatformtest.Options{SyncErrors: map[string]int{"campaign_42": 503}})
	rep := run(t, newSyncer(t, serverClient(t, srv), st, syncer.Options{}))
	if rep.Synced != 99 || rep.Failed != 1 || rep.Failures[0].CampaignID != "campaign_42" {
		t.Fatalf("report %+v", rep)
	}
	letters, err := st.DeadLetters(context.Background(), "acct", "", 10)
	if err != nil || len(letters) != 1 || !strings.Contains(string(letters[0].Data), `"id":"campaign_42"`) {
		t.Fatalf("dead letters %+v, %v", letters, err)
	}

	healed := startPlatform(t, adplatformtest.Options{})
	retry, err := newSyncer(t, serverClient(t, healed), st, syncer.Options{}).RetryFailed(context.Background())
	if err != nil || retry.Synced != 1 {
		t.Fatalf("RetryFailed: %+v, %v", retry, err)
	}
	if n := len(syncedIDs(t, st, "acct", 100)); n != 100 {
		t.Errorf("%d of 100 campaigns synced", n)
	}
}

// Two syncers, two accounts, one PostgreSQL store, at once.
func TestTwoAccountsSharePostgres(t *testing.T) {
	t.Parallel()
	st, _ := newPostgresStore(t)
	srvA := startPlatform(t, adplatformtest.Options{Campaigns: 40})
	srvB := startPlatform(t, adplatformtest.Options{Campaigns: 30})
	errs := make(chan error, 2)
	reports := make(chan syncer.Report, 2)
	for _, acct := range []struct {
		id  string
		srv *adplatformtest.Server
	}{{"a", srvA}, {"b", srvB}} {
		s := newSyncer(t, serverClient(t, acct.srv, func(o *adplatform.Options) { o.ClientID = "client-" + acct.id }), st, syncer.Options{AccountID: acct.id})
		go func() {
			rep, err := s.Run(context.Background())
			reports <- rep
			errs <- err
		}()
	}
	got := map[string]syncer.Report{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		rep := <-reports
		got[rep.AccountID] = rep
	}
	checkAllStored(t, got["a"], srvA.Platform, st, "a", 40)
	checkAllStored(t, got["b"], srvB.Platform, st, "b", 30)
	if _, err := st.Get(context.Background(), "b", "campaign_35"); err == nil {
		t.Error("account b holds account a's campaign_35")
	}
}

// A run killed with SIGKILL leaves the store consistent; the next run
// resumes it and does not sync again what was recorded synced.
func TestKillAndResumePostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	st, schema := newPostgresStore(t)
	srv := startPlatform(t, adplatformtest.Options{Campaigns: 80, SyncLatency: 40 * time.Millisecond})

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childRole+"=sync", childPlatform+"="+srv.URL, childDatabase+"="+schema.URL)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()

	// Kill it mid-run, once some campaigns are recorded synced.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := schema.DB.Get(&n, "SELECT count(*) FROM campaigns WHERE synced_at IS NOT NULL"); err != nil {
			t.Fatal(err)
		}
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child synced only %d campaigns in 20s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	var status string
	if err := schema.DB.Get(&status, "SELECT status FROM runs"); err != nil || status != "running" {
		t.Fatalf("killed run's status %q (%v); want it left running", status, err)
	}
	before := syncedIDs(t, st, "acct", 80)
	if len(before) == 80 {
		t.Fatal("the child finished before it was killed")
	}

	rep := run(t, newSyncer(t, serverClient(t, srv), st, syncer.Options{}))
	if !rep.Resumed || rep.Skipped != len(before) || rep.Synced != 80-len(before) {
		t.Fatalf("after the kill: %+v; want resumed, %d skipped, %d synced", rep, len(before), 80-len(before))
	}
	syncs := srv.Platform.Stats().Syncs
	for id := range before {
		if calls := syncs[id].Calls; calls != 1 {
			t.Errorf("%s was recorded synced before the kill, yet called %d times", id, calls)
		}
	}
	if n := len(syncedIDs(t, st, "acct", 80)); n != 80 {
		t.Errorf("%d of 80 synced after the resume", n)
	}
}

// The environment of a child test process.
const (
	childRole     = "ADSYNC_SYNCER_TEST_CHILD"
	childPlatform = "ADSYNC_SYNCER_TEST_PLATFORM"
	childDatabase = "ADSYNC_SYNCER_TEST_DATABASE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childRole) {
	case "":
		os.Exit(postgrestest.Main(m))
	case "sync":
		os.Exit(childSync())
	case "platform":
		os.Exit(childPlatformServer())
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
}

// childSync runs one sync into PostgreSQL, to be killed.
func childSync() int {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv(childDatabase), postgres.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	client, err := adplatform.New(os.Getenv(childPlatform),
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{RateLimit: testLimit, RateWindow: testWindow})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := syncer.New(client, st, syncer.Options{AccountID: "acct", FlushInterval: 20 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep, err := s.Run(ctx)
	json.NewEncoder(os.Stdout).Encode(rep)
	if err != nil {
		return 1
	}
	return 0
}

// childPlatformServer serves a fake platform with the campaigns the parent
// asks for, prints its URL, and serves until stdin closes. Running the fake
// in another process keeps its state out of the parent's memory figures.
func childPlatformServer() int {
	var n int
	fmt.Sscan(os.Getenv(childPlatform), &n)
	srv, err := adplatformtest.NewServer(adplatformtest.Options{Campaigns: n, RateLimit: -1, SyncLatency: -1, FailEveryNthList: -1, HonestPagination: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	fmt.Println(srv.URL)
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// otherProcessStore opens a second store on schema, with a pool of its
// own, as another process would.
func otherProcessStore(t *testing.T, schema *postgrestest.Schema) *postgres.Store {
	t.Helper()
	other, err := postgres.Open(context.Background(), schema.URL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// Two stores on one database (as two processes would have) share the
// account's lock: while a run of one holds the account, a run through the
// other fails at once with ErrAccountBusy, naming it.
func TestAccountBusyAcrossStoresPostgres(t *testing.T) {
	t.Parallel()
	st, schema := newPostgresStore(t)
	other := otherProcessStore(t, schema)
	p, inFlight, open := gatedPlatform(5)
	done := make(chan error)
	go func() {
		_, err := newSyncer(t, p, st, syncer.Options{AccountID: "acme"}).Run(context.Background())
		done <- err
	}()
	<-inFlight
	_, err := newSyncer(t, p, other, syncer.Options{AccountID: "acme"}).Run(context.Background())
	if !errors.Is(err, store.ErrAccountBusy) || !strings.Contains(err.Error(), `"acme"`) {
		t.Errorf("second run: %v; want ErrAccountBusy naming the account", err)
	}
	open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A run whose lock session dies while another holder takes the account
// stops with ErrAccountLost, and writes nothing more.
func TestLostAccountPostgres(t *testing.T) {
	t.Parallel()
	st, schema := newPostgresStore(t)
	other := otherProcessStore(t, schema)
	p, inFlight, open := gatedPlatform(5)
	type outcome struct {
		rep syncer.Report
		err error
	}
	done := make(chan outcome)
	go func() {
		rep, err := newSyncer(t, p, st, syncer.Options{AccountID: "acme"}).Run(context.Background())
		done <- outcome{rep, err}
	}()
	<-inFlight

	// End the lease's session, as a dead connection would, and take the
	// account through the other store meanwhile.
	var pids []int
	if err := schema.DB.Select(&pids, `SELECT l.pid FROM pg_locks l JOIN pg_namespace n ON n.oid = l.classid
		WHERE l.locktype = 'advisory' AND n.nspname = $1`, schema.Name); err != nil || len(pids) != 1 {
		t.Fatalf("the lease's session: %v, %v; want one", pids, err)
	}
	if _, err := schema.DB.Exec(`SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
	var thief store.Lease
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for thief == nil {
		thief, err = other.Acquire(context.Background(), "acme")
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("the other store could not take the account: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer thief.Release(context.Background())

	open()
	o := <-done
	if !errors.Is(o.err, store.ErrAccountLost) {
		t.Fatalf("Run: %v; want ErrAccountLost", o.err)
	}
	var synced int
	if err := schema.DB.Get(&synced, `SELECT count(*) FROM campaigns WHERE synced_at IS NOT NULL`); err != nil || synced != 0 || o.rep.Synced != 0 {
		t.Errorf("%d campaigns stored synced (%v), report %d: want none written after the loss", synced, err, o.rep.Synced)
	}
}

// proxiedStore returns a migrated PostgreSQL store in a schema of its own
// that reaches the database through a proxy the test drives, the schema
// (for direct queries), and the proxy.
func proxiedStore(t *testing.T) (*postgres.Store, *postgrestest.Schema, *postgrestest.Proxy) {
	t.Helper()
	_, schema := newPostgresStore(t) // migrated directly
	proxy := postgrestest.NewProxy(t, schema.URL)
	db, err := sqlx.Open("postgres", proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := postgres.New(db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, schema, proxy
}

// takeDown makes the database unreachable through proxy for d, from when
// the n-th campaign is stored: new connections are refused and open ones
// cut. back is closed when it is reachable again.
func takeDown(proxy *postgrestest.Proxy, n int, d time.Duration) (obs *recorder, back <-chan struct{}) {
	up := make(chan struct{})
	return &recorder{onSynced: func(synced int) {
		if synced != n {
			return
		}
		proxy.Refuse()
		proxy.Cut()
		time.AfterFunc(d, func() {
			proxy.Allow()
			close(up)
		})
	}}, up
}

// PostgreSQL unreachable for 15 s in the middle of a run of 120 campaigns:
// the same run finishes, every campaign is stored with synced_at, and the
// platform sees at most 2 sync calls more than campaigns.
func TestDatabaseOutagePostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out a 15 s outage")
	}
	st, schema, proxy := proxiedStore(t)
	srv := startPlatform(t, adplatformtest.Options{Campaigns: 120})
	obs, back := takeDown(proxy, 30, 15*time.Second)
	rep, err := newSyncer(t, serverClient(t, srv), st, syncer.Options{BatchSize: 10, Observer: obs}).Run(context.Background())
	select {
	case <-back:
	default:
		t.Fatalf("the run ended during the outage: %v, %+v", err, rep)
	}
	if err != nil || rep.Synced != 120 || rep.Status != syncer.StatusCompleted {
		t.Fatalf("Run: %v, %+v; want the run to finish, all 120 synced", err, rep)
	}
	var stored int
	if err := schema.DB.Get(&stored, `SELECT count(*) FROM campaigns WHERE synced_at IS NOT NULL`); err != nil || stored != 120 {
		t.Errorf("%d campaigns stored with synced_at (%v), want 120", stored, err)
	}
	calls := 0
	for _, s := range srv.Platform.Stats().Syncs {
		calls += s.Calls
	}
	if calls > 122 {
		t.Errorf("%d sync calls for 120 campaigns; want at most 122", calls)
	}
	var status string
	if err := schema.DB.Get(&status, `SELECT status FROM runs`); err != nil || status != "completed" {
		t.Errorf("the run is %q (%v), want completed", status, err)
	}
}

// An outage longer than StoreRetryBudget stops the run, interrupted and
// resumable; once PostgreSQL is back, a rerun resumes it and finishes.
func TestDatabaseOutageBeyondTheBudgetPostgres(t *testing.T) {
	t.Parallel()
	st, schema, proxy := proxiedStore(t)
	srv := startPlatform(t, adplatformtest.Options{Campaigns: 120})
	obs, back := takeDown(proxy, 30, 5*time.Second)
	first, err := newSyncer(t, serverClient(t, srv), st, syncer.Options{BatchSize: 10, StoreRetryBudget: time.Second, Observer: obs}).Run(context.Background())
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "run again to resume") || first.Status != syncer.StatusInterrupted {
		t.Fatalf("Run: %v; want the database unavailable past the budget, resumable", err)
	}
	<-back
	second := run(t, newSyncer(t, serverClient(t, srv), st, syncer.Options{}))
	if !second.Resumed || second.RunID != first.RunID || second.Skipped < 30 || second.Skipped+second.Synced != 120 {
		t.Fatalf("rerun %+v; want run %s resumed, what the first stored skipped, the rest synced", second, first.RunID)
	}
	var stored int
	if err := schema.DB.Get(&stored, `SELECT count(*) FROM campaigns WHERE synced_at IS NOT NULL`); err != nil || stored != 120 {
		t.Errorf("%d campaigns stored with synced_at (%v), want 120", stored, err)
	}
}

// A campaign that passes the shared rules yet is refused by PostgreSQL (a
// CHECK constraint of the service's own) fails at Commit: the batch is
// committed again without it, it becomes a dead letter with its listed
// record, and the rest of the batch is stored.
func TestStoreRefusesAtCommitPostgres(t *testing.T) {
	t.Parallel()
	st, schema := newPostgresStore(t)
	if _, err := schema.DB.Exec(`ALTER TABLE campaigns ADD CONSTRAINT no_paused CHECK (status <> 'paused')`); err != nil {
		t.Fatal(err)
	}
	list := scriptedCampaigns(10)
	list[2].Status, list[6].Status = "paused", "paused"
	srv := startPlatform(t, adplatformtest.Options{CampaignList: list})
	rep := run(t, newSyncer(t, serverClient(t, srv), st, syncer.Options{}))
	if rep.Synced != 8 || rep.Failed != 2 || rep.Status != syncer.StatusCompletedWithFailures {
		t.Fatalf("report %+v; want 8 synced, the 2 paused ones failed", rep)
	}
	for _, f := range rep.Failures {
		var recErr *store.RecordError
		if !errors.As(f.Err, &recErr) || !strings.Contains(f.Err.Error(), "synced on the platform, but the store rejected it") {
			t.Errorf("failure %s: %v; want the store's rejection after the sync", f.CampaignID, f.Err)
		}
	}
	var stored int
	if err := schema.DB.Get(&stored, `SELECT count(*) FROM campaigns WHERE synced_at IS NOT NULL`); err != nil || stored != 8 {
		t.Errorf("%d campaigns stored synced (%v), want 8", stored, err)
	}
	letters, err := st.DeadLetters(context.Background(), "acct", "", 10)
	if err != nil || len(letters) != 2 || !strings.Contains(string(letters[0].Data), `"status":"paused"`) {
		t.Errorf("dead letters %+v (%v); want the 2 refused, with their records", letters, err)
	}
}
