package postgres

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// PutDeadLetters records campaigns that failed, as [store.RunStore]
// specifies, in one transaction: a new one gets Attempts 1, an existing one
// the new Data, Error, RunID and LastFailedAt and Attempts + 1. Data is
// stored byte for byte. Ids must be valid text (see
// [store.ValidateAccountID]); Error text that PostgreSQL cannot hold (NUL,
// invalid UTF-8) is stored with those bytes replaced by U+FFFD.
func (s *Store) PutDeadLetters(ctx context.Context, letters []store.DeadLetter) error {
	for i, l := range letters {
		if err := store.ValidateAccountID(l.AccountID); err != nil {
			return fmt.Errorf("postgres: put dead letters: letter %d: %w", i, err)
		}
		if l.CampaignID == "" || !validText(l.CampaignID) {
			return fmt.Errorf("postgres: put dead letters: letter %d: campaign id is empty, contains NUL or is not valid UTF-8", i)
		}
		if !validText(l.RunID) {
			return fmt.Errorf("postgres: put dead letters: letter %d: run id contains NUL or is not valid UTF-8", i)
		}
	}
	if len(letters) == 0 {
		return nil
	}
	err := s.retry(ctx, "put dead letters", func(ctx context.Context) (err error) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				tx.Rollback()
			}
		}()
		// One statement per letter, in order, so that a letter listed
		// twice counts twice; dead letters are few.
		stmt, err := tx.PrepareContext(ctx, s.q.putDeadLetter)
		if err != nil {
			return err
		}
		defer stmt.Close()
		at := now()
		for _, l := range letters {
			data := l.Data
			if data == nil {
				data = []byte{} // the column is NOT NULL; nil and empty are the same bytes
			}
			key := rowKey(l.AccountID, l.CampaignID)
			if _, err := stmt.ExecContext(ctx, key[:], l.AccountID, l.CampaignID, l.RunID, data, cleanText(l.Error), at); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	return wrap("put dead letters", err)
}

// ResolveDeadLetters removes the dead letters of the given campaigns. Ids
// without a dead letter, and ids that could not have one, are ignored.
func (s *Store) ResolveDeadLetters(ctx context.Context, accountID string, ids []string) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("postgres: resolve dead letters: %w", err)
	}
	keys := make(pq.ByteaArray, 0, len(ids))
	for _, id := range ids {
		if id != "" && validText(id) {
			key := rowKey(accountID, id)
			keys = append(keys, key[:])
		}
	}
	if len(keys) == 0 {
		return nil
	}
	err := s.retry(ctx, "resolve dead letters", func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, s.q.resolveDeadLetters, keys, accountID)
		return err
	})
	return wrap("resolve dead letters", err)
}

// DeadLetters returns up to limit dead letters of the account in CampaignID
// order (byte-wise, as Go compares strings), starting after the CampaignID
// after ("" for the first page): keyset pagination, as cheap for the last
// page as for the first.
func (s *Store) DeadLetters(ctx context.Context, accountID, after string, limit int) ([]store.DeadLetter, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return nil, fmt.Errorf("postgres: dead letters: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: dead letters: limit must be positive, got %d", limit)
	}
	if !validText(after) {
		return nil, fmt.Errorf("postgres: dead letters: the cursor contains NUL or is not valid UTF-8")
	}
	out := []store.DeadLetter{}
	err := s.retry(ctx, "dead letters", func(ctx context.Context) error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, s.q.deadLetters, accountID, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l := store.DeadLetter{AccountID: accountID}
			var attempts int64
			if err := rows.Scan(&l.CampaignID, &l.RunID, &l.Data, &l.Error, &attempts,
				&l.FirstFailedAt, &l.LastFailedAt); err != nil {
				return err
			}
			l.Attempts = int(attempts)
			l.FirstFailedAt, l.LastFailedAt = l.FirstFailedAt.UTC(), l.LastFailedAt.UTC()
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("dead letters", err)
	}
	return out, nil
}
