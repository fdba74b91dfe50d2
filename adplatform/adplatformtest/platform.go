package adplatformtest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// Platform is the fake ad platform: an [http.Handler] holding the
// platform's state (campaigns, tokens, rate windows, counters) and the
// methods that inspect and steer it. [NewServer] serves it on loopback;
// use New to mount it on a server of your own. It is safe for concurrent
// use.
type Platform struct {
	cfg     config
	started time.Time
	closing chan struct{} // closed by Close: hung and slow requests give up
	closed  sync.Once
	// handlers tracks ServeHTTP calls, for Server.Close: a hijacked
	// connection is no longer the http.Server's to wait for. Once
	// draining (under drainMu), no call joins it: a WaitGroup must not
	// grow from zero while a Wait is under way.
	handlers sync.WaitGroup
	drainMu  sync.Mutex
	draining bool

	// records are the explicit campaigns in wire form, encoded once; nil
	// when campaigns are generated.
	records []json.RawMessage
	// ids are the campaign ids the sync endpoint knows beyond the
	// generated campaign_1..N: the explicit list's and the raw records'.
	ids map[string]bool

	mu sync.Mutex // guards everything below
	// rng draws faults; seeded, so that a test can replay them.
	rng       *rand.Rand
	tokens    map[string]bool
	tokenList []string
	// issuedAt is the reference's single global issue time: every new
	// token restarts the expiry clock of all tokens.
	issuedAt  time.Time
	windows   map[string]*window // per client id
	listCount int                // authenticated list requests, for the every-nth 503
	outage    Outage
	counters  counters
}

// New returns a fake platform, to mount on a server of your own
// ([NewServer] serves it on loopback). An invalid option is an error
// naming the field.
func New(opts Options) (*Platform, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	p := &Platform{
		cfg:      cfg,
		started:  now,
		closing:  make(chan struct{}),
		ids:      map[string]bool{},
		rng:      rand.New(rand.NewPCG(cfg.faults.Seed, cfg.faults.Seed^0x9e3779b97f4a7c15)),
		tokens:   map[string]bool{},
		issuedAt: now,
		windows:  map[string]*window{},
		counters: newCounters(),
	}
	if cfg.list != nil {
		p.records = make([]json.RawMessage, len(cfg.list))
		for i, c := range cfg.list {
			b, err := json.Marshal(c)
			if err != nil { // checked by newConfig already
				return nil, err
			}
			p.records[i] = b
			p.ids[c.ID] = true
		}
	}
	for _, raw := range cfg.raw {
		var rec struct {
			ID *string `json:"id"`
		}
		if json.Unmarshal(raw, &rec) == nil && rec.ID != nil {
			p.ids[*rec.ID] = true
		}
	}
	return p, nil
}

// Close makes every hung request and every request waiting out a latency
// end at once without an answer, as if the platform went down; requests
// arriving later that draw a hang end at once too. It does not close any
// listener: [Server.Close] does, after calling Close. Close may be called
// more than once.
func (p *Platform) Close() {
	p.closed.Do(func() { close(p.closing) })
}

// drain waits for every ServeHTTP call under way, and turns later ones
// away: for Server.Close, once its server stopped accepting.
func (p *Platform) drain() {
	p.drainMu.Lock()
	p.draining = true
	p.drainMu.Unlock()
	p.handlers.Wait()
}

// Endpoint values for the fake's requests that are not one of the
// platform's three API endpoints, as they appear in [Request] and [Stats].
const (
	EndpointHealth  adplatform.Endpoint = "health"  // GET /health
	EndpointError   adplatform.Endpoint = "error"   // GET /api/error
	EndpointUnknown adplatform.Endpoint = "unknown" // any other path
)

// route is what a request's path says about it.
type route struct {
	endpoint adplatform.Endpoint
	// method is the one method the endpoint answers; "" for an unknown
	// path.
	method string
	// limited requests draw on the client's rate limit and need a bearer
	// token: everything under /api/ but /api/error.
	limited bool
	id      string // the sync endpoint's campaign id, unescaped
}

// classify routes on the escaped path, segment by segment, so that an id
// holding an escaped '/' (%2F) or dots stays one segment: http.ServeMux
// would clean "/api/campaigns/%2E%2E/sync" into another path.
func classify(r *http.Request) route {
	path := r.URL.EscapedPath()
	switch path {
	case "/health":
		return route{endpoint: EndpointHealth, method: http.MethodGet}
	case "/auth/token":
		return route{endpoint: adplatform.EndpointAuth, method: http.MethodPost}
	case "/api/error":
		return route{endpoint: EndpointError, method: http.MethodGet}
	case "/api/campaigns":
		return route{endpoint: adplatform.EndpointList, method: http.MethodGet, limited: true}
	}
	if !strings.HasPrefix(path, "/api/") {
		return route{endpoint: EndpointUnknown}
	}
	if seg, ok := strings.CutPrefix(path, "/api/campaigns/"); ok {
		if seg, ok := strings.CutSuffix(seg, "/sync"); ok && seg != "" && !strings.Contains(seg, "/") {
			if id, err := url.PathUnescape(seg); err == nil {
				return route{endpoint: adplatform.EndpointSync, method: http.MethodPost, limited: true, id: id}
			}
		}
	}
	return route{endpoint: EndpointUnknown, limited: true}
}

// outcome is how a request ends.
type outcome int

const (
	answer outcome = iota // write status, headers and body
	hang                  // never answer; end when the client leaves or the fake closes
	reset                 // abort the connection with a TCP RST
	drop                  // end without an answer: the client left or the fake is closing
)

// response is what a handler decided; respond carries it out. Handlers
// return values rather than write, so that rate-limit headers and the
// malformed-body fault are applied in one place.
type response struct {
	kind   outcome
	status int
	header http.Header
	body   []byte
}

// ServeHTTP serves the platform's endpoints and records the request.
func (p *Platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.drainMu.Lock()
	if p.draining {
		// A connection that read its request just before the server
		// closed it: the platform is gone, and the answer goes nowhere.
		p.drainMu.Unlock()
		http.Error(w, "the fake platform is closed", http.StatusServiceUnavailable)
		return
	}
	p.handlers.Add(1)
	p.drainMu.Unlock()
	defer p.handlers.Done()
	rt := classify(r)
	entry := Request{
		Time:     time.Now(),
		Endpoint: rt.endpoint,
		Method:   r.Method,
		Path:     r.URL.EscapedPath(),
		ClientID: clientID(r),
		Auth:     authScheme(r),
	}
	p.begin()
	sw := &statusWriter{ResponseWriter: w}
	// Deferred, so that a request aborted by panic(http.ErrAbortHandler)
	// is recorded too.
	defer func() {
		entry.Status = sw.status
		entry.Duration = time.Since(entry.Time)
		p.end(entry)
	}()
	resp := p.handle(r, rt, &entry)
	p.respond(sw, r, resp)
}

// handle decides the answer: an outage first (the platform is not
// there to count anything), then the rate limit, the token, faults, and
// the endpoint — the reference's order.
func (p *Platform) handle(r *http.Request, rt route, entry *Request) response {
	if rt.downInOutage() {
		if resp, down := p.outageResponse(); down {
			entry.Outage = true
			return resp
		}
	}
	if !rt.limited {
		if rt.method == "" {
			return notFound()
		}
		if r.Method != rt.method {
			return methodNotAllowed(rt.method)
		}
		switch rt.endpoint {
		case EndpointHealth:
			return p.health()
		case EndpointError:
			return errorPage(r)
		default: // adplatform.EndpointAuth
			f := p.drawFault(rt.endpoint)
			if resp, ok := faultResponse(f); ok {
				return resp
			}
			return malformed(f, p.issueToken(r))
		}
	}

	lim, ok := p.admit(entry.ClientID)
	var resp response
	if !ok {
		entry.RateLimited = true
		resp = p.tooManyRequests(lim)
	} else {
		resp = p.handleAPI(r, rt)
	}
	p.rateLimitHeaders(&resp, lim)
	return resp
}

// handleAPI serves a request the rate limiter accepted.
func (p *Platform) handleAPI(r *http.Request, rt route) response {
	if rt.method == "" {
		return notFound()
	}
	if r.Method != rt.method {
		return methodNotAllowed(rt.method)
	}
	if resp, ok := p.checkBearer(r); !ok {
		return resp
	}
	nth := false
	switch rt.endpoint {
	case adplatform.EndpointList:
		nth = p.countList()
	case adplatform.EndpointSync:
		p.countSync(rt.id, false)
	}
	f := p.drawFault(rt.endpoint)
	if resp, ok := faultResponse(f); ok {
		return resp
	}
	if rt.endpoint == adplatform.EndpointList {
		if nth {
			return unavailable()
		}
		return malformed(f, p.list(r))
	}
	resp := malformed(f, p.sync(r, rt.id))
	if resp.kind == answer && resp.status == http.StatusOK && f != faultMalformed {
		p.countSync(rt.id, true)
	}
	return resp
}

// respond carries out a handler's decision.
func (p *Platform) respond(w http.ResponseWriter, r *http.Request, resp response) {
	switch resp.kind {
	case hang:
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		abort(w, false)
	case reset:
		abort(w, true)
	case drop:
		abort(w, false)
	default:
		h := w.Header()
		for k, v := range resp.header {
			h[k] = v
		}
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body) // the client may have gone; nothing to do about it
	}
}

// abort ends the request without an answer: it closes the connection, with
// a TCP RST when rst is set (SO_LINGER 0). A connection that cannot be
// hijacked (HTTP/2) is aborted the way net/http provides.
func abort(w http.ResponseWriter, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http resets the stream, silently
	}
	if tcp, ok := conn.(*net.TCPConn); ok && rst {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// wait sleeps for d, reporting false if the client left or the fake closed
// first.
func (p *Platform) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-p.closing:
		return false
	}
}

// statusWriter remembers the status written; 0 means no answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection to hijack it.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// jsonResponse encodes v as the platform does: compact JSON, text as is
// (no HTML escaping).
func jsonResponse(status int, v any) response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the fake's own values are encoded here; failing is a bug.
		return apiError(http.StatusInternalServerError, "Internal error", "adplatformtest: "+err.Error())
	}
	return response{
		status: status,
		header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		body:   bytes.TrimSuffix(buf.Bytes(), []byte("\n")),
	}
}

// errorBody is the platform's error shape.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func apiError(status int, code, message string) response {
	return jsonResponse(status, errorBody{code, message})
}

func notFound() response {
	return apiError(http.StatusNotFound, "Not Found", "No such endpoint")
}

func methodNotAllowed(allow string) response {
	resp := apiError(http.StatusMethodNotAllowed, "Method Not Allowed", "This endpoint answers "+allow+" only")
	resp.header.Set("Allow", allow)
	return resp
}

func unavailable() response {
	return apiError(http.StatusServiceUnavailable, "Service temporarily unavailable",
		"The service is experiencing issues. Please retry after a short delay.")
}

// clientID is the rate limit's key: the X-Client-ID header, or the one
// shared "default" client when it is absent.
func clientID(r *http.Request) string {
	if id := r.Header.Get("X-Client-ID"); id != "" {
		return id
	}
	return "default"
}

// isoTime formats t as JavaScript's toISOString does, as the reference
// platform sends times.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
