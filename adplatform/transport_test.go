package adplatform_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// connServer is a scripted platform that counts its connections from the
// server's side, as net/http reports their states: what a leak checker
// would find open is what it counts.
type connServer struct {
	*httptest.Server
	mu          sync.Mutex
	open, total int
	// arrived and release make sync calls wait until want of them are in
	// flight at once, so that each holds a connection of its own.
	want    int
	arrived chan struct{}
}

func newConnServer(t *testing.T, concurrent int) *connServer {
	t.Helper()
	s := &connServer{want: concurrent, arrived: make(chan struct{}, concurrent)}
	var inFlight atomic.Int64
	release := make(chan struct{})
	var releaseOnce sync.Once
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			writeJSON(w, 200, map[string]any{"access_token": "tok_conn", "token_type": "Bearer", "expires_in": 3600})
			return
		}
		if inFlight.Add(1) == int64(s.want) {
			releaseOnce.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-time.After(10 * time.Second): // the client serialised its calls: the counts will say so
		}
		writeJSON(w, 200, map[string]any{"success": true})
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.open++
			s.total++
		case http.StateClosed, http.StateHijacked:
			s.open--
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *connServer) counts() (open, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.total
}

// syncConcurrently makes n sync calls at once.
func syncConcurrently(t *testing.T, c *adplatform.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := c.SyncCampaign(ctxT(t), fmt.Sprint("c", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// The default transport keeps a connection per concurrent call for reuse
// (cleanhttp's default would keep GOMAXPROCS+1), and CloseIdleConnections
// closes every one of them: nothing is left for a leak checker.
func TestDefaultTransportPoolsAndCloses(t *testing.T) {
	t.Parallel()
	const workers = 8
	srv := newConnServer(t, workers)
	c := client(t, srv.URL)

	syncConcurrently(t, c, workers)
	syncConcurrently(t, c, workers)
	open, total := srv.counts()
	if total > workers+1 {
		t.Errorf("%d connections dialled for two rounds of %d concurrent calls: idle connections were not kept", total, workers)
	}
	if open != total {
		t.Fatalf("%d of %d connections open before CloseIdleConnections; want all idle and open", open, total)
	}

	c.CloseIdleConnections()
	waitOpen(t, srv, 0)

	// The client stays usable: it dials anew.
	syncConcurrently(t, c, 1)
	if _, total2 := srv.counts(); total2 != total+1 {
		t.Errorf("after CloseIdleConnections, a call dialled %d connections; want 1", total2-total)
	}
	c.CloseIdleConnections()
	waitOpen(t, srv, 0)
}

// An Options.Transport is used as given; CloseIdleConnections reaches it
// when it has the method, and is a no-op when it does not.
func TestTransportOption(t *testing.T) {
	t.Parallel()
	srv := newConnServer(t, 1)
	own := &closingTransport{Transport: &http.Transport{}}
	c := client(t, srv.URL, func(o *adplatform.Options) { o.Transport = own })
	syncConcurrently(t, c, 1)
	if own.trips.Load() != 2 { // the token and the sync
		t.Fatalf("the transport carried %d requests; want 2", own.trips.Load())
	}
	c.CloseIdleConnections()
	if own.closes.Load() != 1 {
		t.Fatalf("CloseIdleConnections reached the transport %d times; want 1", own.closes.Load())
	}
	waitOpen(t, srv, 0)

	plain := client(t, srv.URL, func(o *adplatform.Options) {
		o.Transport = roundTripFunc(http.DefaultTransport.RoundTrip)
	})
	syncConcurrently(t, plain, 1)
	plain.CloseIdleConnections() // nothing to close through: no panic
}

// waitOpen waits for the server to see its open connections go down to
// want: closing is asynchronous on the server's side.
func waitOpen(t *testing.T, srv *connServer, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		open, _ := srv.counts()
		if open == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections still open; want %d", open, want)
		case <-time.After(time.Millisecond):
		}
	}
}

type closingTransport struct {
	*http.Transport
	trips, closes atomic.Int64
}

func (c *closingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips.Add(1)
	return c.Transport.RoundTrip(r)
}

func (c *closingTransport) CloseIdleConnections() {
	c.closes.Add(1)
	c.Transport.CloseIdleConnections()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A transport error that is not retried (here a certificate the client
// does not trust) reads "failed after 1 attempt(s): <why>", not with an
// empty reason (", after 1 attempt(s)").
func TestPermanentTransportErrorSaysWhy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	_, err := client(t, srv.URL).SyncCampaign(context.Background(), "campaign_1")
	if err == nil {
		t.Fatal("a sync against an untrusted certificate succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "adplatform: auth: failed after 1 attempt(s): ") || !strings.Contains(msg, "certificate") || strings.Contains(msg, ": ,") {
		t.Errorf("error %q, want it to say the auth call failed after 1 attempt, on the certificate", msg)
	}
}
