package memory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
)

func Example() {
	ctx := context.Background()
	s := memory.New()

	err := s.Upsert(ctx, "acct-1", []store.Campaign{
		{ID: "c-1", Name: "Spring sale 🌷", Status: "ACTIVE", Budget: "1100.50", Impressions: 120000},
	})
	fmt.Println("upsert:", err)

	c, err := s.Get(ctx, "acct-1", "c-1")
	fmt.Println(c.Name, c.Budget, c.Impressions, err)

	_, err = s.Get(ctx, "acct-2", "c-1") // accounts never see each other's campaigns
	fmt.Println("other account:", errors.Is(err, store.ErrNotFound))
	// Output:
	// upsert: <nil>
	// Spring sale 🌷 1100.50 120000 <nil>
	// other account: true
}

// A run that did not finish is resumed by the next StartRun; a campaign
// that failed waits as a dead letter until it is resolved.
func ExampleStore_StartRun() {
	ctx := context.Background()
	s := memory.New()

	run, _ := s.StartRun(ctx, "acct-1", store.StartOptions{})
	_ = s.PutDeadLetters(ctx, []store.DeadLetter{
		{AccountID: "acct-1", CampaignID: "c-7", RunID: run.ID, Data: []byte(`{"id":"c-7"}`), Error: "HTTP 500"},
	})
	// The process dies here: the run stays unfinished.

	again, _ := s.StartRun(ctx, "acct-1", store.StartOptions{})
	fmt.Println("resumed:", again.Resumed, again.ID == run.ID)

	letters, _ := s.DeadLetters(ctx, "acct-1", "", 100)
	fmt.Println("dead letters:", len(letters), letters[0].CampaignID, letters[0].Attempts)
	_ = s.ResolveDeadLetters(ctx, "acct-1", []string{"c-7"})

	again.Status = store.RunCompleted
	_ = s.FinishRun(ctx, again)
	next, _ := s.StartRun(ctx, "acct-1", store.StartOptions{})
	fmt.Println("after completing, resumed:", next.Resumed)
	// Output:
	// resumed: true true
	// dead letters: 1 c-7 1
	// after completing, resumed: false
}
