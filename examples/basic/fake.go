package main

import (
	"fmt"
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

// embeddedMargin is the client's rate margin with the embedded fake: a
// tenth of the window. The fake runs in this process, so whatever delays
// this process (a busy CPU, the race detector, a GC) delays the fake's log
// of a request after the client wrote it, by more than the client's default
// margin (1% of the window, at least 25ms) covers on a loaded machine; on a
// real platform the margin covers the network and the platform's own queue
// instead. The cost is a tenth of the window per window: a run of about 22 s
// instead of 20.
func embeddedMargin(rate ratelimit.Rate) time.Duration { return rate.Window / 10 }

// startFake serves the fake platform on a free loopback port, with the
// given rate limit: what runs when no AD_PLATFORM_API_URL is set.
func startFake(rate ratelimit.Rate) (*adplatformtest.Server, error) {
	srv, err := adplatformtest.NewServer(adplatformtest.Options{
		RateLimit:   rate.N,
		RateWindow:  rate.Window,
		SyncLatency: fakeSyncLatency,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded fake platform: %w", err)
	}
	return srv, nil
}
