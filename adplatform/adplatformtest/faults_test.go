package adplatformtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// rawDo sends one request on a fresh connection, so that the transport has
// no reused connection to retry on, and returns what came back.
func rawDo(t *testing.T, srv *Server, timeout time.Duration, method, path string, headers ...hdr) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestFaultKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{"unavailable", Faults{Unavailable: 1}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			const want = `{"error":"Service temporarily unavailable","message":"The service is experiencing issues. Please retry after a short delay."}`
			if err != nil || resp.StatusCode != 503 || string(body) != want {
				t.Errorf("got %v %s, want 503 %s", err, body, want)
			}
		}},
		{"bad gateway", Faults{BadGateway: 1}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "text/html" || !strings.HasPrefix(string(body), "<html>") {
				t.Errorf("got %v %v %s, want 502 HTML", err, resp, body)
			}
		}},
		{"malformed", Faults{Malformed: 1}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("got %v %v, want a 200", err, resp)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s for %d bytes: the body must be well framed", cl, len(body))
			}
			if json.Valid(body) || !strings.HasPrefix(string(body), `{"data":[{"id":"campaign_1"`) || len(body) < 200 {
				t.Errorf("body is not a truncated listing: %s", body)
			}
		}},
		{"reset", Faults{Reset: 1}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %v %v, want a connection reset", err, resp)
			}
		}},
		{"hang", Faults{Hang: 1}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v %v, want no answer before the deadline", err, resp)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, Options{Faults: tt.faults, FailEveryNthList: -1})
			token := login(t, srv) // faults stay off the token endpoint by default
			resp, body, err := rawDo(t, srv, 300*time.Millisecond, http.MethodGet, "/api/campaigns", bearer(token))
			tt.check(t, resp, body, err)
			srv.Close() // waits for the handler, hijacked or not: its record is complete
			reqs := srv.Platform.Requests()
			last := reqs[len(reqs)-1]
			wantStatus := map[string]int{"unavailable": 503, "bad gateway": 502, "malformed": 200, "reset": 0, "hang": 0}[tt.name]
			if last.Endpoint != adplatform.EndpointList || last.Status != wantStatus || last.RateLimited {
				t.Errorf("logged %+v, want status %d", last, wantStatus)
			}
		})
	}
}

// Faults hit only the endpoints asked for; the token endpoint only when
// named.
func TestFaultEndpoints(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{Faults: Faults{Unavailable: 1, Endpoints: []adplatform.Endpoint{adplatform.EndpointSync}}, SyncLatency: -1})
	token := login(t, srv)
	if r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token)); r.status != 200 {
		t.Errorf("list with faults on sync only: %d", r.status)
	}
	if r := send(t, srv, http.MethodPost, syncPath("campaign_1"), bearer(token)); r.status != 503 {
		t.Errorf("sync: %d, want 503", r.status)
	}
	// The sync call still counts, without a success.
	if s := srv.Platform.Stats().Syncs["campaign_1"]; s != (SyncStats{Calls: 1}) {
		t.Errorf("Syncs = %+v", s)
	}

	auth := Start(t, Options{Faults: Faults{Malformed: 1, Endpoints: []adplatform.Endpoint{adplatform.EndpointAuth}}})
	r := send(t, auth, http.MethodPost, "/auth/token", basic(DefaultEmail, DefaultPassword))
	if r.status != 200 || json.Valid(r.body) || !strings.HasPrefix(string(r.body), `{"access_token":"fake_`) {
		t.Errorf("token with a malformed fault: %d %s", r.status, r.body)
	}
	// A malformed sync is not a success.
	msync := Start(t, Options{Faults: Faults{Malformed: 1}, SyncLatency: -1})
	if r := send(t, msync, http.MethodPost, syncPath("campaign_2"), bearer(login(t, msync))); r.status != 200 || json.Valid(r.body) {
		t.Errorf("malformed sync: %d %s", r.status, r.body)
	}
	if s := msync.Platform.Stats().Syncs["campaign_2"]; s != (SyncStats{Calls: 1}) {
		t.Errorf("malformed sync counted as %+v", s)
	}
}

// The same seed gives the same faults; the mix follows the
// probabilities.
func TestFaultSeed(t *testing.T) {
	t.Parallel()
	statuses := func(seed uint64) []int {
		srv := Start(t, Options{Faults: Faults{Unavailable: 0.3, BadGateway: 0.2, Seed: seed}, RateLimit: -1, FailEveryNthList: -1})
		token := login(t, srv)
		var out []int
		for range 200 {
			out = append(out, send(t, srv, http.MethodGet, "/api/campaigns", bearer(token)).status)
		}
		return out
	}
	a, b, c := statuses(42), statuses(42), statuses(7)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different faults")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same 200 faults")
	}
	count := map[int]int{}
	for _, s := range a {
		count[s]++
	}
	// 200 draws: expect ~60 503s and ~40 502s; the bounds are > 4 sigma.
	if count[503] < 35 || count[503] > 85 || count[502] < 18 || count[502] > 62 || count[200] != 200-count[503]-count[502] {
		t.Errorf("fault mix over 200 requests = %v, want ~30%% 503, ~20%% 502, the rest 200", count)
	}
}

// Close ends requests the fake holds open on purpose, and never hangs.
func TestCloseReleasesHungRequests(t *testing.T) {
	t.Parallel()
	srv, err := NewServer(Options{Faults: Faults{Hang: 1, Endpoints: []adplatform.Endpoint{adplatform.EndpointList}}, SyncLatency: time.Hour, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	token := login(t, srv)
	errs := make(chan error, 8)
	for i := range 8 { // a mix of hung lists and hour-long syncs
		path := "/api/campaigns"
		if i%2 == 1 {
			path = syncPath("campaign_" + strconv.Itoa(i))
		}
		method := map[bool]string{true: http.MethodPost, false: http.MethodGet}[i%2 == 1]
		go func() {
			_, _, err := rawDo(t, srv, time.Minute, method, path, bearer(token))
			errs <- err
		}()
	}
	waitFor(t, "8 requests in flight", func() bool { return srv.Platform.Stats().InFlight == 8 })
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung with requests in flight")
	}
	t.Logf("Close took %s", time.Since(start))
	for range 8 {
		if err := <-errs; err == nil {
			t.Error("a held request got an answer after Close")
		}
	}
	st := srv.Platform.Stats()
	if st.InFlight != 0 || st.MaxInFlight != 8 {
		t.Errorf("InFlight %d, MaxInFlight %d; want 0 and 8", st.InFlight, st.MaxInFlight)
	}
	srv.Close() // twice is fine
}
