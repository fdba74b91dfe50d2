package adplatform_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// A client is built once and shared. Here it talks to the fake platform,
// with a short rate window so that the example runs fast; against the real
// platform, the zero Options are the platform's numbers (10 per minute).
func ExampleNew() {
	platform, err := adplatformtest.NewServer(adplatformtest.Options{RateLimit: 10, RateWindow: 200 * time.Millisecond, SyncLatency: 10 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{RateLimit: 10, RateWindow: 200 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	res, err := client.SyncCampaign(ctx, "campaign_1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.CampaignID, "—", res.Message)

	// Errors are typed: take them apart with errors.As.
	_, err = client.SyncCampaign(ctx, "no/such campaign")
	var apiErr *adplatform.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, "— temporary:", apiErr.Temporary())
	}

	// The X-Client-ID, derived from the account's email.
	fmt.Println(client.ClientID())
	// Output:
	// campaign_1 — Campaign data synced successfully
	// 404 Not Found — temporary: false
	// adsync-dd0eceaea22b7b22
}

// Campaigns pages through the whole listing lazily. Here pages of 10 meet
// the reference platform's every-fifth-request 503, which is retried.
func ExampleClient_Campaigns() {
	platform, err := adplatformtest.NewServer(adplatformtest.Options{RateLimit: 10, RateWindow: 200 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{PageSize: 10, RateLimit: 10, RateWindow: 200 * time.Millisecond, BackoffMin: 10 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}

	var ids []string
	for c, err := range client.Campaigns(context.Background()) {
		var recErr *adplatform.RecordError
		switch {
		case errors.As(err, &recErr):
			log.Printf("skipping a bad record: %v", err) // iteration goes on
			continue
		case err != nil:
			log.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	fmt.Println(len(ids), "campaigns:", ids[0], "…", ids[len(ids)-1])

	st := client.Stats()
	fmt.Println("retries:", st.Retries, "429s:", st.RateLimited)
	// Output:
	// 100 campaigns: campaign_1 … campaign_100
	// retries: 2 429s: 0
}

// Pages yields whole pages, each record with the bytes the platform sent:
// what a sync that stores the listing verbatim wants.
func ExampleClient_Pages() {
	platform, err := adplatformtest.NewServer(adplatformtest.Options{RateLimit: 10, RateWindow: 200 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{PageSize: 40, RateLimit: 10, RateWindow: 200 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}

	for page, err := range client.Pages(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		first, last := page.Records[0], page.Records[len(page.Records)-1]
		fmt.Printf("page %d: %d records, %s … %s (has_more %v)\n",
			page.Number, len(page.Records), first.Campaign.ID, last.Campaign.ID, page.HasMore)
	}
	// The reference platform says has_more on its last page too; the
	// listing ends anyway, at its total.

	// Output:
	// page 1: 40 records, campaign_1 … campaign_40 (has_more true)
	// page 2: 40 records, campaign_41 … campaign_80 (has_more true)
	// page 3: 20 records, campaign_81 … campaign_100 (has_more true)
}

// One account, one X-Client-ID, one Client: goroutines share it, and its
// limiter keeps all of them together within the platform's limit.
func ExampleClient_Limiter() {
	platform, err := adplatformtest.NewServer(adplatformtest.Options{RateLimit: 4, RateWindow: 200 * time.Millisecond, SyncLatency: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	client, err := adplatform.New(platform.URL,
		adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		// A wide margin: a busy test machine delays requests more than a
		// real network would.
		adplatform.Options{RateLimit: 4, RateWindow: 200 * time.Millisecond, RateMargin: 50 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer client.CloseIdleConnections()

	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 5 {
				if _, err := client.SyncCampaign(context.Background(), fmt.Sprintf("campaign_%d", 2*i+w+1)); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	l := client.Limiter()
	fmt.Printf("limit %d per %s; 429s: %d\n", l.Limit(), l.Window(), platform.Platform.Stats().RateLimited)
	// Output:
	// limit 4 per 200ms; 429s: 0
}

// An invalid option is an *OptionError naming the field, which a program
// maps to the setting its user wrote.
func ExampleOptionError() {
	_, err := adplatform.New("https://api.example.com", adplatform.StaticCredentials("ops@example.com", "secret"),
		adplatform.Options{RateWindow: -time.Minute})
	var oe *adplatform.OptionError
	if errors.As(err, &oe) {
		fmt.Printf("field %s: %v\n", oe.Field, oe.Err)
	}
	// Output: field RateWindow: must be positive, got -1m0s
}
