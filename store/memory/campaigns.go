package memory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/adsync/adsync/store"
)

// cloneCampaign returns c with its text in fresh memory, so that the store
// never pins a caller's larger buffer (a JSON body the id was sliced from,
// say): the memory a record takes is the record's.
func cloneCampaign(c store.Campaign) store.Campaign {
	c.ID = strings.Clone(c.ID)
	c.Name = strings.Clone(c.Name)
	c.Status = strings.Clone(c.Status)
	c.Budget = strings.Clone(c.Budget)
	return c
}

// Upsert inserts or updates campaigns of one account, as store.Store
// documents: invalid campaigns are rejected in a *store.BatchError while the
// others are stored, the last valid one of several with the same id wins,
// and a campaign whose content did not change keeps its UpdatedAt.
func (s *Store) Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error {
	if err := ctxErr(ctx, "upsert"); err != nil {
		return err
	}
	if err := checkAccount(accountID, "upsert"); err != nil {
		return err
	}
	// Validate and normalize outside the lock. Of several valid campaigns
	// with the same id only the last is applied: applying each in turn
	// would move UpdatedAt even when the last one matches what is stored.
	var rejected []*store.RecordError
	valid := make([]store.Campaign, 0, len(campaigns))
	last := make(map[string]int, len(campaigns)) // id → index in valid
	for i, c := range campaigns {
		if err := c.Validate(); err != nil {
			var re *store.RecordError
			if !errors.As(err, &re) {
				re = &store.RecordError{ID: c.ID, Field: "", Reason: err.Error()}
			}
			r := *re
			r.Index = i
			rejected = append(rejected, &r)
			continue
		}
		if j, dup := last[c.ID]; dup {
			valid[j] = c.Normalize()
			continue
		}
		last[c.ID] = len(valid)
		valid = append(valid, c.Normalize())
	}

	if len(valid) > 0 {
		s.mu.Lock()
		rows := s.campaigns[accountID]
		if rows == nil {
			rows = make(map[string]store.Campaign, len(valid))
			s.campaigns[accountID] = rows
		}
		t := now()
		for _, c := range valid {
			old, exists := rows[c.ID]
			switch {
			case !exists:
				c.UpdatedAt = t
			case store.SameContent(old, c):
				if c.SyncedAt.IsZero() || c.SyncedAt.Equal(old.SyncedAt) {
					continue // nothing to write
				}
				old.SyncedAt = c.SyncedAt
				rows[old.ID] = old
				continue
			default:
				c.UpdatedAt = notBefore(t, old.UpdatedAt)
				if c.SyncedAt.IsZero() {
					c.SyncedAt = old.SyncedAt
				}
			}
			c = cloneCampaign(c) // the map key too: it must not pin the caller's memory
			rows[c.ID] = c
		}
		s.mu.Unlock()
	}
	if len(rejected) > 0 {
		return &store.BatchError{Rejected: rejected}
	}
	return nil
}

// Get returns one stored campaign, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, id string) (store.Campaign, error) {
	if err := ctxErr(ctx, "get"); err != nil {
		return store.Campaign{}, err
	}
	if err := checkAccount(accountID, "get"); err != nil {
		return store.Campaign{}, err
	}
	s.mu.RLock()
	c, ok := s.campaigns[accountID][id]
	s.mu.RUnlock()
	if !ok {
		return store.Campaign{}, fmt.Errorf("memory: get campaign %q of account %q: %w", id, accountID, store.ErrNotFound)
	}
	return c, nil
}

// SyncedSince returns those of ids whose stored SyncedAt is at or after
// since (compared at the microsecond, as stored), each once.
func (s *Store) SyncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error) {
	if err := ctxErr(ctx, "synced since"); err != nil {
		return nil, err
	}
	if err := checkAccount(accountID, "synced since"); err != nil {
		return nil, err
	}
	since = since.Round(time.Microsecond)
	var out []string
	seen := make(map[string]bool)
	s.mu.RLock()
	defer s.mu.RUnlock()
	rows := s.campaigns[accountID]
	for _, id := range ids {
		c, ok := rows[id]
		if !ok || c.SyncedAt.IsZero() || c.SyncedAt.Before(since) || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, c.ID)
	}
	return out, nil
}
