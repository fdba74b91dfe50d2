package otelsync

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/semconv/v1.40.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// scope names the instrumentation scope of every meter and tracer, as
// OpenTelemetry asks: the package's import path.
const scope = "github.com/adsync/adsync/syncer/otelsync"

// Options configure [New]. The zero value is ready to use: the global
// providers, and no server attributes.
type Options struct {
	// MeterProvider makes the meter of every metric. Nil means
	// otel.GetMeterProvider(), read once, in New.
	MeterProvider metric.MeterProvider
	// TracerProvider makes the tracer of every span. Nil means
	// otel.GetTracerProvider(), read once, in New.
	TracerProvider trace.TracerProvider

	// PlatformURL is the platform's base URL, as given to adplatform.New.
	// Its host and port become the server.address and server.port
	// attributes that the semantic conventions ask of HTTP client metrics
	// and spans. Empty leaves them out. It must be an absolute http or
	// https URL without credentials (a password in it would reach every
	// exported data point).
	PlatformURL string
}

// Telemetry holds the instruments that the observers it hands out share:
// [Telemetry.Platform] for a platform client's events, [Telemetry.Syncer]
// for a syncer's runs. Make one per process (or per provider) and hand out
// as many observers as there are clients and syncers. It is safe for
// concurrent use.
type Telemetry struct {
	tracer trace.Tracer
	// server holds server.address and server.port, or nothing.
	server []attribute.KeyValue

	requestDuration metric.Float64Histogram
	activeRequests  metric.Int64UpDownCounter
	rateLimited     metric.Int64Counter
	retries         metric.Int64Counter
	rateLimitWait   metric.Float64Histogram
	tokenRefreshes  metric.Int64Counter
	pages           metric.Int64Counter
	campaigns       metric.Int64Counter
	runDuration     metric.Float64Histogram
}

// New returns a Telemetry that makes its metrics and spans with the
// providers in opts. It fails, naming the field, when an option is
// invalid, and when a provider refuses an instrument.
func New(opts Options) (*Telemetry, error) {
	server, err := serverAttributes(opts.PlatformURL)
	if err != nil {
		return nil, fmt.Errorf("otelsync: Options.PlatformURL: %w", err)
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &Telemetry{
		tracer: tp.Tracer(scope, trace.WithSchemaURL(semconv.SchemaURL)),
		server: server,
	}
	if err := t.instruments(mp.Meter(scope, metric.WithSchemaURL(semconv.SchemaURL))); err != nil {
		return nil, fmt.Errorf("otelsync: %w", err)
	}
	return t, nil
}

// Bucket boundaries, in seconds. Requests get the HTTP conventions'
// advice (5 ms to 10 s) and 15, 30 and 60 s beyond it, where a sync
// attempt's timeout falls. Waits for a slot of a rolling minute, and runs
// that the rate limit stretches over many minutes, need their own.
var (
	requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 30, 60}
	waitBuckets    = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300}
	runBuckets     = []float64{1, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400}
)

// instruments creates every instrument with meter.
func (t *Telemetry) instruments(meter metric.Meter) error {
	duration, err := httpconv.NewClientRequestDuration(meter, metric.WithExplicitBucketBoundaries(requestBuckets...))
	if err != nil {
		return fmt.Errorf("instrument %s: %w", duration.Name(), err)
	}
	t.requestDuration = duration.Inst()
	active, err := httpconv.NewClientActiveRequests(meter)
	if err != nil {
		return fmt.Errorf("instrument %s: %w", active.Name(), err)
	}
	t.activeRequests = active.Inst()

	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil {
			errs = append(errs, fmt.Errorf("instrument %s: %w", name, err))
		}
		return c
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(buckets...))
		if err != nil {
			errs = append(errs, fmt.Errorf("instrument %s: %w", name, err))
		}
		return h
	}
	t.rateLimited = counter(MetricRateLimited, "{response}", "429 responses the platform answered.")
	t.retries = counter(MetricRetries, "{retry}", "Attempts retried after a failed one, 429s included.")
	t.rateLimitWait = histogram(MetricRateLimitWait,
		"Time a request waited for a slot of the client-side rate limiter (only requests that waited).", waitBuckets)
	t.tokenRefreshes = counter(MetricTokenRefreshes, "{token}", "Bearer tokens obtained.")
	t.pages = counter(MetricPages, "{page}", "Pages of campaigns listed and decoded.")
	t.campaigns = counter(MetricCampaigns, "{campaign}", "Campaigns a run finished with, by outcome: synced, skipped or failed.")
	t.runDuration = histogram(MetricRunDuration, "Duration of sync runs and RetryFailed passes, by final status.", runBuckets)
	return errors.Join(errs...)
}

// serverAttributes returns server.address and server.port for a platform
// URL, nothing for an empty one.
func serverAttributes(raw string) ([]attribute.KeyValue, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, credentials and all: say only why.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("holds credentials; give the URL without them")
	}
	var port int
	switch u.Scheme {
	case "http":
		port = 80
	case "https":
		port = 443
	default:
		return nil, fmt.Errorf("the scheme must be http or https, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a port number", p)
		}
		port = n
	}
	return []attribute.KeyValue{semconv.ServerAddress(u.Hostname()), semconv.ServerPort(port)}, nil
}
