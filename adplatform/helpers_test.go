package adplatform_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

const (
	email    = adplatformtest.DefaultEmail
	password = adplatformtest.DefaultPassword
)

// fake starts the fake platform for one test, with test-friendly values
// for what opts leaves zero: no rate limit (its window, for
// MaxAcceptedInWindow, a second), a fast sync, no every-5th-list 503.
func fake(t testing.TB, opts adplatformtest.Options) *adplatformtest.Server {
	t.Helper()
	opts.RateLimit = cmp.Or(opts.RateLimit, -1)
	opts.RateWindow = cmp.Or(opts.RateWindow, time.Second)
	opts.SyncLatency = cmp.Or(opts.SyncLatency, 5*time.Millisecond)
	opts.FailEveryNthList = cmp.Or(opts.FailEveryNthList, -1)
	return adplatformtest.Start(t, opts)
}

// virtualFake is fake's twin for a testing/synctest bubble: the same
// test-friendly values, the platform reached in-process (virtualClient).
func virtualFake(t testing.TB, opts adplatformtest.Options) *adplatformtest.Platform {
	t.Helper()
	opts.RateLimit = cmp.Or(opts.RateLimit, -1)
	opts.RateWindow = cmp.Or(opts.RateWindow, time.Second)
	opts.SyncLatency = cmp.Or(opts.SyncLatency, 5*time.Millisecond)
	opts.FailEveryNthList = cmp.Or(opts.FailEveryNthList, -1)
	p, err := adplatformtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// settled returns the fake's stats once it has finished recording every
// request: a client can see a reset connection before the fake's handler
// has returned.
func settled(t testing.TB, srv *adplatformtest.Server) adplatformtest.Stats {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := srv.Platform.Stats()
		if st.InFlight == 0 || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// testOptions are fast options: tiny backoffs, short attempt timeouts, a
// limiter that does not get in the way.
func testOptions() adplatform.Options {
	return adplatform.Options{
		RateLimit:   10_000,
		RateWindow:  time.Second,
		BackoffMin:  time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		ListTimeout: 5 * time.Second,
		SyncTimeout: 5 * time.Second,
		AuthTimeout: 5 * time.Second,
	}
}

// client returns a client of baseURL with testOptions changed by tweaks.
func client(t testing.TB, baseURL string, tweaks ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	return clientAs(t, baseURL, adplatform.StaticCredentials(email, password), tweaks...)
}

func clientAs(t testing.TB, baseURL string, creds adplatform.CredentialsProvider, tweaks ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	opts := testOptions()
	for _, f := range tweaks {
		f(&opts)
	}
	c, err := adplatform.New(baseURL, creds, opts)
	if err != nil {
		t.Fatalf("adplatform.New: %v", err)
	}
	return c
}

// ctxT is a context bounded so that a regression that hangs fails the
// test instead of the run.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect runs a listing to its end.
func collect(t testing.TB, c *adplatform.Client) (ids []string, recErrs []*adplatform.RecordError, err error) {
	t.Helper()
	for cp, e := range c.Campaigns(ctxT(t)) {
		var re *adplatform.RecordError
		switch {
		case e == nil:
			ids = append(ids, cp.ID)
		case asRecordError(e, &re):
			recErrs = append(recErrs, re)
		default:
			return ids, recErrs, e
		}
	}
	return ids, recErrs, nil
}

func asRecordError(err error, re **adplatform.RecordError) bool {
	r, ok := err.(*adplatform.RecordError)
	if ok {
		*re = r
	}
	return ok
}

// platformAPI is a scripted platform for what the fake does not do: a
// token endpoint that works, and an /api handler of the test's own. It
// counts requests per path.
type platformAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int
	tokens   atomic.Int64
}

// scripted serves api for /api/ paths and a valid token for /auth/token.
func scripted(t testing.TB, api http.HandlerFunc) *platformAPI {
	t.Helper()
	var p *platformAPI
	p = serveAll(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			p.writeToken(w)
			return
		}
		api(w, r)
	})
	return p
}

// serveAll serves h for every path, counting requests.
func serveAll(t testing.TB, h http.HandlerFunc) *platformAPI {
	t.Helper()
	p := &platformAPI{requests: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.URL.Path]++
		p.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// writeToken answers a token request with a new token, tok_x, tok_xx...
func (p *platformAPI) writeToken(w http.ResponseWriter) {
	n := p.tokens.Add(1)
	writeJSON(w, 200, map[string]any{"access_token": "tok_" + strings.Repeat("x", int(n)), "token_type": "Bearer", "expires_in": 3600, "issued_at": time.Now().Unix()})
}

func (p *platformAPI) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[path]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// listing writes a page of campaigns with the given ids.
func listing(w http.ResponseWriter, ids []string, page, limit, total int, hasMore bool) {
	data := make([]adplatform.Campaign, len(ids))
	for i, id := range ids {
		data[i] = adplatform.Campaign{ID: id, Name: "n " + id, Status: "active", Budget: "10"}
	}
	pg := map[string]any{"page": page, "limit": limit, "has_more": hasMore}
	if total >= 0 {
		pg["total"] = total
	}
	writeJSON(w, 200, map[string]any{"data": data, "pagination": pg})
}

// logBuffer captures a client's logs, JSON, at Debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// bodyCounter is a transport counting the response bodies it hands out
// and those closed: every path of the client must close every body.
type bodyCounter struct {
	base           http.RoundTripper
	opened, closed atomic.Int64
}

func newBodyCounter() *bodyCounter {
	return &bodyCounter{base: http.DefaultTransport.(*http.Transport).Clone()}
}

func (b *bodyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b.opened.Add(1)
	resp.Body = &countedBody{ReadCloser: resp.Body, closed: &b.closed}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	once   sync.Once
	closed *atomic.Int64
}

func (c *countedBody) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return c.ReadCloser.Close()
}

// events records observer events.
type events struct {
	adplatform.NopObserver
	mu                                               sync.Mutex
	started, done, retrying, waits, refreshed, pages int
	reasons                                          []string
	byStatus                                         map[int]int
}

func (e *events) RequestStarted(adplatform.RequestInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started++
}

func (e *events) RequestDone(i adplatform.RequestInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done++
	if e.byStatus == nil {
		e.byStatus = map[int]int{}
	}
	e.byStatus[i.Status]++
}

func (e *events) Retrying(i adplatform.RetryInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.retrying++
	e.reasons = append(e.reasons, i.Reason)
}

func (e *events) RateLimitWait(adplatform.Endpoint, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waits++
}

func (e *events) TokenRefreshed() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshed++
}

func (e *events) PageListed(adplatform.PageInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pages++
}

// virtualAPI is scripted's in-process twin, for tests inside a
// testing/synctest bubble: a handler serving api for /api/ paths and a
// valid token for /auth/token, counting requests, reached through the
// inProcess transport.
type virtualAPI struct {
	mu       sync.Mutex
	requests map[string]int
	tokens   atomic.Int64
	api      http.HandlerFunc
}

func virtual(api http.HandlerFunc) *virtualAPI {
	return &virtualAPI{requests: map[string]int{}, api: api}
}

func (v *virtualAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.requests[r.URL.Path]++
	v.mu.Unlock()
	if r.URL.Path == "/auth/token" {
		n := v.tokens.Add(1)
		writeJSON(w, 200, map[string]any{"access_token": "tok_" + strings.Repeat("x", int(n)), "token_type": "Bearer", "expires_in": 3600})
		return
	}
	v.api(w, r)
}

func (v *virtualAPI) count(path string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests[path]
}

// total counts the requests to /api/ paths.
func (v *virtualAPI) total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for p, c := range v.requests {
		if strings.HasPrefix(p, "/api/") {
			n += c
		}
	}
	return n
}

// virtualClient is a client of h through the inProcess transport, with
// testOptions changed by tweaks: inside a synctest bubble, on fake time.
func virtualClient(t testing.TB, h http.Handler, tweaks ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	return client(t, "http://platform.invalid", append([]func(*adplatform.Options){func(o *adplatform.Options) { o.Transport = inProcess{h} }}, tweaks...)...)
}
