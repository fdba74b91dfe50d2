package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// Every configuration error says, in one line on stderr, what is wrong,
// naming the flag or the variable, before anything starts (no database
// opened, no embedded fake started); exits 2; and prints nothing on stdout
// (no report: no run). want is the whole of stderr, or, without a final
// newline, the start of its only line.
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	remote := platformEnv("http://127.0.0.1:9", "not-used")
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"-nope"}, "basic: flag provided but not defined: -nope (-h for help)\n"},
		{"rate not a rate", nil, []string{"-rate", "abc"}, `basic: invalid value "abc" for flag -rate: want N/DURATION, e.g. 10/1m or 10/2s (-h for help)` + "\n"},
		{"rate without window", nil, []string{"-rate", "10"}, `basic: invalid value "10" for flag -rate: want N/DURATION, e.g. 10/1m or 10/2s (-h for help)` + "\n"},
		{"rate of zero window", nil, []string{"-rate", "10/0s"}, `basic: invalid value "10/0s" for flag -rate: the DURATION of N/DURATION must be at least`},
		{"rate margin not below the window", nil, []string{"-rate", "10/1s", "-rate-margin", "2s"}, "basic: -rate-margin: must be shorter than the rate window 1s, got 2s\n"},
		{"negative rate margin", nil, []string{"-rate-margin", "-1s"}, "basic: -rate-margin: must not be negative, got -1s\n"},
		{"concurrency", nil, []string{"-concurrency", "0"}, "basic: -concurrency: must be at least 1, got 0\n"},
		{"concurrency too large", nil, []string{"-concurrency", "100000"}, "basic: -concurrency: 100000 is more than 10000\n"},
		{"page size", nil, []string{"-page-size", "-5"}, "basic: -page-size: must be at least 1, got -5\n"},
		{"page size too large", nil, []string{"-page-size", "20000"}, "basic: -page-size: must be at most 10000, got 20000\n"},
		{"timeout", nil, []string{"-timeout", "-1s"}, "basic: -timeout: must not be negative, got -1s\n"},
		{"skip synced within", nil, []string{"-skip-synced-within", "-1h"}, "basic: -skip-synced-within: must not be negative, got -1h0m0s\n"},
		{"log level", nil, []string{"-log-level", "loud"}, `basic: invalid value "loud" for flag -log-level: `},
		{"log format", nil, []string{"-log-format", "xml"}, `basic: -log-format: want text or json, got "xml"` + "\n"},
		{"fresh and retry", nil, []string{"-fresh", "-retry-failed"}, "basic: -fresh and -retry-failed do not go together: -retry-failed starts no run, it retries the failed campaigns\n"},
		{"bad account id", []string{envAccountID + "=\xff"}, nil, "basic: " + envAccountID + ": "},
		{"long account id", []string{envAccountID + "=" + strings.Repeat("a", 2000)}, nil, "basic: " + envAccountID + ": "},
		{"client id", []string{envClientID + "=a\x01b"}, nil, "basic: " + envClientID + ": holds control characters\n"},
		{"url scheme", []string{envAPIURL + "=ftp://example.com", envEmail + "=a@b.c", envPassword + "=pw"}, nil, "basic: " + envAPIURL + ": want an http:// or https:// URL\n"},
		{"url not a url", []string{envAPIURL + "=http://[::1", envEmail + "=a@b.c", envPassword + "=pw"}, nil, "basic: " + envAPIURL + ": not a valid URL\n"},
		{"no email", remote[:1:1], nil, "basic: " + envEmail + " and " + envPassword + " not set: the platform at " + envAPIURL + " needs credentials\n"},
		{"no password", remote[:2], nil, "basic: " + envPassword + " not set: the platform at " + envAPIURL + " needs credentials\n"},
		{"no email only", append(remote[:1:1], remote[2]), nil, "basic: " + envEmail + " not set: the platform at " + envAPIURL + " needs credentials\n"},
		{"unknown command", nil, []string{"status"}, `basic: unexpected argument "status" (a command is one of run, runs, dead-letters, prune; -h for help)` + "\n"},
		{"run with an argument", nil, []string{"run", "now"}, `basic: run: unexpected argument "now" (flags only; -h for help)` + "\n"},
		{"run with a bad flag", nil, []string{"run", "-rate", "x"}, `basic: invalid value "x" for flag -rate: want N/DURATION, e.g. 10/1m or 10/2s (-h for help)` + "\n"},
		{"runs without a database", nil, []string{"runs"}, "basic: runs: needs DATABASE_URL: the in-memory store keeps nothing from earlier runs\n"},
		{"dead letters without a database", nil, []string{"dead-letters", "-json"}, "basic: dead-letters: needs DATABASE_URL: the in-memory store keeps nothing from earlier runs\n"},
		{"runs limit", []string{envDatabase + "=postgres://x@127.0.0.1:1/x"}, []string{"runs", "-limit", "0"}, "basic: runs: -limit: must be at least 1, got 0\n"},
		{"runs argument", nil, []string{"runs", "all"}, `basic: runs: unexpected argument "all" (-h for help)` + "\n"},
		{"runs bad flag", nil, []string{"runs", "-after", "x"}, "basic: runs: flag provided but not defined: -after (-h for help)\n"},
		{"discard without an id", nil, []string{"dead-letters", "discard"}, "basic: dead-letters discard: want one campaign ID, got 0 arguments (-h for help)\n"},
		{"prune without an age", nil, []string{"prune"}, "basic: prune: -older-than: want a positive duration such as 720h, got 0s\n"},
		{"operator's bad account", []string{envAccountID + "=\xff", envDatabase + "=postgres://x@127.0.0.1:1/x"}, []string{"runs"}, "basic: " + envAccountID + ": "},
		{"operator's unreachable database", []string{envDatabase + "=postgres://adsync:db-secret-pw@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=5"}, []string{"runs"},
			"basic: runs: open the database (PostgreSQL at 127.0.0.1:1/nodb): "},
		{"malformed database URL", []string{envDatabase + "=postgres://adsync:db-secret-pw@127.0.0.1:bad/nodb"}, nil,
			"basic: open the database (PostgreSQL (DATABASE_URL not shown)): postgres: Open: the connection string is not valid: invalid port … after host (the string is not shown: it may hold a password)\n"},
		{"malformed database parameter", []string{envDatabase + "=postgres://adsync:db-secret-pw@127.0.0.1/nodb?sslmode=on"}, nil,
			`basic: open the database (PostgreSQL at 127.0.0.1/nodb): postgres: Open: the connection string is not valid: wrong value for "sslmode": … is not supported; ` +
				"supported values are disable, allow, prefer, require, verify-full, or verify-ca (the string is not shown: it may hold a password)\n"},
		{"unreachable database", []string{envDatabase + "=postgres://adsync:db-secret-pw@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=5"}, nil,
			"basic: open the database (PostgreSQL at 127.0.0.1:1/nodb): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := runBasic(t, tt.env, tt.args...)
			if code := p.ExitCode(); code != exitStartup {
				t.Errorf("exit status %d, want 2", code)
			}
			stderr := p.Stderr()
			if whole := strings.HasSuffix(tt.want, "\n"); whole && stderr != tt.want ||
				!whole && (!strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1) {
				t.Errorf("stderr:\n%q\nwant (the whole of it, or one line starting with it):\n%q", stderr, tt.want)
			}
			if p.Stdout() != "" {
				t.Errorf("stdout: %q, want nothing", p.Stdout())
			}
			if strings.Contains(stderr, "db-secret-pw") {
				t.Errorf("stderr shows the database password:\n%s", stderr)
			}
		})
	}
}

// -h prints the usage, exit 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	p := runBasic(t, nil, "-h")
	if code := p.ExitCode(); code != exitOK {
		t.Errorf("exit status %d, want 0", code)
	}
	for _, want := range []string{"Usage: basic [flags]", "Exit status:", "-skip-synced-within D", "-progress"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("-h does not say %q:\n%s", want, p.Stderr())
		}
	}
}

// The error that ends a run names its real cause, is printed once, and is
// followed by what to do about it; the exit status says whether running
// again can help (2: it cannot; 1: the run is interrupted, or failed
// campaigns wait for -retry-failed). lines must each stand on stderr as a
// whole line, in order; once is a piece of the error that must appear
// exactly once on stderr (the log at the default level included).
func TestRunErrors(t *testing.T) {
	t.Parallel()
	_, base := startPlatformProc(t, "-rate", "100/1s")
	_, hanging := startPlatformProc(t, "-rate", "100/1s", "-fault-hang", "1")
	const wrong = "Wr0ng-Pa55word-of-the-test"
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)
	untrustedHost := strings.TrimPrefix(untrusted.URL, "https://")
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		status string
		lines  []string
		once   string
		not    []string
	}{
		{"timeout", platformEnv(hanging, adplatformtest.DefaultPassword), []string{"-timeout", "1ms"}, exitFailed, "interrupted",
			[]string{
				"  interrupted  yes: nothing listed yet (the in-memory store keeps nothing: a rerun starts over)",
				"basic: the run stopped: syncer: list campaigns: adplatform: list: no response within the attempt timeout of 1ms, after 5 attempt(s)",
				"basic: the platform did not answer within -timeout 1ms, attempt after attempt: raise -timeout (the reference platform's sync takes about 2s)",
			}, "no response within the attempt timeout", []string{"503"}},
		{"wrong password", platformEnv(base, wrong), nil, exitStartup, "failed",
			[]string{
				"basic: the run failed: syncer: list campaigns: the platform refused the credentials: adplatform: auth: authentication failed: HTTP 401: Invalid credentials",
				"basic: the platform refused the credentials: check AD_PLATFORM_EMAIL and AD_PLATFORM_PASSWORD; running again will not help until they are right",
			}, "Invalid credentials", []string{"interrupted  yes", "run again to resume", wrong}},
		{"unreachable platform", platformEnv("http://127.0.0.1:1", "pw"), nil, exitFailed, "interrupted",
			[]string{
				"basic: the run stopped: syncer: list campaigns: adplatform: auth: connection refused, after 5 attempt(s): dial tcp 127.0.0.1:1: connect: connection refused",
				"basic: cannot reach the platform at 127.0.0.1:1: check AD_PLATFORM_API_URL and that the platform is up; run again once it answers",
			}, "adplatform:", nil},
		{"untrusted certificate", platformEnv(untrusted.URL, "pw"), nil, exitFailed, "interrupted",
			[]string{
				"basic: the run stopped: syncer: list campaigns: adplatform: auth: failed after 1 attempt(s): tls: failed to verify certificate: x509: certificate signed by unknown authority",
				"basic: the platform at " + untrustedHost + " presented a TLS certificate this machine does not trust: check AD_PLATFORM_API_URL; running again will not help until it is trusted",
			}, "certificate signed by unknown authority", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := runBasic(t, tt.env, append([]string{"-json"}, tt.args...)...)
			if code := p.ExitCode(); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			stderr := p.Stderr()
			rest := stderr
			for _, l := range tt.lines {
				i := strings.Index(rest, "\n"+l+"\n")
				if i < 0 {
					t.Errorf("stderr does not hold the line %q (after the lines before it):\n%s", l, stderr)
					continue
				}
				rest = rest[i+len(l)+1:]
			}
			if n := strings.Count(stderr, tt.once); n != 1 {
				t.Errorf("stderr holds %q %d times, want once:\n%s", tt.once, n, stderr)
			}
			for _, s := range tt.not {
				if strings.Contains(stderr+p.Stdout(), s) {
					t.Errorf("the output holds %q:\n%s", s, stderr)
				}
			}
			r := decodeReport(t, p.Stdout())
			if r.Status != tt.status || r.Synced != 0 || !strings.Contains(r.Error, tt.once) {
				t.Errorf("report %+v, want status %s, nothing synced, the error", r, tt.status)
			}
		})
	}
}

// A campaign failing is exit 1; the report and the summary name it with
// its reason, and every other campaign is synced.
func TestCampaignFails(t *testing.T) {
	t.Parallel()
	env := startPlatform(t, "-campaigns", "20", "-rate", "100/1s", "-sync-latency", "10ms", "-sync-error", "campaign_7=400")
	p := runBasic(t, env, "-json", "-rate", "100/1s")
	if code := p.ExitCode(); code != exitFailed {
		t.Errorf("exit status %d, want 1", code)
	}
	r := decodeReport(t, p.Stdout())
	if r.Seen != 20 || r.Synced != 19 || r.Failed != 1 || len(r.Failures) != 1 || r.Failures[0].ID != "campaign_7" ||
		r.Status != "completed_with_failures" || r.Error != "" {
		t.Fatalf("report %+v, want 19 synced and campaign_7 failed", r)
	}
	if !strings.Contains(r.Failures[0].Error, "400") {
		t.Errorf("failure reason %q does not give the status", r.Failures[0].Error)
	}
	if !strings.Contains(p.Stderr(), `"campaign_7": `) || !strings.Contains(p.Stderr(), "failed       1") {
		t.Errorf("the summary does not list the failure:\n%s", p.Stderr())
	}
}

// A run that stops on an error after it started (here the listing fails)
// is exit 1, with the error on stderr and the report on stdout.
func TestRunError(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t0k3n","token_type":"Bearer","expires_in":3600}`))
	})
	mux.HandleFunc("GET /api/campaigns", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"Not Found","message":"no such account"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	p := runBasic(t, platformEnv(srv.URL, "pw"), "-json")
	if code := p.ExitCode(); code != exitFailed {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(p.Stderr(), "basic: the run failed: syncer: list campaigns: adplatform: list: HTTP 404 Not Found: no such account\n"+
		"basic: the platform refused the list call (HTTP 404): running again will not help until what it says is fixed\n") {
		t.Errorf("stderr does not give the listing's error:\n%s", p.Stderr())
	}
	if r := decodeReport(t, p.Stdout()); r.Status != "failed" || !strings.Contains(r.Error, "404") || r.Seen != 0 {
		t.Errorf("report %+v, want a run failed on the listing's 404, that saw nothing", r)
	}
	if strings.Contains(p.Stderr(), "t0k3n") {
		t.Errorf("stderr shows the token")
	}
}

// -timeout bounds each attempt of a call: with a sync call slower than
// it, every sync fails (after its retries) with a timeout.
func TestTimeoutFlag(t *testing.T) {
	t.Parallel()
	env := startPlatform(t, "-campaigns", "2", "-rate", "100/1s", "-sync-latency", "5s")
	p := runBasic(t, env, "-json", "-rate", "100/1s", "-timeout", "50ms")
	if code := p.ExitCode(); code != exitFailed {
		t.Errorf("exit status %d, want 1", code)
	}
	r := decodeReport(t, p.Stdout())
	if r.Failed != 2 || len(r.Failures) != 2 || !strings.Contains(r.Failures[0].Error, "timeout") {
		t.Fatalf("report %+v, want both campaigns failed on a timeout", r)
	}
}

// AD_PLATFORM_CLIENT_ID is the X-Client-ID the platform sees; without it
// the client derives one from the email, not the email itself.
func TestClientID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ clientID, want string }{
		{"my-service-prod", `client ids 1 ["my-service-prod"]`},
		{"", `client ids 1 ["adsync-`},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			fake, base := startPlatformProc(t, "-campaigns", "3", "-rate", "100/1s", "-sync-latency", "10ms")
			env := platformEnv(base, adplatformtest.DefaultPassword)
			if tt.clientID != "" {
				env = append(env, envClientID+"="+tt.clientID)
			}
			if p := runBasic(t, env); p.ExitCode() != exitOK {
				t.Fatalf("exit status %d, want 0", p.ExitCode())
			}
			fake.Signal(t, syscall.SIGINT)
			fake.Wait(t, 10*time.Second)
			if !strings.Contains(fake.Stderr(), tt.want) {
				t.Errorf("the platform's stats do not hold %s:\n%s", tt.want, fake.Stderr())
			}
		})
	}
}
