package otelsync_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/otelsync"
)

// Bucket boundaries the package promises (see its doc).
var (
	requestBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 30, 60}
	waitBounds    = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300}
	runBounds     = []float64{1, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400}
)

// Descriptions, as the package sets them.
const (
	descDuration = "Duration of HTTP client requests."
	descActive   = "Number of active HTTP requests."
	desc429      = "429 responses the platform answered."
	descRetries  = "Attempts retried after a failed one, 429s included."
	descWait     = "Time a request waited for a slot of the client-side rate limiter (only requests that waited)."
	descTokens   = "Bearer tokens obtained."
	descPages    = "Pages of campaigns listed and decoded."
	descCampaign = "Campaigns a run finished with, by outcome: synced, skipped or failed."
	descRun      = "Duration of sync runs and RetryFailed passes, by final status."
)

// The attributes of requests to each endpoint, for account acme of a
// platform at https://ads.example.com:8443.
var (
	server    = []attribute.KeyValue{attribute.String("server.address", "ads.example.com"), attribute.Int("server.port", 8443)}
	acmeAttr  = attribute.String("adsync.account.id", "acme")
	authAttrs = endpointAttrs("POST", "/auth/token", "auth")
	listAttrs = endpointAttrs("GET", "/api/campaigns", "list")
	syncAttrs = endpointAttrs("POST", "/api/campaigns/{id}/sync", "sync")
)

func endpointAttrs(method, template, endpoint string) []attribute.KeyValue {
	return with(server,
		attribute.String("http.request.method", method),
		attribute.String("url.template", template),
		attribute.String("adsync.endpoint", endpoint),
		acmeAttr)
}

// timeoutError is a transport timeout, as adplatform reports one.
type timeoutError struct{}

func (timeoutError) Error() string   { return "sync: attempt timed out after 15s" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

// both feeds an event to the client's observer and to the run's platform
// observer, as a client does when a syncer attached one to the call.
type both []adplatform.Observer

func (b both) each(f func(adplatform.Observer)) {
	for _, o := range b {
		f(o)
	}
}

// TestScriptedRun drives the observers through a scripted run on fake
// time (a token, a page, a sync retried after a 503, a sync that meets a
// 429, a timeout and a refused connection, a skipped and an undecodable
// campaign), then a RetryFailed pass that is interrupted, and asserts every
// metric and span.
func TestScriptedRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, otelsync.Options{PlatformURL: "https://ads.example.com:8443/v1"})
		client := h.tel.Platform("acme")
		runs := h.tel.Syncer()
		t0 := time.Now()

		info := syncer.RunInfo{RunID: "run-1", AccountID: "acme", StartedAt: t0}
		runs.RunStarted(info)
		calls := both{client, runs.PlatformObserver(info)}

		// attempt sends attempt id and sleeps latency before its answer.
		var nextID uint64
		attempt := func(e adplatform.Endpoint, n int, latency time.Duration, status int, err error) {
			nextID++
			i := adplatform.RequestInfo{ID: nextID, Endpoint: e, Attempt: n}
			calls.each(func(o adplatform.Observer) { o.RequestStarted(i) })
			time.Sleep(latency)
			i.Status, i.Latency, i.Err = status, latency, err
			calls.each(func(o adplatform.Observer) { o.RequestDone(i) })
		}
		retry := func(e adplatform.Endpoint, n, status int, reason string, wait time.Duration) {
			calls.each(func(o adplatform.Observer) {
				o.Retrying(adplatform.RetryInfo{Endpoint: e, Attempt: n, Status: status, Reason: reason, Wait: wait})
			})
			time.Sleep(wait)
		}
		waitSlot := func(e adplatform.Endpoint, d time.Duration) {
			time.Sleep(d)
			calls.each(func(o adplatform.Observer) { o.RateLimitWait(e, d) })
			runs.RateLimitWait(d) // the syncer passes it on: not counted twice
		}

		// A token, then the one page.
		attempt(adplatform.EndpointAuth, 1, 100*time.Millisecond, 200, nil)
		calls.each(func(o adplatform.Observer) { o.TokenRefreshed() })
		attempt(adplatform.EndpointList, 1, 300*time.Millisecond, 200, nil)
		page := adplatform.PageInfo{Page: 1, Limit: 100, Campaigns: 3, Invalid: 1, Total: 4}
		calls.each(func(o adplatform.Observer) { o.PageListed(page) })
		runs.PageListed(page) // the syncer passes it on

		// campaign_1: a 503, retried.
		waitSlot(adplatform.EndpointSync, 1500*time.Millisecond)
		nextID++
		inFlight := adplatform.RequestInfo{ID: nextID, Endpoint: adplatform.EndpointSync, Attempt: 1}
		calls.each(func(o adplatform.Observer) { o.RequestStarted(inFlight) })
		active := gauge(otelsync.MetricActiveRequests, "{request}", descActive,
			point(0, authAttrs...), point(0, listAttrs...), point(1, syncAttrs...))
		if m, ok := h.metrics(t)[otelsync.MetricActiveRequests]; !ok {
			t.Errorf("no %s while a request is in flight", otelsync.MetricActiveRequests)
		} else {
			assertMetrics(t, map[string]metricdata.Metrics{m.Name: m}, []metricdata.Metrics{active})
		}
		time.Sleep(2 * time.Second)
		inFlight.Status, inFlight.Latency = 503, 2*time.Second
		calls.each(func(o adplatform.Observer) { o.RequestDone(inFlight) })
		retry(adplatform.EndpointSync, 1, 503, "HTTP 503", 500*time.Millisecond)
		attempt(adplatform.EndpointSync, 2, 2*time.Second, 200, nil)
		runs.CampaignSynced("campaign_1")

		// campaign_2: a 429, a timeout, a refused connection: failed.
		attempt(adplatform.EndpointSync, 1, 10*time.Millisecond, 429, nil)
		calls.each(func(o adplatform.Observer) {
			o.Retrying(adplatform.RetryInfo{Endpoint: adplatform.EndpointSync, Attempt: 1, Status: 429, Reason: "HTTP 429", Wait: time.Minute})
		})
		waitSlot(adplatform.EndpointSync, time.Minute)
		attempt(adplatform.EndpointSync, 2, 15*time.Second, 0, timeoutError{})
		retry(adplatform.EndpointSync, 2, 0, "timeout", 0)
		refused := fmt.Errorf("dial tcp 127.0.0.1:8443: %w", syscall.ECONNREFUSED)
		attempt(adplatform.EndpointSync, 3, time.Millisecond, 0, refused)
		runs.CampaignFailed("campaign_2", fmt.Errorf("adplatform: sync campaign_2: %w", refused))

		// campaign_3 had synced; campaign_4 could not be decoded.
		runs.CampaignSkipped("campaign_3")
		runs.CampaignFailed("campaign_4", &adplatform.RecordError{ID: "campaign_4", Err: errors.New("name: invalid UTF-8")})
		run1 := time.Since(t0)
		runs.RunFinished(syncer.Report{RunID: "run-1", AccountID: "acme", Seen: 4, Synced: 1, Skipped: 1, Failed: 2,
			StartedAt: t0, Duration: run1, HTTPRequests: 7, HTTP429: 1, Retries: 3, TokenRefreshes: 1,
			RateLimitWait: 61500 * time.Millisecond})

		// A RetryFailed pass, stopped after one campaign.
		time.Sleep(time.Second)
		t1 := time.Now()
		retryInfo := syncer.RunInfo{RunID: "run-2", AccountID: "acme", Retry: true, StartedAt: t1}
		runs.RunStarted(retryInfo)
		calls = both{client, runs.PlatformObserver(retryInfo)}
		attempt(adplatform.EndpointSync, 1, 2*time.Second, 200, nil)
		runs.CampaignSynced("campaign_2")
		run2 := time.Since(t1)
		runs.RunFinished(syncer.Report{RunID: "run-2", AccountID: "acme", Retry: true, Seen: 2, Synced: 1,
			Status: syncer.StatusInterrupted, Err: errors.New("syncer: the platform is unavailable"),
			StartedAt: t1, Duration: run2, HTTPRequests: 1})

		sync := func(more ...attribute.KeyValue) []attribute.KeyValue { return with(syncAttrs, more...) }
		acme := acmeAttr
		syncShort := []attribute.KeyValue{attribute.String("adsync.endpoint", "sync"), acme}
		runKind, retryKind := attribute.String("adsync.run.kind", "run"), attribute.String("adsync.run.kind", "retry_failed")
		outcome := func(o string) attribute.KeyValue { return attribute.String("adsync.campaign.outcome", o) }
		errType := func(v string) attribute.KeyValue { return attribute.String("error.type", v) }
		status := func(v int) attribute.KeyValue { return attribute.Int("http.response.status_code", v) }
		ms := time.Millisecond
		assertMetrics(t, h.metrics(t), []metricdata.Metrics{
			histogram(otelsync.MetricRequestDuration, descDuration,
				hist(requestBounds, []time.Duration{100 * ms}, with(authAttrs, status(200))...),
				hist(requestBounds, []time.Duration{300 * ms}, with(listAttrs, status(200))...),
				hist(requestBounds, []time.Duration{2 * time.Second}, sync(status(503), errType("503"))...),
				hist(requestBounds, []time.Duration{2 * time.Second, 2 * time.Second}, sync(status(200))...),
				hist(requestBounds, []time.Duration{10 * ms}, sync(status(429), errType("429"))...),
				hist(requestBounds, []time.Duration{15 * time.Second}, sync(errType("timeout"))...),
				hist(requestBounds, []time.Duration{ms}, sync(errType("connection_refused"))...)),
			gauge(otelsync.MetricActiveRequests, "{request}", descActive,
				point(0, authAttrs...), point(0, listAttrs...), point(0, syncAttrs...)),
			counter(otelsync.MetricRateLimited, "{response}", desc429, point(1, syncShort...)),
			counter(otelsync.MetricRetries, "{retry}", descRetries,
				point(1, with(syncShort, errType("503"))...),
				point(1, with(syncShort, errType("429"))...),
				point(1, with(syncShort, errType("timeout"))...)),
			histogram(otelsync.MetricRateLimitWait, descWait,
				hist(waitBounds, []time.Duration{1500 * ms, time.Minute}, syncShort...)),
			counter(otelsync.MetricTokenRefreshes, "{token}", descTokens, point(1, acme)),
			counter(otelsync.MetricPages, "{page}", descPages, point(1, acme)),
			counter(otelsync.MetricCampaigns, "{campaign}", descCampaign,
				point(1, acme, runKind, outcome("synced")),
				point(1, acme, runKind, outcome("skipped")),
				point(1, acme, runKind, outcome("failed"), errType("connection_refused")),
				point(1, acme, runKind, outcome("failed"), errType("invalid_record")),
				point(1, acme, retryKind, outcome("synced"))),
			histogram(otelsync.MetricRunDuration, descRun,
				hist(runBounds, []time.Duration{run1}, acme, runKind, attribute.String("adsync.run.status", "completed_with_failures")),
				hist(runBounds, []time.Duration{run2}, acme, retryKind, attribute.String("adsync.run.status", "interrupted"))),
		})

		if want := 81411 * ms; run1 != want {
			t.Fatalf("the script took %v of fake time, want %v: the expectations below assume it", run1, want)
		}
		at := func(d time.Duration) time.Duration { return d }
		client1 := func(name string, start, end time.Duration, attrs []string, st sdktrace.Status) spanView {
			return spanView{Name: name, Kind: trace.SpanKindClient, Parent: otelsync.SpanRun, Attributes: attrs,
				Status: st, Start: start, End: end}
		}
		syncSpan := func(resend string, more ...string) []string {
			out := append(show(syncAttrs), more...)
			if resend != "" {
				out = append(out, "http.request.resend_count="+resend)
			}
			return sorted(out)
		}
		assertSpans(t, h.views(t, t0), []spanView{
			client1(otelsync.SpanAuthAttempt, at(0), 100*ms, sorted(append(show(authAttrs), "http.response.status_code=200")), unset),
			client1(otelsync.SpanListAttempt, 100*ms, 400*ms, sorted(append(show(listAttrs), "http.response.status_code=200")), unset),
			client1(otelsync.SpanSyncAttempt, 1900*ms, 3900*ms, syncSpan("", "http.response.status_code=503", "error.type=503"), failed("")),
			client1(otelsync.SpanSyncAttempt, 4400*ms, 6400*ms, syncSpan("1", "http.response.status_code=200"), unset),
			client1(otelsync.SpanSyncAttempt, 6400*ms, 6410*ms, syncSpan("", "http.response.status_code=429", "error.type=429"), failed("")),
			client1(otelsync.SpanSyncAttempt, 66410*ms, 81410*ms, syncSpan("1", "error.type=timeout"), failed(timeoutError{}.Error())),
			client1(otelsync.SpanSyncAttempt, 81410*ms, 81411*ms, syncSpan("2", "error.type=connection_refused"), failed(refused.Error())),
			{
				Name: otelsync.SpanRun, Kind: trace.SpanKindInternal, Start: 0, End: run1, Status: unset,
				Attributes: []string{
					"adsync.account.id=acme", "adsync.run.failed=2", "adsync.run.id=run-1", "adsync.run.kind=run",
					"adsync.run.rate_limit_wait=61.5", "adsync.run.rate_limited=1", "adsync.run.requests=7",
					"adsync.run.resumed=false", "adsync.run.retries=3", "adsync.run.seen=4", "adsync.run.skipped=1",
					"adsync.run.status=completed_with_failures", "adsync.run.synced=1", "adsync.run.token_refreshes=1",
				},
				Events: []string{
					"adsync.token_refreshed",
					"adsync.page adsync.page.campaigns=3 adsync.page.has_more=false adsync.page.invalid=1 adsync.page.number=1 adsync.page.total=4",
					"adsync.retry adsync.endpoint=sync adsync.retry.attempt=1 adsync.retry.wait=0.5 error.type=503",
					"adsync.retry adsync.endpoint=sync adsync.retry.attempt=1 adsync.retry.wait=60 error.type=429",
					"adsync.retry adsync.endpoint=sync adsync.retry.attempt=2 adsync.retry.wait=0 error.type=timeout",
				},
			},
			client1(otelsync.SpanSyncAttempt, 82411*ms, 84411*ms, syncSpan("", "http.response.status_code=200"), unset),
			{
				Name: otelsync.SpanRun, Kind: trace.SpanKindInternal, Start: 82411 * ms, End: 84411 * ms,
				Status: failed("syncer: the platform is unavailable"),
				Attributes: []string{
					"adsync.account.id=acme", "adsync.run.failed=0", "adsync.run.id=run-2", "adsync.run.kind=retry_failed",
					"adsync.run.rate_limit_wait=0", "adsync.run.rate_limited=0", "adsync.run.requests=1",
					"adsync.run.resumed=false", "adsync.run.retries=0", "adsync.run.seen=2", "adsync.run.skipped=0",
					"adsync.run.status=interrupted", "adsync.run.synced=1", "adsync.run.token_refreshes=0",
				},
			},
		})
	})
}
