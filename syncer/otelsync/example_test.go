package otelsync_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/otelsync"
)

// Wire one account's client and syncer to OpenTelemetry, sync, and read
// the metrics back. A service passes providers built with its exporters
// (Prometheus, OTLP) instead of the in-memory reader and recorder, or none
// at all to use the global ones.
func Example() {
	platform, err := adplatformtest.NewServer(adplatformtest.Options{
		Campaigns:   30,
		RateLimit:   10,
		RateWindow:  100 * time.Millisecond,
		SyncLatency: 5 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tracers := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tel, err := otelsync.New(otelsync.Options{MeterProvider: meters, TracerProvider: tracers, PlatformURL: platform.URL})
	if err != nil {
		log.Fatal(err)
	}

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{RateLimit: 10, RateWindow: 100 * time.Millisecond, Observer: tel.Platform("acme")})
	if err != nil {
		log.Fatal(err)
	}
	s, err := syncer.New(client, memory.New(), syncer.Options{AccountID: "acme", Observer: tel.Syncer()})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Run(context.Background()); err != nil {
		log.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sync calls answered 200:", requests(rm, "sync", 200))
	fmt.Println("campaigns synced:", counted(rm, otelsync.MetricCampaigns, otelsync.OutcomeKey.String(otelsync.OutcomeSynced)))
	fmt.Println("pages listed:", counted(rm, otelsync.MetricPages))
	fmt.Println("tokens obtained:", counted(rm, otelsync.MetricTokenRefreshes))
	for _, span := range spans.Ended() {
		if span.Name() == otelsync.SpanRun {
			for _, a := range span.Attributes() {
				if a.Key == otelsync.RunStatusKey {
					fmt.Println("run span:", a.Value.AsString())
				}
			}
		}
	}
	// Output:
	// sync calls answered 200: 30
	// campaigns synced: 30
	// pages listed: 1
	// tokens obtained: 1
	// run span: completed
}

// requests counts the attempts to an endpoint answered with a status.
func requests(rm metricdata.ResourceMetrics, endpoint string, status int) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == otelsync.MetricRequestDuration {
				for _, p := range h.DataPoints {
					e, _ := p.Attributes.Value(otelsync.EndpointKey)
					s, _ := p.Attributes.Value("http.response.status_code")
					if e.AsString() == endpoint && s.AsInt64() == int64(status) {
						n += p.Count
					}
				}
			}
		}
	}
	return n
}

// counted sums a counter's data points that carry every attribute of with.
func counted(rm metricdata.ResourceMetrics, name string, with ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
			points:
				for _, p := range sum.DataPoints {
					for _, a := range with {
						if v, ok := p.Attributes.Value(a.Key); !ok || v != a.Value {
							continue points
						}
					}
					n += p.Value
				}
			}
		}
	}
	return n
}
