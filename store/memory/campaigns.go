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
// others are stored, of several copies of one id the one listed last wins,
// newer content is never replaced by older, and a campaign whose content
// did not change keeps its UpdatedAt.
func (s *Store) Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error {
	if s.ext != nil {
		return s.ext.Upsert(ctx, accountID, campaigns)
	}
	if err := ctxErr(ctx, "upsert"); err != nil {
		return err
	}
	if err := checkAccount(accountID, "upsert"); err != nil {
		return err
	}
	t := now()
	keep, rejected := store.Prepare(campaigns, t)
	if len(keep) > 0 {
		s.mu.Lock()
		s.merge(accountID, campaigns, keep, t)
		s.mu.Unlock()
	}
	if len(rejected) > 0 {
		return &store.BatchError{Rejected: rejected}
	}
	return nil
}

// merge writes campaigns[keep] over the account's rows. s.mu must be held
// for writing.
func (s *Store) merge(accountID string, campaigns []store.Campaign, keep []int, t time.Time) {
	rows := s.campaigns[accountID]
	if rows == nil {
		rows = make(map[string]store.Campaign, len(keep))
		s.campaigns[strings.Clone(accountID)] = rows
	}
	for _, i := range keep {
		c := campaigns[i]
		if row, changed := store.Merge(rows[c.ID], c, t); changed {
			row = cloneCampaign(row) // the map key too: it must not pin the caller's memory
			rows[row.ID] = row
		}
	}
}

// Get returns one stored campaign, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, id string) (store.Campaign, error) {
	if s.ext != nil {
		return s.ext.Get(ctx, accountID, id)
	}
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

// syncedSince returns those of ids whose stored SyncedAt is at or after
// since (compared at the microsecond, as stored), each once.
func (s *Store) syncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error) {
	since = since.Round(time.Microsecond)
	synced := func(c store.Campaign) bool { return !c.SyncedAt.IsZero() && !c.SyncedAt.Before(since) }
	var out []string
	seen := make(map[string]bool)
	if s.ext != nil {
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, err := s.ext.Get(ctx, accountID, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, fmt.Errorf("memory: synced since: %w", err)
			case synced(c):
				out = append(out, c.ID)
			}
		}
		return out, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rows := s.campaigns[accountID]
	for _, id := range ids {
		c, ok := rows[id]
		if !ok || !synced(c) || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, c.ID)
	}
	return out, nil
}
