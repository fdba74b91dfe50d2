package adplatformtest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// During an outage every /auth and /api request fails as configured,
// before the rate limit (which it does not fill), and /health answers;
// afterwards the platform serves as before.
func TestOutage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		outage Outage
		check  func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{"503", Outage{Status: http.StatusServiceUnavailable}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 503 || !strings.Contains(string(body), `"error":"Service temporarily unavailable"`) {
				t.Errorf("got %v %s; want the platform's 503", err, body)
			}
		}},
		{"502", Outage{Status: http.StatusBadGateway}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 502 || !strings.Contains(string(body), `"error":"Bad Gateway"`) {
				t.Errorf("got %v %s; want a JSON 502", err, body)
			}
		}},
		{"reset", Outage{Reset: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %v; want a connection reset", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, Options{RateLimit: 2, SyncLatency: -1})
			token := login(t, srv)
			if err := srv.Platform.SetOutage(tt.outage); err != nil {
				t.Fatal(err)
			}
			requests := []struct{ method, path string }{
				{http.MethodPost, "/auth/token"},
				{http.MethodGet, "/api/campaigns"},
				{http.MethodPost, syncPath("campaign_1")},
				{http.MethodGet, "/api/error"},
				{http.MethodGet, "/api/nowhere"},
			}
			for range 2 { // more than the rate limit allows: none of it counts
				for _, r := range requests {
					resp, body, err := rawDo(t, srv, 10*time.Second, r.method, r.path, bearer(token))
					tt.check(t, resp, body, err)
				}
			}
			if r := send(t, srv, http.MethodGet, "/health"); r.status != 200 {
				t.Errorf("/health during the outage: %d", r.status)
			}
			st := settled(t, srv)
			if st.OutageRequests != 2*len(requests) || st.RateLimited != 0 || st.Syncs["campaign_1"].Calls != 0 || st.TokensIssued != 1 {
				t.Errorf("during: %d outage requests, %d 429s, %d sync calls, %d tokens; want %d, 0, 0, 1",
					st.OutageRequests, st.RateLimited, st.Syncs["campaign_1"].Calls, st.TokensIssued, 2*len(requests))
			}
			var logged int
			for _, r := range srv.Platform.Requests() {
				if r.Outage {
					logged++
				}
			}
			if logged != 2*len(requests) {
				t.Errorf("%d requests logged as failed by the outage; want %d", logged, 2*len(requests))
			}

			if err := srv.Platform.SetOutage(Outage{}); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if r := send(t, srv, http.MethodPost, syncPath("campaign_1"), bearer(token)); r.status != 200 {
					t.Errorf("after the outage: sync %d %s", r.status, r.body)
				}
			}
			if st := srv.Platform.Stats(); st.OutageRequests != 2*len(requests) || st.RateLimited != 0 {
				t.Errorf("after: %d outage requests, %d 429s; want %d and none", st.OutageRequests, st.RateLimited, 2*len(requests))
			}
		})
	}
}

func TestSetOutageValidation(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		o    Outage
		want string
	}{
		{Outage{Status: 200}, "Outage.Status: must be in 400–599"},
		{Outage{Status: 600}, "Outage.Status: must be in 400–599"},
		{Outage{Status: 503, Reset: true}, "Outage.Status: must be 0 with Reset"},
	} {
		if err := p.SetOutage(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SetOutage(%+v) = %v; want %q", tt.o, err, tt.want)
		}
	}
	// A refused outage changes nothing.
	if r := serve(p, http.MethodPost, "/auth/token"); r.status != http.StatusUnauthorized {
		t.Errorf("after invalid outages: %d; want the platform's own 401", r.status)
	}
}

// Switching outages on and off while requests run is safe (run with
// -race), and each request sees either state, never a mix.
func TestOutageConcurrent(t *testing.T) {
	t.Parallel()
	p, err := New(Options{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var switcher, clients sync.WaitGroup
	stop := make(chan struct{})
	switcher.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = p.SetOutage(Outage{Status: 500 + i%4})
			_ = p.SetOutage(Outage{})
		}
	})
	for range 4 {
		clients.Go(func() {
			for range 100 {
				if r := serve(p, http.MethodPost, "/auth/token"); r.status != 401 && (r.status < 500 || r.status > 503) {
					t.Errorf("status %d", r.status)
				}
			}
		})
	}
	clients.Wait()
	close(stop)
	switcher.Wait()
}

// A refusing server refuses new connections and has closed the open
// ones; accepting again serves the same platform on the same URL.
func TestRefuseAndAccept(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{RateLimit: -1, SyncLatency: time.Hour})
	token := login(t, srv)
	url := srv.URL

	// An idle keep-alive connection, and a request in flight.
	if r := send(t, srv, http.MethodGet, "/health"); r.status != 200 {
		t.Fatalf("/health: %d", r.status)
	}
	inFlight := make(chan error, 1)
	go func() {
		_, _, err := rawDo(t, srv, time.Minute, http.MethodPost, syncPath("campaign_1"), bearer(token))
		inFlight <- err
	}()
	waitFor(t, "the sync in flight", func() bool { return srv.Platform.Stats().InFlight == 1 })

	srv.Refuse()
	if err := <-inFlight; err == nil {
		t.Error("the request in flight got an answer from a refusing server")
	}
	for _, c := range []*http.Client{srv.Client(), {Transport: &http.Transport{}}} { // pooled, and new
		_, err := c.Get(url + "/health")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("GET while refusing: %v; want connection refused", err)
		}
	}
	srv.Refuse() // twice is harmless

	if err := srv.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Accept(); err != nil { // so is accepting twice
		t.Fatal(err)
	}
	if srv.URL != url {
		t.Errorf("URL changed from %s to %s", url, srv.URL)
	}
	// The same platform: the token it issued still works.
	if r := send(t, srv, http.MethodGet, "/api/campaigns?limit=1", bearer(token)); r.status != 200 {
		t.Errorf("after Accept: %d %s", r.status, r.body)
	}
	if st := srv.Platform.Stats(); st.TokensIssued != 1 {
		t.Errorf("%d tokens issued; want the one from before", st.TokensIssued)
	}

	srv.Close()
	if err := srv.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
	resp, err := (&http.Client{Transport: &http.Transport{}}).Get(url + "/health")
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Error("a closed server answered")
	}
}

// settled returns the stats once every request is recorded: a client can
// see a reset before the handler has returned.
func settled(t *testing.T, srv *Server) Stats {
	t.Helper()
	var st Stats
	waitFor(t, "no request in flight", func() bool { st = srv.Platform.Stats(); return st.InFlight == 0 })
	return st
}
