package storetest_test

// This file is what the README shows a user writing: a complete store.Store
// for their own database, in a few dozen lines, proven by storetest.Run.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/store/storetest"
)

// mapStore keeps campaigns in a map. A real one would talk to a database;
// the rules it keeps are the same.
type mapStore struct {
	mu   sync.Mutex
	rows map[[2]string]store.Campaign // (account, campaign id) → campaign
}

func (m *mapStore) Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.ValidateAccountID(accountID); err != nil {
		return err
	}
	// Reject what cannot be stored exactly; of several copies of an id,
	// keep the one listed last.
	now := time.Now()
	keep, rejected := store.Prepare(campaigns, now)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, i := range keep {
		key := [2]string{accountID, campaigns[i].ID}
		// Newer content wins, SyncedAt never goes back, UpdatedAt moves
		// only when the content changes: store.Merge is those rules.
		m.rows[key], _ = store.Merge(m.rows[key], campaigns[i], now)
	}
	if len(rejected) > 0 {
		return &store.BatchError{Rejected: rejected}
	}
	return nil
}

func (m *mapStore) Get(ctx context.Context, accountID, id string) (store.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return store.Campaign{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[[2]string{accountID, id}]
	if !ok {
		return store.Campaign{}, fmt.Errorf("campaign %q: %w", id, store.ErrNotFound)
	}
	return c, nil
}

func TestMapStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return &mapStore{rows: map[[2]string]store.Campaign{}}
	})
	// With the bookkeeping kept in memory, the syncer can use it.
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore {
		return memory.WithBookkeeping(&mapStore{rows: map[[2]string]store.Campaign{}})
	})
}
