package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/ratelimit"
)

// The embedded fake behaves as the reference platform does, time-
// compressed so that a first run takes about 20 s instead of 10 minutes:
// its window is 2 s instead of a minute, its sync call 400 ms instead of 2 s.
// Everything else is the reference's: 100 campaigns, a 503 on every 5th list
// call, the pagination quirk.
const (
	fakeRateLimit   = adplatformtest.DefaultRateLimit
	fakeRateWindow  = 2 * time.Second
	fakeSyncLatency = 400 * time.Millisecond
)

// fakeRate is the embedded fake's rate limit, and the client's default
// with it.
func fakeRate() ratelimit.Rate { return ratelimit.Rate{N: fakeRateLimit, Window: fakeRateWindow} }

// embeddedFake is the fake platform served on loopback when no
// AD_PLATFORM_API_URL is set.
type embeddedFake struct {
	platform *adplatformtest.Platform
	srv      *http.Server
	url      string
}

// startFake serves the fake with the given rate limit on a free loopback
// port.
func startFake(rate ratelimit.Rate, log *slog.Logger) (*embeddedFake, error) {
	p, err := adplatformtest.New(
		adplatformtest.WithRateLimit(rate.N, rate.Window),
		adplatformtest.WithSyncLatency(fakeSyncLatency),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded fake platform: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded fake platform: %w", err)
	}
	f := &embeddedFake{
		platform: p,
		srv: &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		url: "http://" + ln.Addr().String(),
	}
	go func() { _ = f.srv.Serve(ln) }() // returns http.ErrServerClosed at Close
	return f, nil
}

// Close releases the requests the fake holds, then stops serving.
func (f *embeddedFake) Close() {
	f.platform.Close()
	_ = f.srv.Close()
}
