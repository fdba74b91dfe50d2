package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/exectest"
)

// bin is the fakeplatform binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adsync-fakeplatform-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := exectest.Build(dir, ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = bins["fakeplatform"]
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var urlLine = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)\n`)

// start runs the fake on a free port with args and returns it and its URL.
func start(t *testing.T, args ...string) (*exectest.Proc, string) {
	t.Helper()
	p := exectest.Start(t, bin, nil, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	return p, p.WaitStdout(t, urlLine, 30*time.Second)[1]
}

// token gets a bearer token with the test credentials.
func token(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/auth/token", nil)
	req.SetBasicAuth(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /auth/token: %s, %v", resp.Status, err)
	}
	return body.AccessToken
}

// call makes one authenticated API request and returns the response, its
// body read.
func call(t *testing.T, method, url, tok string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Client-ID", "fakeplatform-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// The fake starts, says where it is and which credentials it accepts,
// serves /health, serves the number of campaigns asked for to a real
// client, and stops on SIGINT with status 0.
func TestServesAndStops(t *testing.T) {
	t.Parallel()
	p, base := start(t, "-campaigns", "5", "-sync-latency", "10ms", "-stats-interval", "0")

	// The banner is written a line at a time: read it once its last line
	// is there, not as soon as the URL is.
	p.WaitStdout(t, regexp.MustCompile(`go run ./examples/basic -rate \S+\n`), 30*time.Second)
	out := p.Stdout()
	for _, want := range []string{adplatformtest.DefaultEmail, adplatformtest.DefaultPassword, "AD_PLATFORM_API_URL=" + base} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner does not hold %q:\n%s", want, out)
		}
	}

	resp, body := call(t, http.MethodGet, base+"/health", "")
	var health struct{ Status string }
	if err := json.Unmarshal(body, &health); err != nil || resp.StatusCode != http.StatusOK || health.Status != "ok" {
		t.Fatalf("GET /health: %s %s", resp.Status, body)
	}

	client, err := adplatform.New(base, adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword), adplatform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for c, err := range client.Campaigns(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "campaign_1,campaign_2,campaign_3,campaign_4,campaign_5" {
		t.Fatalf("listed %s, want campaign_1..campaign_5", got)
	}
	if _, err := client.SyncCampaign(ctx, "campaign_5"); err != nil {
		t.Fatalf("sync campaign_5: %v", err)
	}

	p.Signal(t, syscall.SIGINT)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0", code)
	}
	if !strings.Contains(p.Stderr(), "stopped; requests: auth 1 (429: 0), list 1 (429: 0), sync 1 (429: 0)") {
		t.Errorf("the last stats line does not count 1 auth, 1 list and 1 sync:\n%s", p.Stderr())
	}
}

// Each flag changes what the fake does, as seen over HTTP.
func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		noToken bool // the outages fail /auth too
		check   func(t *testing.T, base, tok string)
	}{
		{"honest pagination", []string{"-campaigns", "3", "-honest-pagination"}, false, func(t *testing.T, base, tok string) {
			_, body := call(t, http.MethodGet, base+"/api/campaigns?page=1&limit=100", tok)
			var page struct {
				Data       []json.RawMessage
				Pagination struct {
					Total   int  `json:"total"`
					HasMore bool `json:"has_more"`
				}
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Data) != 3 || page.Pagination.Total != 3 || page.Pagination.HasMore {
				t.Fatalf("got %d campaigns, total %d, has_more %v; want 3, 3, false", len(page.Data), page.Pagination.Total, page.Pagination.HasMore)
			}
		}},
		{"rate, retry-after and headers", []string{"-rate", "2/1m", "-retry-after", "seconds", "-ratelimit-headers", "-fail-every-nth-list", "0"}, false, func(t *testing.T, base, tok string) {
			var resp *http.Response
			for range 3 {
				resp, _ = call(t, http.MethodGet, base+"/api/campaigns", tok)
			}
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("third request in the window: %s, want 429", resp.Status)
			}
			if ra := resp.Header.Get("Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
				t.Errorf("Retry-After %q, want delta-seconds", ra)
			}
			if l := resp.Header.Get("X-RateLimit-Limit"); l != "2" {
				t.Errorf("X-RateLimit-Limit %q, want 2", l)
			}
		}},
		{"every list call fails", []string{"-fail-every-nth-list", "1"}, false, func(t *testing.T, base, tok string) {
			if resp, _ := call(t, http.MethodGet, base+"/api/campaigns", tok); resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("list: %s, want 503", resp.Status)
			}
		}},
		{"sync error", []string{"-sync-error", "campaign_2=409", "-sync-error", "a=b=502", "-sync-latency", "0s"}, false, func(t *testing.T, base, tok string) {
			for id, want := range map[string]int{"campaign_2": 409, "a=b": 502, "campaign_3": 200} {
				if resp, _ := call(t, http.MethodPost, base+"/api/campaigns/"+id+"/sync", tok); resp.StatusCode != want {
					t.Errorf("sync %s: %s, want %d", id, resp.Status, want)
				}
			}
		}},
		{"faults", []string{"-fault-502", "1", "-fail-every-nth-list", "0"}, false, func(t *testing.T, base, tok string) {
			if resp, _ := call(t, http.MethodGet, base+"/api/campaigns", tok); resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("list: %s, want 502", resp.Status)
			}
		}},
		{"outage", []string{"-outage-after", "1ms", "-outage-for", "700ms", "-outage-answer", "502"}, true, func(t *testing.T, base, _ string) {
			// Both edges are waited for, never timed: the outage, then the
			// platform's own 401 for a request without a token.
			waitStatus(t, base+"/api/campaigns", http.StatusBadGateway)
			waitStatus(t, base+"/api/campaigns", http.StatusUnauthorized)
		}},
		{"outage reset", []string{"-outage-after", "1ms", "-outage-for", "1h", "-outage-answer", "reset"}, true, func(t *testing.T, base, tok string) {
			waitStatus(t, base+"/api/campaigns", 0)
		}},
		{"token ttl", []string{"-token-ttl", "300ms"}, false, func(t *testing.T, base, tok string) {
			time.Sleep(400 * time.Millisecond)
			resp, body := call(t, http.MethodGet, base+"/api/campaigns", tok)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Token expired") {
				t.Fatalf("list with a 400ms old token: %s %s, want 401 Token expired", resp.Status, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, base := start(t, append(tt.args, "-stats-interval", "0")...)
			tok := ""
			if !tt.noToken {
				tok = token(t, base)
			}
			tt.check(t, base, tok)
		})
	}
}

// waitStatus polls url until it answers want (0: the connection reset),
// within a generous deadline: for a state another process reaches on its
// own clock, never as a timing assertion.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		got := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got = resp.StatusCode
		} else if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Fatalf("GET %s: %v", url, err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s still answers %d; want %d", url, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGINT releases a request the fake holds open (a hang) and the fake
// exits at once, rather than waiting for a request that never ends.
func TestShutdownReleasesHungRequests(t *testing.T) {
	t.Parallel()
	p, base := start(t, "-fault-hang", "1", "-fail-every-nth-list", "0", "-stats-interval", "50ms")
	tok := token(t, base)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/campaigns", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = errors.New("answered " + resp.Status)
			}
		}
		done <- err
	}()
	p.WaitStderr(t, regexp.MustCompile(`in flight 1;`), 10*time.Second)

	stopped := time.Now()
	p.Signal(t, syscall.SIGINT)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0", code)
	}
	select {
	case err := <-done:
		t.Logf("the hung request ended with %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the hung request is still open after the fake stopped")
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("stopping took %s with a hung request, want well under the 5s shutdown timeout", d)
	}
}

// SIGTERM (what a service manager, or kill, sends) stops the fake as
// SIGINT does: exit 0, the last stats line, and the port is free again.
func TestSIGTERMStopsAndFreesThePort(t *testing.T) {
	t.Parallel()
	p, base := start(t, "-stats-interval", "0")
	if resp, _ := call(t, http.MethodGet, base+"/health", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health: %s", resp.Status)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.Stderr(), "fakeplatform: stopped; requests: ") {
		t.Errorf("stderr does not say it stopped:\n%s", p.Stderr())
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatalf("the port is still taken after the fake stopped: %v", err)
	}
	ln.Close()
}

// A bad flag is exit status 2 with a message naming it; -h is 0.
func TestBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "Usage: fakeplatform"},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-rate", "10"}, 2, `invalid value "10" for flag -rate`},
		{[]string{"-fault-503", "2"}, 2, "-fault-503: must be a probability"},
		{[]string{"-fault-hang", "NaN"}, 2, "-fault-hang: must be a probability"},
		{[]string{"-fault-503", "0.6", "-fault-reset", "0.6"}, 2, "add up to"},
		{[]string{"-retry-after", "soon"}, 2, `invalid value "soon" for flag -retry-after: want none, seconds or date`},
		{[]string{"-sync-error", "campaign_1=200"}, 2, "STATUS must be an HTTP status from 400 to 599"},
		{[]string{"-sync-error", "campaign_1"}, 2, "want ID=STATUS"},
		{[]string{"-campaigns", "-1"}, 2, "-campaigns: must not be negative"},
		{[]string{"-token-ttl", "0s"}, 2, "-token-ttl: must be positive"},
		{[]string{"-outage-answer", "200"}, 2, `invalid value "200" for flag -outage-answer: want an HTTP status from 400 to 599, or reset`},
		{[]string{"-outage-after", "-1s"}, 2, "-outage-after: must not be negative"},
		{[]string{"-outage-after", "1s", "-outage-for", "0s"}, 2, "-outage-for: must be positive"},
		{[]string{"-addr", "256.0.0.1:99999"}, 2, "fakeplatform: listen tcp"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			p := exectest.Run(t, 30*time.Second, bin, nil, tt.args...)
			if code := p.ExitCode(); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(p.Stderr(), tt.want) {
				t.Errorf("stderr does not hold %q:\n%s", tt.want, p.Stderr())
			}
			if p.Stdout() != "" {
				t.Errorf("stdout: %q, want nothing", p.Stdout())
			}
		})
	}
}

// The fake stops with the process that started it (on Linux): go run starts
// it as a child of the go command, which does not pass a SIGTERM on. Here
// the parent is a shell, killed with SIGKILL; the fake must stop and free
// its port.
func TestStopsWithItsParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	t.Parallel()
	shell := exectest.Start(t, "/bin/sh", nil, "-c", `"$0" -addr 127.0.0.1:0 -stats-interval 0 & echo "child $!"; wait`, bin)
	pid, err := strconv.Atoi(shell.WaitStdout(t, regexp.MustCompile(`child (\d+)\n`), 30*time.Second)[1])
	if err != nil {
		t.Fatal(err)
	}
	// Should the fake outlive the test, it must not outlive the test run.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	base := shell.WaitStdout(t, urlLine, 30*time.Second)[1]
	if resp, _ := call(t, http.MethodGet, base+"/health", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health: %s", resp.Status)
	}
	shell.Signal(t, syscall.SIGKILL)
	addr := strings.TrimPrefix(base, "http://")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return // the fake stopped and freed its port
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake still holds %s 20s after its parent died: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
