package otelsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/otelsync"
)

// A failure's error.type comes from a small fixed set, whatever the error
// says, so that it can label a metric.
func TestCampaignFailedErrorType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("adplatform: sync: %w", &adplatform.APIError{Endpoint: adplatform.EndpointSync, StatusCode: 404}), "404"},
		{&adplatform.AuthError{Endpoint: adplatform.EndpointAuth, StatusCode: 401}, "401"},
		{&adplatform.RecordError{ID: "campaign_9", Err: errors.New("budget: not a number")}, "invalid_record"},
		{&store.RecordError{ID: "campaign_9", Field: "name", Reason: "too long"}, "rejected_by_store"},
		{&adplatform.DecodeError{Endpoint: adplatform.EndpointSync, Field: "success", Err: errors.New("missing")}, "invalid_response"},
		{&adplatform.DecodeError{Endpoint: adplatform.EndpointSync, Err: fmt.Errorf("cut short: %w", adplatform.ErrMalformedResponse)}, "malformed_response"},
		{fmt.Errorf("sync: %w", context.Canceled), "canceled"},
		{fmt.Errorf("sync: %w", context.DeadlineExceeded), "timeout"},
		{timeoutError{}, "timeout"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection_refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection_reset"},
		{fmt.Errorf("write: %w", syscall.EPIPE), "connection_reset"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "connection_closed"},
		{errors.New("campaign_9: something new"), "_OTHER"},
	} {
		t.Run(tc.want+"/"+tc.err.Error(), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, otelsync.Options{})
			h.tel.Syncer().CampaignFailed("campaign_9", tc.err)
			assertMetrics(t, h.metrics(t), []metricdata.Metrics{
				counter(otelsync.MetricCampaigns, "{campaign}", descCampaign, point(1,
					attribute.String("adsync.run.kind", "run"), attribute.String("adsync.campaign.outcome", "failed"),
					attribute.String("error.type", tc.want))),
			})
		})
	}
}

func TestRetryErrorType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		reason string
		want   string
	}{
		{503, "HTTP 503", "503"},
		{429, "HTTP 429", "429"},
		{0, "timeout", "timeout"},
		{0, "malformed response", "malformed_response"},
		{0, "connection refused", "connection_refused"},
		{0, "connection reset", "connection_reset"},
		{0, "connection aborted", "connection_reset"},
		{0, "connection closed", "connection_closed"},
		{0, "transport error", "_OTHER"},
		{0, "a reason adplatform adds one day, with campaign_9 in it", "_OTHER"},
		{0, "", "_OTHER"},
	} {
		t.Run(tc.want+"/"+tc.reason, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, otelsync.Options{})
			h.tel.Platform("").Retrying(adplatform.RetryInfo{Endpoint: adplatform.EndpointList, Attempt: 1, Status: tc.status, Reason: tc.reason})
			assertMetrics(t, h.metrics(t), []metricdata.Metrics{
				counter(otelsync.MetricRetries, "{retry}", descRetries,
					point(1, attribute.String("adsync.endpoint", "list"), attribute.String("error.type", tc.want))),
			})
		})
	}
}

// Events that come in an order the syncer does not promise still make
// whole spans and honest metrics.
func TestEventsOutOfTheUsualOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, otelsync.Options{})
		runs := h.tel.Syncer()
		t0 := time.Now()

		// Outside any run: measured without an account.
		runs.CampaignSynced("campaign_0")
		runs.PageListed(adplatform.PageInfo{Page: 1})

		// The platform observer asked for before RunStarted: one run span.
		info := syncer.RunInfo{RunID: "run-1", AccountID: "acme"}
		calls := runs.PlatformObserver(info)
		time.Sleep(time.Second)
		runs.RunStarted(info)
		// A RequestDone whose RequestStarted came before the observer
		// was attached: the span starts Latency before it ended.
		time.Sleep(3 * time.Second)
		calls.RequestDone(adplatform.RequestInfo{ID: 7, Endpoint: adplatform.EndpointSync, Attempt: 1, Status: 200, Latency: 2 * time.Second})
		// An endpoint adplatform may add one day.
		calls.RequestStarted(adplatform.RequestInfo{ID: 8, Endpoint: "report", Attempt: 1})
		calls.RequestDone(adplatform.RequestInfo{ID: 8, Endpoint: "report", Attempt: 1, Status: 204})
		runs.RunFinished(syncer.Report{RunID: "run-1", AccountID: "acme", Duration: 4 * time.Second})
		// A run this observer never saw start: measured, no span.
		runs.RunFinished(syncer.Report{RunID: "run-0", AccountID: "acme", Duration: time.Minute, Status: syncer.StatusInterrupted})

		acme := attribute.String("adsync.account.id", "acme")
		runKind := attribute.String("adsync.run.kind", "run")
		assertMetrics(t, h.metrics(t), []metricdata.Metrics{
			counter(otelsync.MetricCampaigns, "{campaign}", descCampaign,
				point(1, runKind, attribute.String("adsync.campaign.outcome", "synced"))),
			histogram(otelsync.MetricRunDuration, descRun,
				hist(runBounds, []time.Duration{4 * time.Second}, acme, runKind, attribute.String("adsync.run.status", "completed")),
				hist(runBounds, []time.Duration{time.Minute}, acme, runKind, attribute.String("adsync.run.status", "interrupted"))),
		})
		assertSpans(t, h.views(t, t0), []spanView{
			{
				Name: otelsync.SpanSyncAttempt, Kind: trace.SpanKindClient, Parent: otelsync.SpanRun, Start: 2 * time.Second, End: 4 * time.Second,
				Attributes: []string{"adsync.account.id=acme", "adsync.endpoint=sync", "http.request.method=POST",
					"http.response.status_code=200", "url.template=/api/campaigns/{id}/sync"},
			},
			{
				Name: "HTTP", Kind: trace.SpanKindClient, Parent: otelsync.SpanRun, Start: 4 * time.Second, End: 4 * time.Second,
				Attributes: []string{"adsync.account.id=acme", "adsync.endpoint=report", "http.request.method=_OTHER",
					"http.response.status_code=204"},
			},
			{
				Name: otelsync.SpanRun, Kind: trace.SpanKindInternal, Start: 0, End: 4 * time.Second,
				Attributes: []string{
					"adsync.account.id=acme", "adsync.run.failed=0", "adsync.run.id=run-1", "adsync.run.kind=run",
					"adsync.run.rate_limit_wait=0", "adsync.run.rate_limited=0", "adsync.run.requests=0",
					"adsync.run.resumed=false", "adsync.run.retries=0", "adsync.run.seen=0", "adsync.run.skipped=0",
					"adsync.run.status=completed", "adsync.run.synced=0", "adsync.run.token_refreshes=0",
				},
			},
		})
	})
}

// Many goroutines reporting at once, as a syncer's workers do: every
// event counted once, every span whole.
func TestConcurrentEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, otelsync.Options{})
	client := h.tel.Platform("acme")
	runs := h.tel.Syncer()
	info := syncer.RunInfo{RunID: "run-1", AccountID: "acme"}
	runs.RunStarted(info)
	calls := runs.PlatformObserver(info)

	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range each {
				i := adplatform.RequestInfo{ID: uint64(w*each + n + 1), Endpoint: adplatform.EndpointSync, Attempt: 1}
				client.RequestStarted(i)
				calls.RequestStarted(i)
				client.RateLimitWait(adplatform.EndpointSync, time.Millisecond)
				i.Status, i.Latency = 200, time.Millisecond
				client.RequestDone(i)
				calls.RequestDone(i)
				runs.CampaignSynced(fmt.Sprint("campaign_", w, "_", n))
			}
		})
	}
	wg.Wait()
	runs.RunFinished(syncer.Report{RunID: "run-1", AccountID: "acme", Synced: workers * each})

	m := h.metrics(t)
	if p := m[otelsync.MetricRequestDuration].Data.(metricdata.Histogram[float64]).DataPoints; len(p) != 1 || p[0].Count != workers*each {
		t.Errorf("%s: %+v, want one data point counting %d", otelsync.MetricRequestDuration, p, workers*each)
	}
	if p := m[otelsync.MetricRateLimitWait].Data.(metricdata.Histogram[float64]).DataPoints; len(p) != 1 || p[0].Count != workers*each {
		t.Errorf("%s: %+v, want one data point counting %d", otelsync.MetricRateLimitWait, p, workers*each)
	}
	if p := m[otelsync.MetricActiveRequests].Data.(metricdata.Sum[int64]).DataPoints; len(p) != 1 || p[0].Value != 0 {
		t.Errorf("%s: %+v, want one data point at 0", otelsync.MetricActiveRequests, p)
	}
	if p := m[otelsync.MetricCampaigns].Data.(metricdata.Sum[int64]).DataPoints; len(p) != 1 || p[0].Value != workers*each {
		t.Errorf("%s: %+v, want one data point at %d", otelsync.MetricCampaigns, p, workers*each)
	}
	ended := h.spans.Ended()
	if len(ended) != workers*each+1 {
		t.Fatalf("%d spans ended, want %d attempts and the run", len(ended), workers*each)
	}
	run := ended[len(ended)-1].SpanContext()
	for _, s := range ended[:len(ended)-1] {
		if s.Parent().SpanID() != run.SpanID() {
			t.Fatalf("attempt span %s has parent %s, want the run's %s", s.Name(), s.Parent().SpanID(), run.SpanID())
		}
	}
}
