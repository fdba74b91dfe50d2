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
