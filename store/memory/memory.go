// Package memory is an in-process [store.RunStore]: campaigns, runs and dead
// letters in maps behind one lock. It keeps the same contract as the
// PostgreSQL store, proven by the same conformance suite (store/storetest),
// so tests and examples that use it behave as production does: it rejects
// what PostgreSQL would reject, rounds times to the microsecond, and
// returns the same values.
//
// Nothing is persisted; a Store lives as long as the process. It keeps every
// run record it starts (a few hundred bytes each), as a database would.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/adsync/adsync/store"
)

// Store is an in-memory store.RunStore, safe for concurrent use. Create one
// with [New].
//
// It keeps copies: what a caller passes in or gets back is its own, and
// changing it changes nothing inside the store.
type Store struct {
	mu        sync.RWMutex
	campaigns map[string]map[string]store.Campaign // account → campaign id → campaign
	runs      map[string]*run                      // run id → run
	newest    map[string]*run                      // account → its newest run
	letters   map[string]*letterBox                // account → its dead letters
}

var _ store.RunStore = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		campaigns: make(map[string]map[string]store.Campaign),
		runs:      make(map[string]*run),
		newest:    make(map[string]*run),
		letters:   make(map[string]*letterBox),
	}
}

// now is the store's clock: UTC, rounded to the microsecond like every
// other time a store keeps.
func now() time.Time { return time.Now().Round(time.Microsecond).UTC() }

// notBefore returns t, or floor when t is before it: a wall clock stepped
// back must not move UpdatedAt or LastFailedAt backwards.
func notBefore(t, floor time.Time) time.Time {
	if t.Before(floor) {
		return floor
	}
	return t
}

// ctxErr reports a done context before an operation starts.
func ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// checkAccount validates an account id for op.
func checkAccount(accountID, op string) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}
