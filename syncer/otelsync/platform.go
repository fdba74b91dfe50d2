package otelsync

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/adsync/adsync/adplatform"
)

// ClientObserver is an [adplatform.Observer] that measures one platform
// client's requests, 429s, retries, rate-limit waits, token refreshes and
// pages. Get one from [Telemetry.Platform] and give it to the client as
// adplatform.Options.Observer. It is safe for concurrent use.
type ClientObserver struct {
	t       *Telemetry
	account []attribute.KeyValue
	// byEndpoint holds, for each known endpoint, the attributes of its
	// requests (request) and of its other events (short).
	byEndpoint map[adplatform.Endpoint]clientAttributes
	byAccount  metric.AddOption // the account alone
}

// clientAttributes are one endpoint's precomputed attributes.
type clientAttributes struct {
	request []attribute.KeyValue // endpointAttributes and the account
	active  metric.AddOption     // the same, for the in-flight gauge
	short   metric.MeasurementOption
}

var _ adplatform.Observer = (*ClientObserver)(nil)

// Platform returns an observer for the platform client of accountID (the
// syncer's Options.AccountID; empty leaves the account attribute out).
// adplatform asks for one client per account, so this is called once per
// account: every metric of the client's events carries the account.
func (t *Telemetry) Platform(accountID string) *ClientObserver {
	o := &ClientObserver{t: t, account: account(accountID), byEndpoint: map[adplatform.Endpoint]clientAttributes{}}
	for e := range endpoints {
		o.byEndpoint[e] = o.attributes(e)
	}
	o.byAccount = metric.WithAttributes(o.account...)
	return o
}

func (o *ClientObserver) attributes(e adplatform.Endpoint) clientAttributes {
	request := append(o.t.endpointAttributes(e), o.account...)
	short := append([]attribute.KeyValue{EndpointKey.String(string(e))}, o.account...)
	return clientAttributes{
		request: request,
		active:  metric.WithAttributeSet(attribute.NewSet(request...)),
		short:   metric.WithAttributeSet(attribute.NewSet(short...)),
	}
}

// of returns e's attributes; an endpoint adplatform adds later gets its
// own, computed each time.
func (o *ClientObserver) of(e adplatform.Endpoint) clientAttributes {
	if a, ok := o.byEndpoint[e]; ok {
		return a
	}
	return o.attributes(e)
}

// RequestStarted counts the attempt in http.client.active_requests.
func (o *ClientObserver) RequestStarted(i adplatform.RequestInfo) {
	o.t.activeRequests.Add(context.Background(), 1, o.of(i.Endpoint).active)
}

// RequestDone records the attempt's duration in
// http.client.request.duration, with its status (or error.type), takes it
// out of http.client.active_requests, and counts a 429.
func (o *ClientObserver) RequestDone(i adplatform.RequestInfo) {
	ctx := context.Background()
	a := o.of(i.Endpoint)
	o.t.activeRequests.Add(ctx, -1, a.active)
	attrs := append(a.request[:len(a.request):len(a.request)], outcome(i)...)
	o.t.requestDuration.Record(ctx, i.Latency.Seconds(), metric.WithAttributes(attrs...))
	if i.Status == 429 {
		o.t.rateLimited.Add(ctx, 1, a.short)
	}
}

// outcome returns the attributes an attempt's result adds: its status,
// and error.type when it failed (the status, for a 4xx or 5xx, as the
// conventions say).
func outcome(i adplatform.RequestInfo) []attribute.KeyValue {
	switch {
	case i.Status >= 400:
		return []attribute.KeyValue{semconv.HTTPResponseStatusCode(i.Status), semconv.ErrorTypeKey.String(strconv.Itoa(i.Status))}
	case i.Status != 0:
		return []attribute.KeyValue{semconv.HTTPResponseStatusCode(i.Status)}
	case i.Err != nil:
		return []attribute.KeyValue{semconv.ErrorTypeKey.String(errorType(i.Err))}
	}
	return []attribute.KeyValue{semconv.ErrorTypeOther}
}

// Retrying counts the retry in adsync.platform.retries, with the failed
// attempt's error.type.
func (o *ClientObserver) Retrying(i adplatform.RetryInfo) {
	attrs := []attribute.KeyValue{EndpointKey.String(string(i.Endpoint)), semconv.ErrorTypeKey.String(retryErrorType(i))}
	o.t.retries.Add(context.Background(), 1, metric.WithAttributes(append(attrs, o.account...)...))
}

// RateLimitWait records the wait in adsync.platform.rate_limit.wait.duration.
func (o *ClientObserver) RateLimitWait(e adplatform.Endpoint, wait time.Duration) {
	o.t.rateLimitWait.Record(context.Background(), wait.Seconds(), o.of(e).short)
}

// TokenRefreshed counts the token in adsync.platform.token.refreshes.
func (o *ClientObserver) TokenRefreshed() {
	o.t.tokenRefreshes.Add(context.Background(), 1, o.byAccount)
}

// PageListed counts the page in adsync.platform.pages.
func (o *ClientObserver) PageListed(adplatform.PageInfo) {
	o.t.pages.Add(context.Background(), 1, o.byAccount)
}
