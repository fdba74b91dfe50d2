package adplatformtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Server is a fake platform serving HTTP on a loopback address, like
// [httptest.Server]: a [Platform] (its state and inspection methods), a
// URL, and Close. It can also go away and come back on the same address
// ([Server.Refuse], [Server.Accept]), to test a client through a platform
// that refuses connections.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, with no trailing slash.
	URL string
	// Platform is the fake the server serves.
	Platform *Platform

	addr   string
	client *http.Client

	mu      sync.Mutex
	srv     *http.Server // nil while refusing or closed
	serving sync.WaitGroup
	closed  bool
}

// NewServer starts a fake platform configured by opts on 127.0.0.1. The
// caller closes it. An invalid option is an error naming the field, as
// with [New]; in a test, [Start] does the checking and the closing.
func NewServer(opts Options) (*Server, error) {
	p, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("adplatformtest: listen: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		Platform: p,
		addr:     ln.Addr().String(),
		client:   &http.Client{Transport: &http.Transport{}},
	}
	s.serve(ln)
	return s, nil
}

// Start starts a fake platform configured by opts for the test t, which
// fails at once if an option is invalid or the server cannot listen. The
// server is closed when the test and its subtests end.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("adplatformtest.Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// serve serves the platform on ln with a new http.Server (one that was
// closed cannot serve again). s.mu is held or s not yet shared.
func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.Platform}
	s.srv = srv
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = srv.Serve(ln) // http.ErrServerClosed once Refuse or Close closes it
	}()
}

// Refuse takes the server down: it closes the listener, so that new
// connections are refused (ECONNREFUSED), and every open connection, so
// that requests in flight end without an answer and idle keep-alive
// connections cannot carry new ones, as when the platform's process dies.
// It lasts until [Server.Accept]. Refusing twice is harmless.
func (s *Server) Refuse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.serving.Wait() // Serve has returned: the listener is closed
		s.srv = nil
	}
}

// Accept brings a refusing server back: it listens again on the same
// address and serves the same Platform, its state intact. It fails if the
// address was taken in the meantime, or the server is closed. Accepting
// while serving is harmless.
func (s *Server) Accept() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("adplatformtest: Accept: the server is closed")
	case s.srv != nil:
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("adplatformtest: Accept: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// Close releases every hung or slow request (see [Platform.Close]), shuts
// the server down and waits for every request to finish, so that Stats and
// Requests are complete once it returns. It never hangs on a request the
// fake itself holds open. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Platform.Close()
	s.Refuse()
	// The listener is closed and the connections too; a connection that
	// read a request just before may still call the handler, which then
	// turns it away.
	s.Platform.drain()
	s.client.CloseIdleConnections()
}

// Client returns an HTTP client for the server, with a transport of its
// own; [Server.Close] closes its idle connections.
func (s *Server) Client() *http.Client {
	return s.client
}
