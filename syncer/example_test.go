package syncer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// Sync the fake platform's campaigns into the memory store. A service
// does the same with adplatform.New pointed at the real platform and a
// store/postgres store.
func ExampleSyncer_Run() {
	// The reference platform, time-compressed: 10 requests per 100ms
	// instead of per minute, and a quick sync call.
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

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{RateLimit: 10, RateWindow: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	st := memory.New()
	s, err := syncer.New(client, st, syncer.Options{AccountID: "acme"})
	if err != nil {
		log.Fatal(err)
	}

	report, err := s.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("synced %d of %d campaigns, %d failed, %d rate-limited\n",
		report.Synced, report.Seen, report.Failed, report.HTTP429)

	c, err := st.Get(context.Background(), "acme", "campaign_7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Budget, !c.SyncedAt.IsZero())
	// Output:
	// synced 30 of 30 campaigns, 0 failed, 0 rate-limited
	// Campaign 7 1700 true
}

// A campaign that fails becomes a dead letter, with the record as listed
// and the reason; RetryFailed re-syncs just the dead letters once the
// cause is gone. The report's Status says how each pass ended.
func ExampleSyncer_RetryFailed() {
	opts := adplatformtest.Options{Campaigns: 5, RateLimit: 10, RateWindow: 100 * time.Millisecond, SyncLatency: 5 * time.Millisecond}
	// The platform refuses campaign_3's sync, for now.
	opts.SyncErrors = map[string]int{"campaign_3": 422}
	broken, err := adplatformtest.NewServer(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer broken.Close()
	opts.SyncErrors = nil
	mended, err := adplatformtest.NewServer(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer mended.Close()

	st := memory.New()
	for _, pass := range []struct {
		platform *adplatformtest.Server
		retry    bool
	}{{broken, false}, {mended, true}} {
		client, err := adplatform.New(pass.platform.URL,
			adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
			adplatform.Options{RateLimit: 10, RateWindow: 100 * time.Millisecond})
		if err != nil {
			log.Fatal(err)
		}
		s, err := syncer.New(client, st, syncer.Options{AccountID: "acme"})
		if err != nil {
			log.Fatal(err)
		}
		run := s.Run
		if pass.retry {
			run = s.RetryFailed
		}
		report, err := run(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d synced, %d failed\n", report.Status, report.Synced, report.Failed)
		for _, f := range report.Failures {
			fmt.Printf("  %s: %v\n", f.CampaignID, f.Err)
		}
	}
	// Output:
	// completed_with_failures: 4 synced, 1 failed
	//   campaign_3: adplatform: sync: HTTP 422 Unprocessable Entity: Sync failed for this campaign
	// completed: 1 synced, 0 failed
}
