package adplatformtest

import (
	"net/http"
	"net/http/httptest"
)

// Server is a fake platform serving HTTP on a loopback address, like
// [httptest.Server]. Its embedded [*Platform] holds the state and the
// inspection methods.
type Server struct {
	*Platform
	// URL is the base URL, http://127.0.0.1:port, with no trailing slash.
	URL string

	srv *httptest.Server
}

// NewServer starts a fake platform with the reference behaviour, changed by
// opts, on 127.0.0.1. The caller closes it (t.Cleanup(srv.Close)).
//
// Like [httptest.NewServer], it panics if it cannot listen, and it panics
// with the option's error if an option is invalid: both are mistakes in a
// test's setup. Use [New] and a server of your own to get an error instead.
func NewServer(opts ...Option) *Server {
	p, err := New(opts...)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(p)
	return &Server{Platform: p, URL: srv.URL, srv: srv}
}

// Close releases every hung or slow request (see [Platform.Close]), shuts
// the server down and waits for every request to finish, so that Stats and
// Requests are complete once it returns. It never hangs on a request the
// fake itself holds open.
func (s *Server) Close() {
	s.Platform.Close()
	s.srv.Close()
	// The listener is closed and the server idle: no handler starts now.
	s.handlers.Wait()
}

// Client returns an HTTP client configured for the server; [Server.Close]
// closes its idle connections.
func (s *Server) Client() *http.Client {
	return s.srv.Client()
}
