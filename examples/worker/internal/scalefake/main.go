// Command scalefake serves the fake ad platform (adplatformtest) with a
// request log that says which process sent each request, for the worker's
// scale test: it runs as a process of its own, built without the race
// detector, so that on a loaded machine it records each request when it
// arrives (a race-instrumented fake sharing two busy cores with its clients
// logs requests late, and its rolling windows then see 429s no client
// earned).
//
//	scalefake -addr 127.0.0.1:0 -rate 10/4s -campaigns 20 -sync-latency 100ms -fail-every-nth-list -1
//
// It prints "scalefake: listening on URL" on stdout. GET /_requests returns
// the log, oldest first: one JSON object per /api and /auth request, with its
// arrival and end (Unix nanoseconds), X-Client-ID, User-Agent, path and
// status. SIGINT or SIGTERM stop it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/ratelimit"
)

// Request is one /api request as the log holds it.
type Request struct {
	Arrived   int64  `json:"arrived"` // Unix nanoseconds
	Ended     int64  `json:"ended"`
	ClientID  string `json:"client_id"`
	UserAgent string `json:"user_agent"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
}

func main() {
	rate := ratelimit.Rate{N: 10, Window: 2 * time.Second}
	addr := flag.String("addr", "127.0.0.1:0", "listen `address`")
	flag.Var(&rate, "rate", "the platform's rate limit per client id, `N/DURATION`")
	campaigns := flag.Int("campaigns", 20, "campaigns per account")
	latency := flag.Duration("sync-latency", 100*time.Millisecond, "latency of a sync call")
	failEvery := flag.Int("fail-every-nth-list", adplatformtest.DefaultFailEveryNthList, "every nth list call answers 503, across client ids (-1: never)")
	flag.Parse()

	p, err := adplatformtest.New(adplatformtest.Options{
		Campaigns: *campaigns, RateLimit: rate.N, RateWindow: rate.Window, SyncLatency: *latency,
		FailEveryNthList: *failEvery,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "scalefake: %v\n", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scalefake: %v\n", err)
		os.Exit(2)
	}
	l := &logged{platform: p}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("scalefake: listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	p.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
}

// logged serves the platform and logs its /api requests.
type logged struct {
	platform *adplatformtest.Platform
	mu       sync.Mutex
	log      []Request
}

func (l *logged) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_requests" {
		l.mu.Lock()
		out := append([]Request(nil), l.log...)
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/auth/token" {
		l.platform.ServeHTTP(w, r)
		return
	}
	req := Request{Arrived: time.Now().UnixNano(), ClientID: r.Header.Get("X-Client-ID"), UserAgent: r.UserAgent(), Path: r.URL.EscapedPath()}
	sw := &statusWriter{ResponseWriter: w}
	l.platform.ServeHTTP(sw, r)
	req.Ended, req.Status = time.Now().UnixNano(), sw.status
	l.mu.Lock()
	l.log = append(l.log, req)
	l.mu.Unlock()
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
