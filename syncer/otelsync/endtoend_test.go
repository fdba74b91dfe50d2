package otelsync_test

import (
	"encoding/base64"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/otelsync"
)

// inProcess serves requests with a handler, without a network, so that
// a client and the fake platform both run on a synctest bubble's clock.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	// The client logs its rate-limit slot when the request is written.
	if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{})
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, in)
	return rec.Result(), nil
}

// TestEndToEnd syncs 50 campaigns from the fake platform, with the
// reference platform's numbers (10 requests per rolling minute, a 2 s
// sync call, every 5th list request a 503), through a real client and
// syncer into the memory store, on fake time. The client believes the
// limit is 11, so the platform answers some 429s; one campaign's sync
// always fails. Every metric and span must agree with what the client
// counted, what the fake saw and what the run reported.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform, err := adplatformtest.New(adplatformtest.Options{
			Campaigns:  50,
			SyncErrors: map[string]int{"campaign_7": 404},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer platform.Close()

		const baseURL = "http://platform.invalid:8080"
		h := newHarness(t, otelsync.Options{PlatformURL: baseURL})
		client, err := adplatform.New(baseURL,
			adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
			adplatform.Options{
				Transport: inProcess{platform},
				PageSize:  10,
				RateLimit: 11,
				Observer:  h.tel.Platform("acme"),
			})
		if err != nil {
			t.Fatal(err)
		}
		s, err := syncer.New(client, memory.New(), syncer.Options{AccountID: "acme", Observer: h.tel.Syncer()})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Run(t.Context())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if rep.Seen != 50 || rep.Synced != 49 || rep.Failed != 1 {
			t.Fatalf("report: %d seen, %d synced, %d failed; want 50, 49, 1", rep.Seen, rep.Synced, rep.Failed)
		}

		cs, ps := client.Stats(), platform.Stats()
		if cs.RateLimited == 0 || cs.Retries <= cs.RateLimited {
			t.Fatalf("the client met %d 429s and %d retries: the test wants some of each, 503s included", cs.RateLimited, cs.Retries)
		}
		m := h.metrics(t)

		// Requests: one data point per endpoint and status, counting what
		// the platform answered.
		var requests uint64
		var syncOK metricdata.HistogramDataPoint[float64]
		for _, p := range dataPoints[metricdata.HistogramDataPoint[float64]](t, m, otelsync.MetricRequestDuration) {
			e, status := get(p.Attributes, "adsync.endpoint").AsString(), int(get(p.Attributes, "http.response.status_code").AsInt64())
			if want := ps.Endpoints[adplatform.Endpoint(e)].Statuses[status]; p.Count != uint64(want) {
				t.Errorf("%s %s %d: %d requests measured, the platform answered %d", otelsync.MetricRequestDuration, e, status, p.Count, want)
			}
			if got := get(p.Attributes, "server.address").AsString(); got != "platform.invalid" {
				t.Errorf("server.address %q", got)
			}
			if e == "sync" && status == 200 {
				syncOK = p
			}
			requests += p.Count
		}
		if requests != uint64(cs.Requests) {
			t.Errorf("%d requests measured, the client sent %d", requests, cs.Requests)
		}
		// Every sync call took the fake's 2 s, exactly, on fake time.
		lo, _ := syncOK.Min.Value()
		hi, _ := syncOK.Max.Value()
		if lo != 2 || hi != 2 || syncOK.Count != 49 || syncOK.Sum != 98 {
			t.Errorf("sync 200s: %d, from %vs to %vs, sum %vs; want 49 of exactly 2 s", syncOK.Count, lo, hi, syncOK.Sum)
		}
		for _, p := range dataPoints[metricdata.DataPoint[int64]](t, m, otelsync.MetricActiveRequests) {
			if p.Value != 0 {
				t.Errorf("%s %v: %d at the end", otelsync.MetricActiveRequests, p.Attributes.ToSlice(), p.Value)
			}
		}

		acme := attribute.String("adsync.account.id", "acme")
		if got := total(dataPoints[metricdata.DataPoint[int64]](t, m, otelsync.MetricRateLimited)); got != cs.RateLimited || got != int64(ps.RateLimited) {
			t.Errorf("%d 429s measured; the client counted %d, the platform served %d", got, cs.RateLimited, ps.RateLimited)
		}
		if got := total(dataPoints[metricdata.DataPoint[int64]](t, m, otelsync.MetricRetries)); got != cs.Retries {
			t.Errorf("%d retries measured, the client counted %d", got, cs.Retries)
		}
		waits := dataPoints[metricdata.HistogramDataPoint[float64]](t, m, otelsync.MetricRateLimitWait)
		var waitCount uint64
		var waitSum float64
		for _, p := range waits {
			waitCount += p.Count
			waitSum += p.Sum
		}
		if waitCount != uint64(cs.RateLimitWaits) || math.Abs(waitSum-cs.RateLimitWaited.Seconds()) > 1e-6 {
			t.Errorf("%d waits of %vs measured; the client counted %d of %v", waitCount, waitSum, cs.RateLimitWaits, cs.RateLimitWaited)
		}
		assertMetrics(t, map[string]metricdata.Metrics{
			otelsync.MetricTokenRefreshes: m[otelsync.MetricTokenRefreshes],
			otelsync.MetricPages:          m[otelsync.MetricPages],
			otelsync.MetricCampaigns:      m[otelsync.MetricCampaigns],
			otelsync.MetricRunDuration:    m[otelsync.MetricRunDuration],
		}, []metricdata.Metrics{
			counter(otelsync.MetricTokenRefreshes, "{token}", descTokens, point(1, acme)),
			counter(otelsync.MetricPages, "{page}", descPages, point(int64(ps.Endpoints[adplatform.EndpointList].Statuses[200]), acme)),
			counter(otelsync.MetricCampaigns, "{campaign}", descCampaign,
				point(49, acme, attribute.String("adsync.run.kind", "run"), attribute.String("adsync.campaign.outcome", "synced")),
				point(1, acme, attribute.String("adsync.run.kind", "run"), attribute.String("adsync.campaign.outcome", "failed"),
					attribute.String("error.type", "404"))),
			histogram(otelsync.MetricRunDuration, descRun, hist(runBounds, []time.Duration{rep.Duration},
				acme, attribute.String("adsync.run.kind", "run"), attribute.String("adsync.run.status", "completed_with_failures"))),
		})
		if got := ps.Endpoints[adplatform.EndpointList].Statuses[200]; got != 5 {
			t.Errorf("%d pages listed, want 5 of 10", got)
		}

		// Spans: the run, and every attempt as its child.
		ended := h.spans.Ended()
		if int64(len(ended)) != cs.Requests+1 {
			t.Fatalf("%d spans, want the run and %d attempts", len(ended), cs.Requests)
		}
		runSpan := ended[len(ended)-1]
		if runSpan.Name() != otelsync.SpanRun || runSpan.Parent().IsValid() {
			t.Fatalf("the last span to end is %q (parent %v), want the run's, a root", runSpan.Name(), runSpan.Parent())
		}
		if d := runSpan.EndTime().Sub(runSpan.StartTime()); d != rep.Duration {
			t.Errorf("the run span lasted %v, the run %v", d, rep.Duration)
		}
		wantRun := []string{
			"adsync.account.id=acme", "adsync.run.failed=1", "adsync.run.id=" + rep.RunID, "adsync.run.kind=run",
			"adsync.run.rate_limit_wait=" + attribute.Float64Value(rep.RateLimitWait.Seconds()).String(),
			"adsync.run.rate_limited=" + attribute.Int64Value(rep.HTTP429).String(),
			"adsync.run.requests=" + attribute.Int64Value(rep.HTTPRequests).String(),
			"adsync.run.resumed=false",
			"adsync.run.retries=" + attribute.Int64Value(rep.Retries).String(),
			"adsync.run.seen=50", "adsync.run.skipped=0", "adsync.run.status=completed_with_failures",
			"adsync.run.synced=49", "adsync.run.token_refreshes=1",
		}
		if got := show(runSpan.Attributes()); strings.Join(got, " ") != strings.Join(sorted(wantRun), " ") {
			t.Errorf("run span attributes\n got %v\nwant %v", got, sorted(wantRun))
		}
		if rep.HTTPRequests != cs.Requests {
			t.Errorf("the report counts %d requests, the client %d", rep.HTTPRequests, cs.Requests)
		}
		byName := map[string]map[int]int{} // span name → status → spans
		for _, s := range ended[:len(ended)-1] {
			if s.Parent().SpanID() != runSpan.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
				t.Fatalf("attempt span %q: kind %v, parent %v; want a client span, child of the run", s.Name(), s.SpanKind(), s.Parent().SpanID())
			}
			var status int
			for _, a := range s.Attributes() {
				if a.Key == "http.response.status_code" {
					status = int(a.Value.AsInt64())
				}
			}
			if (status >= 400) != (s.Status().Code == codes.Error) {
				t.Errorf("span %s answered %d has status %v", s.Name(), status, s.Status())
			}
			if s.Name() == otelsync.SpanSyncAttempt && status == 200 && s.EndTime().Sub(s.StartTime()) != 2*time.Second {
				t.Errorf("a sync attempt span lasted %v, the fake took 2s", s.EndTime().Sub(s.StartTime()))
			}
			if byName[s.Name()] == nil {
				byName[s.Name()] = map[int]int{}
			}
			byName[s.Name()][status]++
		}
		for e, name := range map[adplatform.Endpoint]string{
			adplatform.EndpointAuth: otelsync.SpanAuthAttempt,
			adplatform.EndpointList: otelsync.SpanListAttempt,
			adplatform.EndpointSync: otelsync.SpanSyncAttempt,
		} {
			for status, n := range ps.Endpoints[e].Statuses {
				if byName[name][status] != n {
					t.Errorf("%d %q spans answered %d; the platform answered %d", byName[name][status], name, status, n)
				}
			}
		}

		assertNoSecret(t, h, platform)
	})
}

// assertNoSecret searches everything the harness recorded (attribute
// values, event attributes, status descriptions, names) for the
// account's password, its Basic credential and the tokens issued.
func assertNoSecret(t *testing.T, h *harness, platform *adplatformtest.Platform) {
	t.Helper()
	secrets := append(platform.Tokens(), adplatformtest.DefaultPassword,
		base64.StdEncoding.EncodeToString([]byte(adplatformtest.DefaultEmail+":"+adplatformtest.DefaultPassword)))
	if len(secrets) < 3 {
		t.Fatal("the platform issued no token")
	}
	var seen []string
	for _, m := range h.metrics(t) {
		seen = append(seen, m.Name, m.Description)
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				seen = append(seen, show(p.Attributes.ToSlice())...)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				seen = append(seen, show(p.Attributes.ToSlice())...)
			}
		}
	}
	for _, s := range h.spans.Ended() {
		seen = append(seen, s.Name(), s.Status().Description)
		seen = append(seen, show(s.Attributes())...)
		for _, e := range s.Events() {
			seen = append(seen, e.Name)
			seen = append(seen, show(e.Attributes)...)
		}
	}
	all := strings.Join(seen, "\n")
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Errorf("a secret (%d bytes) reached the telemetry", len(secret))
		}
	}
	if strings.Contains(all, "campaign_") {
		t.Error("a campaign id reached the telemetry")
	}
}

// dataPoints returns a metric's data points.
func dataPoints[P any](t *testing.T, m map[string]metricdata.Metrics, name string) []P {
	t.Helper()
	switch d := m[name].Data.(type) {
	case metricdata.Sum[int64]:
		if p, ok := any(d.DataPoints).([]P); ok {
			return p
		}
	case metricdata.Histogram[float64]:
		if p, ok := any(d.DataPoints).([]P); ok {
			return p
		}
	}
	t.Fatalf("metric %s: no data points of the kind wanted in %T", name, m[name].Data)
	return nil
}

func total(points []metricdata.DataPoint[int64]) int64 {
	var n int64
	for _, p := range points {
		n += p.Value
	}
	return n
}

func get(s attribute.Set, key attribute.Key) attribute.Value {
	v, _ := s.Value(key)
	return v
}
