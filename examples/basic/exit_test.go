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

// Every way the example fails says why on stderr, exits with the status
// the usage documents, and prints nothing on stdout (no report: no run).
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	remote := platformEnv("http://127.0.0.1:9", "not-used")
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"help", nil, []string{"-h"}, exitOK, "Usage: basic [flags]"},
		{"unknown flag", nil, []string{"-nope"}, exitStartup, "flag provided but not defined: -nope"},
		{"rate without window", nil, []string{"-rate", "10"}, exitStartup, `invalid value "10" for flag -rate: want N/DURATION`},
		{"rate of zero window", nil, []string{"-rate", "10/0s"}, exitStartup, "the DURATION of N/DURATION must be at least"},
		{"concurrency", nil, []string{"-concurrency", "0"}, exitStartup, "-concurrency: must be at least 1"},
		{"page size", nil, []string{"-page-size", "-5"}, exitStartup, "-page-size: must be at least 1"},
		{"page size too large", nil, []string{"-page-size", "20000"}, exitStartup, "PageSize: must be at most 10000"},
		{"timeout", nil, []string{"-timeout", "-1s"}, exitStartup, "-timeout: must not be negative"},
		{"log level", nil, []string{"-log-level", "loud"}, exitStartup, `invalid value "loud" for flag -log-level`},
		{"log format", nil, []string{"-log-format", "xml"}, exitStartup, `-log-format: want text or json, got "xml"`},
		{"fresh and retry", nil, []string{"-fresh", "-retry-failed"}, exitStartup, "-fresh and -retry-failed do not go together"},
		{"argument", nil, []string{"now"}, exitStartup, `unexpected argument "now"`},
		{"bad account id", []string{envAccountID + "=\xff"}, nil, exitStartup, envAccountID + ": "},
		{"long account id", []string{envAccountID + "=" + strings.Repeat("a", 2000)}, nil, exitStartup, envAccountID + ": "},
		{"url scheme", []string{envAPIURL + "=ftp://example.com", envEmail + "=a@b.c", envPassword + "=pw"}, nil, exitStartup, envAPIURL + ": want an http:// or https:// URL"},
		{"url not a url", []string{envAPIURL + "=http://[::1", envEmail + "=a@b.c", envPassword + "=pw"}, nil, exitStartup, envAPIURL + ": not a valid URL"},
		{"no email", remote[:1:1], nil, exitStartup, envEmail + " and " + envPassword + " not set"},
		{"no password", remote[:2], nil, exitStartup, envPassword + " not set"},
		{"no email only", append(remote[:1:1], remote[2]), nil, exitStartup, envEmail + " not set"},
		{"unreachable database", []string{envDatabase + "=postgres://adsync:db-secret-pw@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=5"}, nil, exitStartup,
			"open the database (PostgreSQL at 127.0.0.1:1/nodb)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := runBasic(t, tt.env, tt.args...)
			if code := p.ExitCode(); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(p.Stderr(), tt.want) {
				t.Errorf("stderr does not hold %q:\n%s", tt.want, p.Stderr())
			}
			if p.Stdout() != "" {
				t.Errorf("stdout: %q, want nothing", p.Stdout())
			}
			if strings.Contains(p.Stderr(), "db-secret-pw") {
				t.Errorf("stderr shows the database password:\n%s", p.Stderr())
			}
			if strings.Contains(p.Stderr(), "basic: syncing account") {
				t.Errorf("a run started")
			}
		})
	}
}

// The platform refusing the credentials is a configuration error: exit 2,
// saying so, without the password.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	const wrong = "Wr0ng-Pa55word-of-the-test"
	_, base := startPlatformProc(t)
	env := platformEnv(base, wrong)
	p := runBasic(t, env, "-json")
	if code := p.ExitCode(); code != exitStartup {
		t.Errorf("exit status %d, want 2", code)
	}
	if !strings.Contains(p.Stderr(), "Invalid credentials") {
		t.Errorf("stderr does not say the credentials were refused:\n%s", p.Stderr())
	}
	if strings.Contains(p.Stderr()+p.Stdout(), wrong) {
		t.Errorf("the output shows the password")
	}
	if r := decodeReport(t, p.Stdout()); r.Synced != 0 || r.Status != "failed" || !strings.Contains(r.Error, "Invalid credentials") {
		t.Errorf("report %+v, want nothing synced, the run failed on the credentials", r)
	}
	if strings.Contains(p.Stderr(), "run again to resume") {
		t.Errorf("the summary says to run again, which cannot help:\n%s", p.Stderr())
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
	if !strings.Contains(p.Stderr(), "basic: the run stopped: syncer: list campaigns") || !strings.Contains(p.Stderr(), "404") {
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
