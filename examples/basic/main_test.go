package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/exectest"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

// The binaries under test, built once by TestMain: the example, and the
// fake platform as a process of its own.
var basicBin, fakeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adsync-basic-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := exectest.Build(dir, ".", "../fakeplatform")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	basicBin, fakeBin = bins["basic"], bins["fakeplatform"]
	code := postgrestest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// runTimeout bounds every run of the example in these tests.
const runTimeout = 60 * time.Second

// runBasic runs the example to its end with env and args.
func runBasic(t *testing.T, env []string, args ...string) *exectest.Proc {
	t.Helper()
	return exectest.Run(t, runTimeout, basicBin, env, args...)
}

// startBasic starts the example with env and args, and returns at once.
func startBasic(t *testing.T, env []string, args ...string) *exectest.Proc {
	t.Helper()
	return exectest.Start(t, basicBin, env, args...)
}

var fakeURL = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)\n`)

// startPlatform runs examples/fakeplatform on a free port with args and
// returns the environment that points the example at it.
func startPlatform(t *testing.T, args ...string) []string {
	t.Helper()
	_, base := startPlatformProc(t, args...)
	return platformEnv(base, adplatformtest.DefaultPassword)
}

// startPlatformProc runs examples/fakeplatform on a free port with args and
// returns it and its URL.
func startPlatformProc(t *testing.T, args ...string) (*exectest.Proc, string) {
	t.Helper()
	p := exectest.Start(t, fakeBin, nil, append([]string{"-addr", "127.0.0.1:0", "-stats-interval", "0"}, args...)...)
	return p, p.WaitStdout(t, fakeURL, 30*time.Second)[1]
}

func platformEnv(base, password string) []string {
	return []string{
		envAPIURL + "=" + base,
		envEmail + "=" + adplatformtest.DefaultEmail,
		envPassword + "=" + password,
	}
}

// report is the -json report, decoded.
type report struct {
	RunID       string `json:"run_id"`
	Resumed     bool   `json:"resumed"`
	Seen        int    `json:"seen"`
	Synced      int    `json:"synced"`
	Skipped     int    `json:"skipped"`
	Failed      int    `json:"failed"`
	Interrupted bool   `json:"interrupted"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	Total       int    `json:"total"`
	Failures    []struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	} `json:"failures"`
	HTTPRequests int `json:"http_requests"`
	HTTP429      int `json:"http_429"`
	Retries      int `json:"retries"`
}

// requiredKeys are the keys the -json report promises.
var requiredKeys = []string{
	"run_id", "seen", "synced", "failed", "failures", "http_requests", "http_429",
	"retries", "token_refreshes", "duration_ms", "interrupted", "resumed", "skipped", "account_id",
	"status", "total", "retired",
}

// decodeReport checks that stdout is exactly one JSON object holding every
// required key, and nothing else, and decodes it.
func decodeReport(t *testing.T, stdout string) report {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, stdout)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 || dec.More() {
		t.Fatalf("stdout holds more than one JSON object:\n%s", stdout)
	}
	for _, k := range requiredKeys {
		if _, ok := raw[k]; !ok {
			t.Errorf("the report has no %q key: %s", k, stdout)
		}
	}
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// pgURL gives the test a schema of its own and returns a URL for it with a
// password in it, to prove the example never prints it: the test
// database's own password if it has one, else one a trusting server
// ignores.
func pgURL(t *testing.T) (*postgrestest.Schema, string, string) {
	t.Helper()
	s := postgrestest.New(t)
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Logf("%s is not a postgres:// URL: not adding a password to check for", postgrestest.EnvURL)
		return s, s.URL, ""
	}
	if pw, ok := u.User.Password(); ok {
		return s, s.URL, pw
	}
	const pw = "db-Pa55w0rd-never-shown"
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, pw)
	return s, u.String(), pw
}

// syncedRows returns the campaigns of the account stored with a sync time,
// id → synced_at.
func syncedRows(t *testing.T, s *postgrestest.Schema, account string) map[string]time.Time {
	t.Helper()
	rows, err := s.DB.Query(`SELECT id, synced_at FROM campaigns WHERE account_id = $1 AND synced_at IS NOT NULL`, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		got[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitSynced waits until at least n campaigns of the account are stored
// synced, and returns how many are.
func waitSynced(t *testing.T, s *postgrestest.Schema, account string, n int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var count int
		// The table appears once the example has migrated the schema.
		err := s.DB.Get(&count, `SELECT count(*) FROM campaigns WHERE account_id = $1 AND synced_at IS NOT NULL`, account)
		if err == nil && count >= n {
			return count
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d campaigns synced after %s (last: %d, %v)", n, timeout, count, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
