package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// A run holds its account through a lease, and records each batch with one
// Commit. A run that did not finish is resumed by the next holder; a
// campaign that failed waits as a dead letter until it syncs.
func ExampleStore_Acquire() {
	ctx := context.Background()
	s := memory.New()

	lease, _ := s.Acquire(ctx, "acct-1")
	_, err := s.Acquire(ctx, "acct-1")
	var busy *store.AccountError
	fmt.Println("second holder busy:", errors.Is(err, store.ErrAccountBusy), errors.As(err, &busy) && busy.AccountID == "acct-1")

	run, _ := lease.StartRun(ctx, store.StartOptions{})
	_ = lease.Commit(ctx, store.Batch{
		RunID:       run.ID,
		Campaigns:   []store.Campaign{{ID: "c-1", Name: "Spring sale", Status: "ACTIVE", Budget: "100", SyncedAt: time.Now()}},
		DeadLetters: []store.DeadLetter{{CampaignID: "c-7", Data: []byte(`{"id":"c-7"}`), Error: "HTTP 500"}},
		Progress:    store.RunCounts{Seen: 2, Synced: 1, Failed: 1},
	})
	_ = lease.Release(ctx) // the process dies here: the run stays unfinished

	next, _ := s.Acquire(ctx, "acct-1")
	again, _ := next.StartRun(ctx, store.StartOptions{})
	fmt.Println("resumed:", again.Resumed, again.ID == run.ID, again.Synced)
	letters, _ := next.DeadLetters(ctx, "", 100)
	fmt.Println("dead letters:", len(letters), letters[0].CampaignID, letters[0].Attempts)

	_ = next.Commit(ctx, store.Batch{
		RunID:    again.ID,
		Resolved: []string{"c-7"},
		Progress: store.RunCounts{Seen: 2, Synced: 2},
		Finish:   &store.RunFinish{Status: store.RunCompleted},
	})
	last, _ := s.LastCompletedRun(ctx, "acct-1")
	fmt.Println("last completed:", last.ID == run.ID, last.Synced)
	// Output:
	// second holder busy: true true
	// resumed: true true 1
	// dead letters: 1 c-7 1
	// last completed: true 2
}

// WithBookkeeping gives any store.Store the bookkeeping the syncer needs:
// the campaigns go to the store, the runs and dead letters stay in memory.
func ExampleWithBookkeeping() {
	ctx := context.Background()
	var campaigns store.Store = memory.New() // your own store.Store here
	s := memory.WithBookkeeping(campaigns)

	lease, _ := s.Acquire(ctx, "acct-1")
	defer lease.Release(ctx)
	run, _ := lease.StartRun(ctx, store.StartOptions{})
	err := lease.Commit(ctx, store.Batch{
		RunID:     run.ID,
		Campaigns: []store.Campaign{{ID: "c-1", Name: "Spring sale", Status: "ACTIVE", Budget: "100"}},
	})
	c, _ := campaigns.Get(ctx, "acct-1", "c-1")
	fmt.Println(err, c.Name)
	// Output:
	// <nil> Spring sale
}
