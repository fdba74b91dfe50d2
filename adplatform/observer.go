package adplatform

import (
	"context"
	"time"
)

// Observer receives the client's events, for metrics or tracing: a
// Prometheus or OpenTelemetry adapter, or a syncer counting its own run's
// requests. Methods are called synchronously from the goroutine making the
// request and must be quick and safe for concurrent use.
//
// Embed [NopObserver] to implement only the events you need; methods added
// to Observer later will then not break your type.
type Observer interface {
	// RequestStarted is called when an attempt is about to be sent: after
	// the limiter admitted it, before the round trip. With RequestDone it
	// tells an in-flight gauge, and a caller shutting down gracefully,
	// which calls are on the wire and which are still waiting.
	RequestStarted(RequestInfo)
	// RequestDone is called after every attempt, retries included. For a
	// 2xx it is called before the body is read.
	RequestDone(RequestInfo)
	// Retrying is called before an attempt that retries a failed one,
	// with why and how long the call waited since.
	Retrying(RetryInfo)
	// RateLimitWait is called when the client-side limiter made a request
	// wait before it could be sent (not called when it went at once).
	RateLimitWait(endpoint Endpoint, wait time.Duration)
	// TokenRefreshed is called when a new bearer token was obtained.
	TokenRefreshed()
	// PageListed is called when a page of campaigns was fetched and
	// decoded.
	PageListed(PageInfo)
}

// RequestInfo describes one attempt of one request.
type RequestInfo struct {
	// ID identifies the attempt among the client's: RequestStarted and
	// RequestDone of one attempt carry the same ID, so that an adapter can
	// pair them (a span, an in-flight gauge).
	ID       uint64
	Endpoint Endpoint
	// Status is the HTTP status, or 0 when no response arrived (or, in
	// RequestStarted, none yet).
	Status int
	// Attempt counts from 1.
	Attempt int
	Latency time.Duration
	// Err is the transport error when no response arrived.
	Err error
}

// RetryInfo describes a retry about to happen.
type RetryInfo struct {
	Endpoint Endpoint
	// Attempt is the attempt that failed, counting from 1.
	Attempt int
	// Status is the failed attempt's HTTP status, or 0 when none arrived.
	Status int
	// Reason says why, in a few words: "HTTP 503", "timeout",
	// "connection reset", "token expired".
	Reason string
	// Wait is how long the call waited between the failed attempt and
	// this retry (its backoff, or for a 429 the platform's wait in the
	// limiter).
	Wait time.Duration
}

// PageInfo describes one listed page.
type PageInfo struct {
	// Page and Limit are what was requested.
	Page, Limit int
	// Campaigns and Invalid count the page's decoded and undecodable
	// records.
	Campaigns, Invalid int
	// Total and HasMore are what the platform said.
	Total   int
	HasMore bool
}

// NopObserver implements [Observer] with methods that do nothing. Embed it
// in your own observer.
type NopObserver struct{}

// RequestStarted does nothing.
func (NopObserver) RequestStarted(RequestInfo) {}

// RequestDone does nothing.
func (NopObserver) RequestDone(RequestInfo) {}

// Retrying does nothing.
func (NopObserver) Retrying(RetryInfo) {}

// RateLimitWait does nothing.
func (NopObserver) RateLimitWait(Endpoint, time.Duration) {}

// TokenRefreshed does nothing.
func (NopObserver) TokenRefreshed() {}

// PageListed does nothing.
func (NopObserver) PageListed(PageInfo) {}

type observerKey struct{}

// WithObserver returns a context that makes the client report the events of
// calls made with it to o as well, in addition to the client's own
// Options.Observer. Like net/http/httptrace, it lets one caller (a syncer
// run, say) observe just its own calls on a shared client.
func WithObserver(ctx context.Context, o Observer) context.Context {
	if o == nil {
		return ctx
	}
	if prev, ok := ctx.Value(observerKey{}).(Observer); ok {
		o = multiObserver{prev, o}
	}
	return context.WithValue(ctx, observerKey{}, o)
}

// multiObserver fans events out to several observers.
type multiObserver []Observer

func (m multiObserver) RequestStarted(i RequestInfo) {
	for _, o := range m {
		o.RequestStarted(i)
	}
}

func (m multiObserver) RequestDone(i RequestInfo) {
	for _, o := range m {
		o.RequestDone(i)
	}
}

func (m multiObserver) Retrying(i RetryInfo) {
	for _, o := range m {
		o.Retrying(i)
	}
}

func (m multiObserver) RateLimitWait(e Endpoint, d time.Duration) {
	for _, o := range m {
		o.RateLimitWait(e, d)
	}
}

func (m multiObserver) TokenRefreshed() {
	for _, o := range m {
		o.TokenRefreshed()
	}
}

func (m multiObserver) PageListed(p PageInfo) {
	for _, o := range m {
		o.PageListed(p)
	}
}

// observerFrom returns the observer WithObserver put in ctx, or nil.
func observerFrom(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}
