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
	var c store.Campaign
	err := s.retry(ctx, "get", func(ctx context.Context) error {
		var created, synced sql.NullTime
		err := s.db.QueryRowContext(ctx, s.q.get, accountID, id).Scan(
			&c.ID, &c.Name, &c.Status, &c.Budget, &c.Impressions, &c.Clicks, &c.Conversions,
			&created, &synced, &c.UpdatedAt)
		c.CreatedAt, c.SyncedAt = utcTime(created), utcTime(synced)
		c.UpdatedAt = c.UpdatedAt.UTC()
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Campaign{}, fmt.Errorf("postgres: get campaign %q: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Campaign{}, wrap("get", err)
	}
	return c, nil
}

// SyncedSince returns those of ids whose stored SyncedAt is at or after
// since. Ids that cannot be stored (empty, too long, NUL, invalid UTF-8) are never
// synced and are left out without asking the database.
func (s *Store) SyncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return nil, fmt.Errorf("postgres: synced since: %w", err)
	}
	valid := make([]string, 0, min(len(ids), s.opts.BatchSize))
	var out []string
	query := func() error {
		if len(valid) == 0 {
			return nil
		}
		return s.retry(ctx, "synced since", func(ctx context.Context) error {
			page := out[:len(out):len(out)] // a retry starts from the same page
			rows, err := s.db.QueryContext(ctx, s.q.syncedSince, accountID, pq.Array(valid), since)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				page = append(page, id)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			out = page
			return nil
		})
	}
	// Ask BatchSize ids at a time: one array parameter per round trip,
	// bounded however many ids the caller has.
	for _, id := range ids {
		if !storableID(id) {
			continue
		}
		valid = append(valid, id)
		if len(valid) == s.opts.BatchSize {
			if err := query(); err != nil {
				return nil, wrap("synced since", err)
			}
			valid = valid[:0]
		}
	}
	if err := query(); err != nil {
		return nil, wrap("synced since", err)
	}
	return out, nil
}

// storableID reports whether a campaign with this id can have been stored.
func storableID(id string) bool {
	return id != "" && len(id) <= store.MaxIDBytes && validText(id)
}

// utcTime maps NULL to the zero time and a value to UTC.
func utcTime(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// wrap adds the operation to an error, unless retry already did. lib/pq's
// errors already end with their SQLSTATE.
func wrap(what string, err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
