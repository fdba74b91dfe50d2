package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
)

// Upsert stores every valid campaign of a batch and reports the others in a
// *store.BatchError, each with its position, field and reason.
func Example() {
	ctx := context.Background()
	var s store.Store = memory.New()

	err := s.Upsert(ctx, "acct-1", []store.Campaign{
		{ID: "c-1", Name: "Spring sale", Status: "ACTIVE", Budget: "1100.50"},
		{ID: "c-2", Name: "Summer sale", Status: "ACTIVE", Budget: "1e3"}, // not plain decimal notation
	})
	fmt.Println("rejected:", errors.Is(err, store.ErrRejected))
	var batch *store.BatchError
	if errors.As(err, &batch) {
		for _, r := range batch.Rejected {
			fmt.Printf("  #%d %s: %s: %s\n", r.Index, r.ID, r.Field, r.Reason)
		}
	}
	var first *store.RecordError
	if errors.As(err, &first) {
		fmt.Println("first rejected:", first.ID)
	}

	c, err := s.Get(ctx, "acct-1", "c-1")
	fmt.Println("stored:", c.ID, c.Name, c.Budget, err)
	_, err = s.Get(ctx, "acct-1", "c-2")
	fmt.Println("c-2 not found:", errors.Is(err, store.ErrNotFound))
	// Output:
	// rejected: true
	//   #1 c-2: budget: not a plain decimal number
	// first rejected: c-2
	// stored: c-1 Spring sale 1100.50 <nil>
	// c-2 not found: true
}
