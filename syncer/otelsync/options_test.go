package otelsync_test

import (
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/adsync/adsync/syncer/otelsync"
)

func TestNewValidatesPlatformURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, wantErr string
		server       []string // server.address and server.port, when valid
	}{
		{url: "", server: nil},
		{url: "https://ads.example.com", server: []string{"server.address=ads.example.com", "server.port=443"}},
		{url: "http://127.0.0.1:8080/base/", server: []string{"server.address=127.0.0.1", "server.port=8080"}},
		{url: "http://[::1]:9000", server: []string{"server.address=::1", "server.port=9000"}},
		{url: "ftp://ads.example.com", wantErr: `the scheme must be http or https, got "ftp"`},
		{url: "ads.example.com", wantErr: `the scheme must be http or https, got ""`},
		{url: "https://", wantErr: "has no host"},
		{url: "https://ads.example.com:99999", wantErr: `port "99999" is not a port number`},
		{url: "https://ops:Hunter2secret@ads.example.com", wantErr: "holds credentials"},
		{url: "https://ops:Hunter2secret@ads example.com/%zz", wantErr: "not a URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			tel, err := otelsync.New(otelsync.Options{PlatformURL: tc.url, MeterProvider: noop.NewMeterProvider()})
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("New accepted PlatformURL %q", tc.url)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "otelsync: Options.PlatformURL: ") || !strings.Contains(msg, tc.wantErr) {
					t.Errorf("error %q, want it to name Options.PlatformURL and say %q", msg, tc.wantErr)
				}
				if strings.Contains(err.Error(), "Hunter2secret") {
					t.Errorf("error %q shows the URL's password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tel == nil {
				t.Fatal("New returned no Telemetry and no error")
			}
			// The server attributes reach the metrics.
			h := newHarness(t, otelsync.Options{PlatformURL: tc.url})
			h.tel.Platform("").TokenRefreshed()
			h.tel.Platform("").RequestStarted(requestInfo(1, "auth"))
			m := h.metrics(t)[otelsync.MetricActiveRequests]
			got := show(m.Data.(metricdata.Sum[int64]).DataPoints[0].Attributes.ToSlice())
			want := sorted(append([]string{"adsync.endpoint=auth", "http.request.method=POST", "url.template=/auth/token"}, tc.server...))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("attributes %v, want %v", got, want)
			}
		})
	}
}

// The zero Options use the global providers (no-ops unless the program
// set its own), and work.
func TestNewZeroOptions(t *testing.T) {
	t.Parallel()
	tel, err := otelsync.New(otelsync.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tel.Platform("acme").TokenRefreshed()
	tel.Syncer().CampaignSynced("campaign_1")
}

// refusingMeter refuses to make the instrument named refuse.
type refusingMeter struct {
	noop.Meter
	refuse string
}

func (m refusingMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	if name == m.refuse {
		return nil, errors.New("the provider refuses it")
	}
	return m.Meter.Int64Counter(name, opts...)
}

func (m refusingMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	if name == m.refuse {
		return nil, errors.New("the provider refuses it")
	}
	return m.Meter.Float64Histogram(name, opts...)
}

func (m refusingMeter) Int64UpDownCounter(name string, opts ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	if name == m.refuse {
		return nil, errors.New("the provider refuses it")
	}
	return m.Meter.Int64UpDownCounter(name, opts...)
}

type refusingProvider struct {
	noop.MeterProvider
	refuse string
}

func (p refusingProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return refusingMeter{refuse: p.refuse}
}

func TestNewReportsARefusedInstrument(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		otelsync.MetricRequestDuration, otelsync.MetricActiveRequests, otelsync.MetricRateLimited,
		otelsync.MetricRetries, otelsync.MetricRateLimitWait, otelsync.MetricTokenRefreshes,
		otelsync.MetricPages, otelsync.MetricCampaigns, otelsync.MetricRunDuration,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := otelsync.New(otelsync.Options{MeterProvider: refusingProvider{refuse: name}})
			if err == nil {
				t.Fatal("New succeeded with an instrument refused")
			}
			if want := "otelsync: instrument " + name + ": the provider refuses it"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}
