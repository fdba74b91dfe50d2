package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// campaignRow is a campaigns row as Get reads it.
type campaignRow struct {
	ID          string       `db:"id"`
	Name        string       `db:"name"`
	Status      string       `db:"status"`
	Budget      string       `db:"budget"`
	Impressions int64        `db:"impressions"`
	Clicks      int64        `db:"clicks"`
	Conversions int64        `db:"conversions"`
	CreatedAt   sql.NullTime `db:"created_at"`
	SyncedAt    sql.NullTime `db:"synced_at"`
	ListedAt    time.Time    `db:"listed_at"`
	UpdatedAt   time.Time    `db:"updated_at"`
}

func (r campaignRow) campaign() store.Campaign {
	return store.Campaign{
		ID: r.ID, Name: r.Name, Status: r.Status, Budget: r.Budget,
		Impressions: r.Impressions, Clicks: r.Clicks, Conversions: r.Conversions,
		CreatedAt: utcTime(r.CreatedAt), SyncedAt: utcTime(r.SyncedAt),
		ListedAt: r.ListedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Get returns one stored campaign, or an error wrapping store.ErrNotFound.
// Times are in UTC; a NULL time is the zero time.
func (s *Store) Get(ctx context.Context, accountID, id string) (store.Campaign, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return store.Campaign{}, fmt.Errorf("postgres: get: %w", err)
	}
	if !storableID(id) {
		// No such campaign can have been stored; asking PostgreSQL would
		// only earn an encoding error.
		return store.Campaign{}, fmt.Errorf("postgres: get campaign %q: %w", id, store.ErrNotFound)
	}
	if err := s.checkSchema(ctx); err != nil {
		return store.Campaign{}, err
	}
	var row campaignRow
	err := s.retry(ctx, "get", func(ctx context.Context) error {
		return s.db.GetContext(ctx, &row, s.q.get, accountID, id)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Campaign{}, fmt.Errorf("postgres: get campaign %q: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Campaign{}, err
	}
	return row.campaign(), nil
}

// syncedSince returns those of ids whose stored SyncedAt is at or after
// since, asking BatchSize ids at a time: one array parameter per round
// trip, bounded however many ids the caller has. Ids that cannot be stored
// (empty, too long, NUL, invalid UTF-8) are never synced and are left out
// without asking the database. It makes one attempt per round trip.
func (s *Store) syncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error) {
	var out []string
	valid := make([]string, 0, min(len(ids), s.opts.BatchSize))
	ask := func() error {
		if len(valid) == 0 {
			return nil
		}
		var page []string
		if err := s.db.SelectContext(ctx, &page, s.q.syncedSince, accountID, pq.Array(valid), since); err != nil {
			return classify(ctx, "synced since", err)
		}
		out = append(out, page...)
		valid = valid[:0]
		return nil
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !storableID(id) || seen[id] {
			continue
		}
		seen[id] = true
		valid = append(valid, id)
		if len(valid) == s.opts.BatchSize {
			if err := ask(); err != nil {
				return nil, err
			}
		}
	}
	if err := ask(); err != nil {
		return nil, err
	}
	return out, nil
}

// storableID reports whether a campaign with this id can have been stored.
func storableID(id string) bool {
	return store.ValidateAccountID(id) == nil // the same rules as any id
}

// utcTime maps NULL to the zero time and a value to UTC.
func utcTime(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
