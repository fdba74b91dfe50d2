package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// What the binary's parts decide, tested in process; the binary as a whole
// is tested as a process by the other tests.

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := parseConfig(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.accountID != "default" || c.rate.String() != "10/1m" || c.rateSet || c.concurrency != 10 || c.pageSize != 100 || c.logFormat != "text" {
			t.Errorf("defaults: %+v", c)
		}
	})
	t.Run("rate set", func(t *testing.T) {
		c, err := parseConfig([]string{"-rate", "10/3s"}, env(), io.Discard)
		if err != nil || !c.rateSet || c.rate.Window != 3*time.Second {
			t.Errorf("-rate 10/3s: %+v, %v", c, err)
		}
	})
	t.Run("errors never echo the URL", func(t *testing.T) {
		_, err := parseConfig(nil, env(envAPIURL, "http://user:hunter2@[::1", envEmail, "e", envPassword, "p"), io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %v: want one without the URL", err)
		}
		_, err = parseConfig(nil, env(envAPIURL, "https://user:hunter2@example.com", envEmail, "e", envPassword, "p"), io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "must not hold credentials") {
			t.Errorf("error %v: want credentials refused, without them", err)
		}
	})
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	authErr := fmt.Errorf("syncer: list campaigns: %w", &adplatform.AuthError{Endpoint: adplatform.EndpointAuth, StatusCode: 401, Reason: "Invalid credentials"})
	tests := []struct {
		name string
		rep  syncer.Report
		err  error
		want int
	}{
		{"all synced", syncer.Report{Seen: 3, Synced: 3, Status: syncer.StatusCompleted}, nil, exitOK},
		{"nothing to do", syncer.Report{Status: syncer.StatusCompleted}, nil, exitOK},
		{"some failed", syncer.Report{Seen: 3, Synced: 2, Failed: 1, Status: syncer.StatusCompletedWithFailures}, nil, exitFailed},
		{"interrupted", syncer.Report{Seen: 3, Synced: 1, Status: syncer.StatusInterrupted}, nil, exitFailed},
		{"run error", syncer.Report{Status: syncer.StatusInterrupted}, errors.New("syncer: list campaigns: boom"), exitFailed},
		{"credentials refused", syncer.Report{Status: syncer.StatusFailed}, authErr, exitStartup},
		{"account busy", syncer.Report{Status: syncer.StatusFailed}, fmt.Errorf("syncer: %w", &store.AccountError{AccountID: "a", Err: store.ErrAccountBusy}), exitBusy},
	}
	for _, tt := range tests {
		if got := exitCode(tt.rep, tt.err); got != tt.want {
			t.Errorf("%s: exitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		p    syncer.Progress
		at   time.Duration
		want string
	}{
		{syncer.Progress{StartedAt: start}, 0, "synced 0/?, failed 0, skipped 0, in flight 0, 0.0 campaigns/s, ETA ?"},
		{syncer.Progress{StartedAt: start, Seen: 7, Synced: 2}, time.Second, "synced 2/7 seen, failed 0, skipped 0, in flight 0, 2.0 campaigns/s, ETA ?"},
		// 40 done in 10 s: 4/s; 100-40-10-0 = 50 left: 12.5 s.
		{syncer.Progress{StartedAt: start, Total: 100, Seen: 100, Synced: 38, Failed: 2, Skipped: 10, InFlight: 10}, 10 * time.Second,
			"synced 38/100, failed 2, skipped 10, in flight 10, 4.0 campaigns/s, ETA 13s"},
		{syncer.Progress{StartedAt: start, Total: 100, Seen: 100, Skipped: 100}, time.Second, "synced 0/100, failed 0, skipped 100, in flight 0, 0.0 campaigns/s, ETA ?"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.p, start.Add(tt.at)); got != tt.want {
			t.Errorf("progressLine(%+v)\n got %q\nwant %q", tt.p, got, tt.want)
		}
	}
}

// On a terminal, a message written while the live line shows erases it,
// and draws it again after itself.
func TestConsoleLiveLine(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	c := &console{w: &b, tty: true}
	c.SetLive("synced 1/9")
	c.SetLive("synced 22/99")
	c.Printf("a log line\n")
	c.ClearLive()
	c.Printf("summary\n")
	want := "synced 1/9" +
		"\r          \r" + "synced 22/99" +
		"\r            \r" + "a log line\n" + "synced 22/99" +
		"\r            \r" + "summary\n"
	if got := b.String(); got != want {
		t.Errorf("console wrote\n%q\nwant\n%q", got, want)
	}
}
