package storetest_test

// This file is what the README shows a user writing: a complete store.Store
// for their own database, in a few dozen lines, proven by storetest.Run.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
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
	// the last valid one wins.
	var batchErr store.BatchError
	last := map[string]store.Campaign{}
	for i, c := range campaigns {
		if err := c.Validate(); err != nil {
			var rec *store.RecordError
			errors.As(err, &rec)
			rec.Index = i
			batchErr.Rejected = append(batchErr.Rejected, rec)
			continue
		}
		last[c.ID] = c.Normalize()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().Round(time.Microsecond).UTC()
	for _, c := range last {
		key := [2]string{accountID, c.ID}
		old, exists := m.rows[key]
		c.UpdatedAt = now
		if exists && store.SameContent(old, c) {
			c.UpdatedAt = old.UpdatedAt // unchanged content keeps UpdatedAt
		}
		if c.SyncedAt.IsZero() {
			c.SyncedAt = old.SyncedAt // this write records no sync
		}
		m.rows[key] = c
	}
	if len(batchErr.Rejected) > 0 {
		return &batchErr
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
}
