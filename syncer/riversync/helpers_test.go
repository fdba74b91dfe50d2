package riversync_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	neturl "net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/store/postgres/postgrestest"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/riversync"
)

// env is one test's world: a schema of its own holding River's tables and
// adsync's, and a fake platform with short windows.
type env struct {
	db   *sql.DB
	st   *postgres.Store
	fake *adplatformtest.Server
}

func newEnv(t *testing.T, fakeOpts adplatformtest.Options) *env {
	t.Helper()
	url := shortSchema(t)
	// River reaches its tables through the connection's search_path, which
	// the URL sets: lib/pq passes it to the server at connect.
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	mig, err := rivermigrate.New(riverdatabasesql.New(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("rivermigrate: %v", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatalf("river migrate: %v", err)
	}
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("adsync migrate: %v", err)
	}
	if fakeOpts.Campaigns == 0 {
		fakeOpts.Campaigns = 5
	}
	if fakeOpts.RateLimit == 0 {
		fakeOpts.RateLimit, fakeOpts.RateWindow = 10, 200*time.Millisecond
	}
	if fakeOpts.SyncLatency == 0 {
		fakeOpts.SyncLatency = 5 * time.Millisecond
	}
	if fakeOpts.FailEveryNthList == 0 {
		fakeOpts.FailEveryNthList = -1
	}
	return &env{db: db, st: st, fake: adplatformtest.Start(t, fakeOpts)}
}

// shortSchema creates a schema for the test and returns the test
// database's URL with its search_path set to it; the schema is dropped when
// the test ends. Not postgrestest's: River names its NOTIFY channels
// "<schema>.river_leadership", which PostgreSQL caps at 63 bytes, and
// postgrestest's names, made from the test's, are longer than River allows.
func shortSchema(t *testing.T) string {
	t.Helper()
	base := postgrestest.URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rs_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		_ = admin.Close()
	})
	if _, err := admin.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := neturl.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL for these tests", postgrestest.EnvURL)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// factory is a test's account source: a set of active accounts, each
// synced with the fake's credentials (or wrong ones, for those in bad).
type factory struct {
	e          *env
	clientOpts adplatform.Options

	mu     sync.Mutex
	active map[string]bool
	bad    map[string]bool // accounts whose password is wrong
	made   map[string]int  // Syncers made, by account
}

func newFactory(e *env, accounts ...string) *factory {
	f := &factory{e: e, active: map[string]bool{}, bad: map[string]bool{}, made: map[string]int{}}
	f.clientOpts = adplatform.Options{RateLimit: 10, RateWindow: 200 * time.Millisecond}
	for _, a := range accounts {
		f.active[a] = true
	}
	return f
}

func (f *factory) Active(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active[id], nil
}

func (f *factory) Syncer(_ context.Context, id string) (*syncer.Syncer, error) {
	f.mu.Lock()
	f.made[id]++
	password := adplatformtest.DefaultPassword
	if f.bad[id] {
		password = wrongPassword
	}
	opts := f.clientOpts
	f.mu.Unlock()
	opts.ClientID = id
	client, err := adplatform.New(f.e.fake.URL, adplatform.StaticCredentials(adplatformtest.DefaultEmail, password), opts)
	if err != nil {
		return nil, err
	}
	return syncer.New(client, f.e.st, syncer.Options{AccountID: id, GracePeriod: time.Second})
}

func (f *factory) madeFor(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made[id]
}

// wrongPassword is a password the fake refuses, and a secret no job row may
// hold.
const wrongPassword = "wr0ng-Pa55word-Zq9"

// newClient returns a River client working the worker's jobs from e's
// schema, poll-only over database/sql, started unless start is false; it is
// stopped when the test ends.
func newClient(t *testing.T, e *env, w *riversync.Worker, start bool) *river.Client[*sql.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverdatabasesql.New(e.db), &river.Config{
		PollOnly:             true,
		FetchCooldown:        10 * time.Millisecond,
		FetchPollInterval:    50 * time.Millisecond,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:              workers,
		RescueStuckJobsAfter: w.RescueStuckJobsAfter(),
		Logger:               slog.New(slog.DiscardHandler),
		TestOnly:             true,
	})
	if err != nil {
		t.Fatalf("river.NewClient: %v", err)
	}
	if start {
		if err := client.Start(context.Background()); err != nil {
			t.Fatalf("start: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stop: %v", err)
			}
		})
	}
	return client
}

func newWorker(t *testing.T, f riversync.Factory, opts riversync.Options) *riversync.Worker {
	t.Helper()
	w, err := riversync.NewWorker(f, opts)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	return w
}

// jobs returns the sync jobs of account, oldest first.
func jobs(t *testing.T, client *river.Client[*sql.Tx], account string) []*rivertype.JobRow {
	t.Helper()
	res, err := client.JobList(context.Background(), river.NewJobListParams().Kinds(riversync.Kind).First(1000))
	if err != nil {
		t.Fatalf("JobList: %v", err)
	}
	var out []*rivertype.JobRow
	for _, j := range res.Jobs {
		var args riversync.SyncArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			t.Fatalf("job %d: args %s: %v", j.ID, j.EncodedArgs, err)
		}
		if args.AccountID == account {
			out = append(out, j)
		}
	}
	return out
}

// job returns account's one job.
func job(t *testing.T, client *river.Client[*sql.Tx], account string) *rivertype.JobRow {
	t.Helper()
	js := jobs(t, client, account)
	if len(js) != 1 {
		t.Fatalf("account %q has %d jobs, want 1", account, len(js))
	}
	return js[0]
}

// eventually polls cond until it holds, failing the test after a generous
// deadline: no assertion here depends on how fast a loaded machine is.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func enqueue(t *testing.T, client *river.Client[*sql.Tx], accounts ...string) int {
	t.Helper()
	n, err := riversync.Enqueue(context.Background(), client, accounts...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return n
}

// captureStdout returns what f writes to os.Stdout. The test must not be
// parallel.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = saved }()
	f()
	os.Stdout = saved
	_ = w.Close()
	return <-done
}
