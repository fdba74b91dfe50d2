package main

import (
	"fmt"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/examples/internal/ratelimit"
)

// startFake serves the fake platform (envconfig's time-compressed
// reference) on a free loopback port, with the given rate limit: what runs
// when no AD_PLATFORM_API_URL is set.
func startFake(rate ratelimit.Rate) (*adplatformtest.Server, error) {
	srv, err := adplatformtest.NewServer(adplatformtest.Options{
		RateLimit:   rate.N,
		RateWindow:  rate.Window,
		SyncLatency: envconfig.FakeSyncLatency,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded fake platform: %w", err)
	}
	return srv, nil
}
