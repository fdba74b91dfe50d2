package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/exectest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

// workerBin is the binary under test, built once by TestMain (with the race
// detector when the tests have it).
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adsync-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := exectest.Build(dir, ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = bins["worker"]
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binDir holds the binaries built for the tests.
var binDir string

// testPassword is the fake's password in these tests: a secret no output
// may show.
const testPassword = "Fake-Pa55w0rd-Qx7"

// testDB creates a schema for the test and returns the test database's URL
// with its search_path set to it, and the store on it; the schema is
// dropped when the test ends. The name is short: River names NOTIFY
// channels "<schema>.river_leadership", which PostgreSQL caps at 63 bytes.
func testDB(t testing.TB) (string, *postgres.Store) {
	t.Helper()
	base := postgrestest.URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "wk_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		_ = admin.Close()
	})
	if _, err := admin.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatal(err)
	}
	u, err := neturl.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL for these tests", postgrestest.EnvURL)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(context.Background(), u.String(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return u.String(), st
}

// fakePlatform is a fake platform served on loopback for one test.
type fakePlatform struct {
	URL      string
	Platform *adplatformtest.Platform
}

// fake starts a fake platform with short windows for the test. It is served
// by an httptest.Server, whose Close waits for every request in flight: a
// worker killed or quitting at once leaves requests behind it, which must
// be done before the test's cleanup reads or closes the fake.
func fake(t *testing.T, opts adplatformtest.Options) *fakePlatform {
	t.Helper()
	opts.Password = testPassword
	if opts.Campaigns == 0 {
		opts.Campaigns = 20
	}
	if opts.RateLimit == 0 {
		opts.RateLimit, opts.RateWindow = 10, time.Second
	}
	if opts.SyncLatency == 0 {
		opts.SyncLatency = 20 * time.Millisecond
	}
	p, err := adplatformtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		p.Close() // releases the requests it holds
		srv.Close()
	})
	return &fakePlatform{URL: srv.URL, Platform: p}
}

func env(dbURL string, p *fakePlatform) []string {
	return []string{
		"DATABASE_URL=" + dbURL,
		"AD_PLATFORM_API_URL=" + p.URL,
		"AD_PLATFORM_EMAIL=" + adplatformtest.DefaultEmail,
		"AD_PLATFORM_PASSWORD=" + testPassword,
	}
}

// fast are the flags that make a worker quick on the fake's short windows.
// The client's rate is half the fake's (5 against 10 per second), so that
// the fake answers 429 only if it logs three of a client's windows inside
// one of its own. The fake is race-instrumented and runs in the test
// process, beside every other package's tests: on a busy machine it logs a
// request tens to hundreds of milliseconds after the client wrote it, and
// once a window's requests were logged late and the next window's on time,
// a client at 6 against 10 per 500 ms earned 429s that no client would earn
// from a platform elsewhere. Now the fake would have to hold a window's
// requests back for more than a whole window and two margins (over a
// second) before they could meet the requests of two later windows. These
// tests are about the worker; pacing at the exact rate is the scale test's
// (its fake is a process of its own, built without -race).
var fast = []string{"-rate", "5/1s", "-poll-interval", "50ms", "-log-level", "warn"}

func args(extra ...string) []string { return append(append([]string(nil), fast...), extra...) }

func noSecret(t *testing.T, p *exectest.Proc) {
	t.Helper()
	for _, out := range []string{p.Stdout(), p.Stderr()} {
		if strings.Contains(out, testPassword) {
			t.Errorf("the worker printed the platform's password:\n%s", out)
		}
	}
}

func TestConfigErrorsNameTheCulpritAndExit2(t *testing.T) {
	t.Parallel()
	good := []string{"DATABASE_URL=postgres://u:DbSecret-9@127.0.0.1:1/x"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no database", nil, nil, "DATABASE_URL not set"},
		{"no accounts", good, []string{"-accounts", ""}, "-accounts: no account given"},
		{"twice", good, []string{"-accounts", "a,b,a"}, `-accounts: "a" given twice`},
		{"workers", good, []string{"-workers", "0"}, "-workers: must be at least 1"},
		{"every", good, []string{"-every", "-1s"}, "-every: must not be negative"},
		{"log format", good, []string{"-log-format", "xml"}, "-log-format: want text or json"},
		{"rate", good, []string{"-rate", "abc"}, `invalid value "abc" for flag -rate`},
		{"credentials", append(good, "AD_PLATFORM_API_URL=http://127.0.0.1:1"), nil, "AD_PLATFORM_EMAIL and AD_PLATFORM_PASSWORD not set"},
		{"url with a password", append(good, "AD_PLATFORM_API_URL=http://u:UrlSecret-5@h"), nil, "AD_PLATFORM_API_URL: must not hold credentials"},
		{"database down", []string{"DATABASE_URL=postgres://u:DbSecret-9@127.0.0.1:1/x?connect_timeout=2"}, nil, "connect to PostgreSQL at 127.0.0.1:1/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := exectest.Run(t, 30*time.Second, workerBin, tc.env, tc.args...)
			if code := p.ExitCode(); code != exitStartup {
				t.Errorf("exit %d, want %d", code, exitStartup)
			}
			if !strings.Contains(p.Stderr(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, p.Stderr())
			}
			for _, secret := range []string{"DbSecret-9", "UrlSecret-5"} {
				if strings.Contains(p.Stderr()+p.Stdout(), secret) {
					t.Errorf("output holds the secret %q:\n%s", secret, p.Stderr())
				}
			}
		})
	}
}

func TestOnceSyncsEveryAccountThenExits0(t *testing.T) {
	t.Parallel()
	dbURL, st := testDB(t)
	p := fake(t, adplatformtest.Options{})
	w := exectest.Run(t, 2*time.Minute, workerBin, env(dbURL, p), args("-once", "-accounts", "acme,globex,initech")...)
	if code := w.ExitCode(); code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, w.Stderr())
	}
	noSecret(t, w)
	for _, id := range []string{"acme", "globex", "initech"} {
		run, err := st.LastCompletedRun(context.Background(), id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if run.Synced != 20 {
			t.Errorf("%s: %d campaigns synced, want 20", id, run.Synced)
		}
	}
	if s := p.Platform.Stats(); s.RateLimited != 0 {
		t.Errorf("%d 429s, want none", s.RateLimited)
	}
	if got := p.Platform.Stats().ClientIDs; len(got) != 3 {
		t.Errorf("client ids %v, want one per account", got)
	}
}

func TestReplicasStartingTogetherShareTheAccounts(t *testing.T) {
	t.Parallel()
	dbURL, st := testDB(t)
	p := fake(t, adplatformtest.Options{})
	accounts := "a1,a2,a3,a4,a5,a6"
	var procs []*exectest.Proc
	for i := range 3 { // migrate at once, enqueue at once
		procs = append(procs, exectest.Start(t, workerBin, env(dbURL, p), args("-once", "-accounts", accounts, "-workers", "2", "-name", fmt.Sprintf("r%d", i))...))
	}
	for i, w := range procs {
		if code := w.Wait(t, 2*time.Minute); code != exitOK {
			t.Errorf("replica %d: exit %d:\n%s", i, code, w.Stderr())
		}
	}
	for _, id := range strings.Split(accounts, ",") {
		runs, err := st.Runs(context.Background(), id, store.RunQuery{Limit: 10})
		if err != nil || len(runs) == 0 || runs[0].Status != store.RunCompleted {
			t.Errorf("%s: runs %v (%v), want a completed one", id, runs, err)
		}
	}
	if s := p.Platform.Stats(); s.RateLimited != 0 {
		t.Errorf("%d 429s, want none", s.RateLimited)
	}
}

func TestMetricsAndHealthz(t *testing.T) {
	t.Parallel()
	dbURL, _ := testDB(t)
	// Slow enough to ask /healthz before the first run completes.
	p := fake(t, adplatformtest.Options{Campaigns: 30, SyncLatency: 100 * time.Millisecond})
	w := exectest.Start(t, workerBin, env(dbURL, p), args("-accounts", "acme,globex", "-every", "1h", "-metrics-addr", "127.0.0.1:0")...)
	m := w.WaitStderr(t, regexp.MustCompile(`serving /metrics and /healthz on (http://\S+)`), time.Minute)
	base := m[1]

	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before any run: %d, want 503: %s", code, body)
	}
	var rep healthReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/healthz body %q: %v", body, err)
	}
	if rep.Status != "unhealthy" || len(rep.Accounts) != 2 || rep.Accounts[0].Problem != "no completed run yet" {
		t.Errorf("/healthz before any run: %+v", rep)
	}

	deadline := time.Now().Add(time.Minute)
	for code != http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		code, body = get(t, base+"/healthz")
	}
	if code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz after the runs: %d %s", code, body)
	}
	code, body = get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{"http_client_request_duration_seconds_count", `adsync_account_id="acme"`, `adsync_account_id="globex"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	w.Signal(t, syscall.SIGTERM)
	if code := w.Wait(t, time.Minute); code != exitOK {
		t.Errorf("exit after SIGTERM %d, want 0", code)
	}
	noSecret(t, w)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSIGTERMStopsGracefullyAndAnotherReplicaResumes(t *testing.T) {
	t.Parallel()
	dbURL, st := testDB(t)
	// 60 campaigns at 5 per second: about 12 s per run.
	p := fake(t, adplatformtest.Options{Campaigns: 60, SyncLatency: 100 * time.Millisecond})
	a := exectest.Start(t, workerBin, env(dbURL, p), args("-accounts", "acme", "-soft-stop", "100ms", "-grace-period", "5s", "-log-level", "info", "-name", "a")...)
	a.WaitStderr(t, regexp.MustCompile(`run started`), time.Minute)
	deadline := time.Now().Add(time.Minute)
	for p.Platform.Stats().Endpoints["sync"].Accepted < 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	a.Signal(t, syscall.SIGTERM)
	if code := a.Wait(t, time.Minute); code != exitOK {
		t.Fatalf("exit after SIGTERM %d, want 0:\n%s", code, a.Stderr())
	}
	runs, err := st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunInterrupted {
		t.Fatalf("after SIGTERM: runs %+v (%v), want one interrupted", runs, err)
	}
	stopped := runs[0].Synced

	b := exectest.Run(t, 2*time.Minute, workerBin, env(dbURL, p), args("-once", "-accounts", "acme", "-name", "b")...)
	if code := b.ExitCode(); code != exitOK {
		t.Fatalf("replica b: exit %d:\n%s", code, b.Stderr())
	}
	run, err := st.LastCompletedRun(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != runs[0].ID || run.Skipped < stopped {
		t.Errorf("replica b's run %s skipped %d, want the interrupted run %s resumed, skipping the %d it synced", run.ID, run.Skipped, runs[0].ID, stopped)
	}
	synced := 0
	for id, s := range p.Platform.Stats().Syncs {
		if s.Succeeded > 1 {
			t.Errorf("campaign %s synced %d times", id, s.Succeeded)
		}
		synced++
	}
	if synced != 60 {
		t.Errorf("%d campaigns synced, want 60", synced)
	}
	if s := p.Platform.Stats(); s.RateLimited != 0 {
		t.Errorf("%d 429s, want none", s.RateLimited)
	}
}

func TestSecondSignalQuitsAtOnce(t *testing.T) {
	t.Parallel()
	dbURL, _ := testDB(t)
	p := fake(t, adplatformtest.Options{Campaigns: 100, SyncLatency: 100 * time.Millisecond})
	w := exectest.Start(t, workerBin, env(dbURL, p), args("-accounts", "acme", "-log-level", "info", "-soft-stop", "1m")...)
	w.WaitStderr(t, regexp.MustCompile(`run started`), time.Minute)
	w.Signal(t, syscall.SIGTERM)
	w.WaitStderr(t, regexp.MustCompile(`worker: stopping`), time.Minute)
	w.Signal(t, syscall.SIGINT)
	if code := w.Wait(t, 30*time.Second); code != exitForced {
		t.Errorf("exit %d after a second signal, want %d", code, exitForced)
	}
	if !strings.Contains(w.Stderr(), "quitting now") {
		t.Errorf("stderr does not say it quits:\n%s", w.Stderr())
	}
}

func TestLogFormatJSONWritesOnlyJSON(t *testing.T) {
	t.Parallel()
	dbURL, _ := testDB(t)
	p := fake(t, adplatformtest.Options{})
	w := exectest.Run(t, 2*time.Minute, workerBin, env(dbURL, p), args("-once", "-accounts", "acme", "-log-format", "json", "-log-level", "debug")...)
	if code := w.ExitCode(); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, w.Stderr())
	}
	lines := strings.Split(strings.TrimSpace(w.Stderr()), "\n")
	if len(lines) < 5 {
		t.Fatalf("only %d lines on stderr:\n%s", len(lines), w.Stderr())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("stderr line is not JSON: %q", l)
		}
	}
	if !strings.Contains(w.Stderr(), `"msg":"worker: -once: every account has completed a sync since the start"`) {
		t.Errorf("no record saying -once is done:\n%s", w.Stderr())
	}
	noSecret(t, w)
}
