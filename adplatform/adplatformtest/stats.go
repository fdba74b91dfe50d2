package adplatformtest

import (
	"maps"
	"slices"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// AuthScheme is the kind of Authorization header a request carried; the
// fake never records the header's value.
type AuthScheme string

// The kinds of Authorization header.
const (
	AuthNone   AuthScheme = "none"
	AuthBasic  AuthScheme = "basic"
	AuthBearer AuthScheme = "bearer"
	AuthOther  AuthScheme = "other"
)

// Request is one request the fake received, as [Platform.Requests] lists
// it.
type Request struct {
	// Time is when the request arrived; Duration how long the fake took
	// to answer it (or give up on it).
	Time     time.Time
	Duration time.Duration
	Endpoint adplatform.Endpoint
	Method   string
	// Path is the path as sent, escaped ("/api/campaigns/a%2Fb/sync").
	Path string
	// ClientID is the X-Client-ID header, "default" when absent.
	ClientID string
	// Status is the status answered, 0 when there was no answer (a hang,
	// a reset, a client that left, a fake that closed).
	Status int
	// RateLimited is set when the rate limiter rejected the request,
	// Outage when an outage failed it (see [Platform.SetOutage]).
	RateLimited bool
	Outage      bool
	Auth        AuthScheme
}

// EndpointStats counts one endpoint's requests.
type EndpointStats struct {
	// Requests is every request received; Accepted those that passed the
	// rate limiter (or are not subject to it); RateLimited those it
	// rejected with a 429.
	Requests, Accepted, RateLimited int
	// Statuses counts the answers by status; 0 counts requests that got
	// no answer.
	Statuses map[int]int
}

// SyncStats counts the sync calls of one campaign id.
type SyncStats struct {
	// Calls counts the calls that passed the rate limiter and the token
	// check, whatever they then answered; Succeeded those answered with a
	// well-formed 200.
	Calls, Succeeded int
}

// Stats is a snapshot of what the fake saw, for tests asserting a client's
// behaviour. Maps are copies: the caller may keep and change them.
type Stats struct {
	// Endpoints is keyed by adplatform.EndpointAuth, EndpointList,
	// EndpointSync, and this package's EndpointHealth, EndpointError and
	// EndpointUnknown; an endpoint never called is absent.
	Endpoints map[adplatform.Endpoint]EndpointStats
	// RateLimited is the number of 429s the rate limiter served.
	RateLimited int
	// TokensIssued is the number of tokens the fake issued.
	TokensIssued int
	// InFlight is the number of requests being served now; MaxInFlight
	// the most at any moment.
	InFlight, MaxInFlight int
	// ClientIDs are the rate limit's client ids seen on /api requests,
	// sorted.
	ClientIDs []string
	// MaxAcceptedInWindow is, per client id, the most requests accepted
	// inside one rolling window (Options.RateWindow) since the fake
	// started. With the fake's limit on it never exceeds the limit; with
	// the limit off (RateLimit -1) it measures how well a client paces
	// itself.
	MaxAcceptedInWindow map[string]int
	// Syncs is keyed by campaign id.
	Syncs map[string]SyncStats
	// OutageRequests is the number of requests an outage failed (see
	// [Platform.SetOutage]). Connections refused while a [Server] refuses
	// them never reach the fake, and are not counted.
	OutageRequests int
}

// maxLogged bounds the request log: a fake serving a long-running example
// keeps the latest requests, and exact counters for all of them.
const maxLogged = 10_000

// counters is what ServeHTTP counts, guarded by Platform.mu.
type counters struct {
	endpoints             map[adplatform.Endpoint]*EndpointStats
	syncs                 map[string]*SyncStats
	rateLimited           int
	outageRequests        int
	inFlight, maxInFlight int
	log                   []Request
}

func newCounters() counters {
	return counters{
		endpoints: map[adplatform.Endpoint]*EndpointStats{},
		syncs:     map[string]*SyncStats{},
	}
}

// begin counts a request in flight.
func (p *Platform) begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.counters
	c.inFlight++
	c.maxInFlight = max(c.maxInFlight, c.inFlight)
}

// end records a finished request.
func (p *Platform) end(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.counters
	c.inFlight--
	e := c.endpoints[r.Endpoint]
	if e == nil {
		e = &EndpointStats{Statuses: map[int]int{}}
		c.endpoints[r.Endpoint] = e
	}
	e.Requests++
	if r.RateLimited {
		e.RateLimited++
		c.rateLimited++
	} else {
		e.Accepted++
	}
	e.Statuses[r.Status]++
	if len(c.log) == 2*maxLogged {
		c.log = append(c.log[:0], c.log[maxLogged:]...)
	}
	c.log = append(c.log, r)
}

// countList counts an authenticated list request and reports whether it
// is one of the every-nth that answer 503.
func (p *Platform) countList() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listCount++
	n := p.cfg.failEveryNthList
	return n > 0 && p.listCount%n == 0
}

// countSync counts a sync call of id, or its success.
func (p *Platform) countSync(id string, succeeded bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.counters.syncs[id]
	if s == nil {
		s = &SyncStats{}
		p.counters.syncs[id] = s
	}
	if succeeded {
		s.Succeeded++
	} else {
		s.Calls++
	}
}

// Stats returns a snapshot of the counters.
func (p *Platform) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.counters
	s := Stats{
		Endpoints:           make(map[adplatform.Endpoint]EndpointStats, len(c.endpoints)),
		RateLimited:         c.rateLimited,
		TokensIssued:        len(p.tokenList),
		InFlight:            c.inFlight,
		MaxInFlight:         c.maxInFlight,
		ClientIDs:           slices.Sorted(maps.Keys(p.windows)),
		MaxAcceptedInWindow: make(map[string]int, len(p.windows)),
		Syncs:               make(map[string]SyncStats, len(c.syncs)),
		OutageRequests:      c.outageRequests,
	}
	for k, v := range c.endpoints {
		e := *v
		e.Statuses = maps.Clone(v.Statuses)
		s.Endpoints[k] = e
	}
	for id, w := range p.windows {
		s.MaxAcceptedInWindow[id] = w.peak
	}
	for id, v := range c.syncs {
		s.Syncs[id] = *v
	}
	return s
}

// Requests returns the log of requests, oldest first, each recorded when
// it finished (a hung request appears once released). It holds the latest
// 10,000 at least; Stats counts them all.
func (p *Platform) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.counters.log)
}
