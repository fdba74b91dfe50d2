package otelsync_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/syncer/otelsync"
)

// harness is a Telemetry wired to the SDK's in-memory reader and span
// recorder.
type harness struct {
	tel    *otelsync.Telemetry
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
}

func newHarness(t *testing.T, opts otelsync.Options) *harness {
	t.Helper()
	h := &harness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() {
		// Not t.Context(): it is done by the time cleanups run.
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	opts.MeterProvider, opts.TracerProvider = mp, tp
	tel, err := otelsync.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.tel = tel
	return h
}

// metrics collects every metric, by name.
func (h *harness) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/adsync/adsync/syncer/otelsync" {
			t.Errorf("scope %q, want the package's import path", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// assertMetrics checks that the collected metrics are exactly want (name,
// description, unit, kind, every data point's attributes and values),
// whatever their order and timestamps.
func assertMetrics(t *testing.T, got map[string]metricdata.Metrics, want []metricdata.Metrics) {
	t.Helper()
	names := map[string]bool{}
	for _, w := range want {
		names[w.Name] = true
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("metric %s was not recorded", w.Name)
			continue
		}
		metricdatatest.AssertEqual(t, w, g, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	}
	for name := range got {
		if !names[name] {
			t.Errorf("metric %s was recorded, and not expected: %+v", name, got[name].Data)
		}
	}
}

// Expected metric builders.

func counter(name, unit, desc string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Unit: unit, Description: desc, Data: metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}}
}

func gauge(name, unit, desc string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Unit: unit, Description: desc, Data: metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality, IsMonotonic: false, DataPoints: points}}
}

func histogram(name, desc string, points ...metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Unit: "s", Description: desc, Data: metricdata.Histogram[float64]{
		Temporality: metricdata.CumulativeTemporality, DataPoints: points}}
}

func point(v int64, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attrs...), Value: v}
}

// hist is the data point of values recorded into a histogram with bounds.
func hist(bounds []float64, values []time.Duration, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	p := metricdata.HistogramDataPoint[float64]{
		Attributes:   attribute.NewSet(attrs...),
		Bounds:       bounds,
		BucketCounts: make([]uint64, len(bounds)+1),
	}
	for i, d := range values {
		v := d.Seconds()
		p.Count++
		p.Sum += v
		// A bucket holds the values up to and including its bound.
		b, _ := slices.BinarySearch(bounds, v)
		p.BucketCounts[b]++
		if lo, _ := p.Min.Value(); i == 0 || v < lo {
			p.Min = metricdata.NewExtrema(v)
		}
		if hi, _ := p.Max.Value(); i == 0 || v > hi {
			p.Max = metricdata.NewExtrema(v)
		}
	}
	return p
}

// with returns base and more, as a new slice.
func with(base []attribute.KeyValue, more ...attribute.KeyValue) []attribute.KeyValue {
	return append(slices.Clip(base), more...)
}

// spanView is what a test asserts of a span: times relative to t0.
type spanView struct {
	Name       string
	Kind       trace.SpanKind
	Parent     string // the parent's name, "" for a root
	Attributes []string
	Events     []string
	Status     sdktrace.Status
	Start, End time.Duration
}

// views shows the ended spans, in the order they ended.
func (h *harness) views(t *testing.T, t0 time.Time) []spanView {
	t.Helper()
	ended := h.spans.Ended()
	names := map[trace.SpanID]string{}
	for _, s := range ended {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	var out []spanView
	for _, s := range ended {
		v := spanView{Name: s.Name(), Kind: s.SpanKind(), Status: s.Status(),
			Attributes: show(s.Attributes()), Start: s.StartTime().Sub(t0), End: s.EndTime().Sub(t0)}
		if p := s.Parent(); p.IsValid() {
			v.Parent = names[p.SpanID()]
			if v.Parent == "" {
				v.Parent = "?" + p.SpanID().String()
			}
			if p.TraceID() != s.SpanContext().TraceID() {
				t.Errorf("span %s is in trace %s, its parent in %s", s.Name(), s.SpanContext().TraceID(), p.TraceID())
			}
		}
		for _, e := range s.Events() {
			v.Events = append(v.Events, strings.TrimSpace(e.Name+" "+strings.Join(show(e.Attributes), " ")))
		}
		out = append(out, v)
	}
	return out
}

// show renders attributes as sorted key=value strings.
func show(attrs []attribute.KeyValue) []string {
	out := make([]string, len(attrs))
	for i, a := range attrs {
		out[i] = fmt.Sprintf("%s=%s", a.Key, a.Value.String())
	}
	slices.Sort(out)
	return out
}

// sorted sorts s and returns it.
func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// assertSpans compares spans to want, one by one.
func assertSpans(t *testing.T, got, want []spanView) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d spans ended, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("span %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

var (
	unset  = sdktrace.Status{Code: codes.Unset}
	failed = func(desc string) sdktrace.Status { return sdktrace.Status{Code: codes.Error, Description: desc} }
)

func requestInfo(id uint64, e adplatform.Endpoint) adplatform.RequestInfo {
	return adplatform.RequestInfo{ID: id, Endpoint: e, Attempt: 1}
}
