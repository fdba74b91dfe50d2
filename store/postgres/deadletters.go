package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/adsync/adsync/store"
)

// letterRow is a dead_letters row.
type letterRow struct {
	AccountID     string       `db:"account_id"`
	CampaignID    string       `db:"campaign_id"`
	RunID         string       `db:"run_id"`
	Data          []byte       `db:"data"`
	Error         string       `db:"error"`
	Attempts      int          `db:"attempts"`
	FirstFailedAt sql.NullTime `db:"first_failed_at"`
	LastFailedAt  sql.NullTime `db:"last_failed_at"`
	RetiredAt     sql.NullTime `db:"retired_at"`
	RetiredReason string       `db:"retired_reason"`
}

func (r letterRow) letter() store.DeadLetter {
	return store.DeadLetter{
		AccountID: r.AccountID, CampaignID: r.CampaignID, RunID: r.RunID, Data: r.Data, Error: r.Error,
		Attempts: r.Attempts, FirstFailedAt: utcTime(r.FirstFailedAt), LastFailedAt: utcTime(r.LastFailedAt),
		RetiredAt: utcTime(r.RetiredAt), RetiredReason: r.RetiredReason,
	}
}

// DeadLetters returns up to limit dead letters of the account, retired
// ones included, in CampaignID order (byte-wise, as Go compares strings),
// starting after the CampaignID after ("" for the first page): keyset
// pagination, as cheap for the last page as for the first.
func (s *Store) DeadLetters(ctx context.Context, accountID, after string, limit int) ([]store.DeadLetter, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return nil, fmt.Errorf("postgres: dead letters: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	return s.deadLetters(ctx, s.q.deadLetters, accountID, after, limit, true)
}

// deadLetters reads a page of letters with query (every letter, or those
// not retired), retrying transient failures when retry is set.
func (s *Store) deadLetters(ctx context.Context, query, accountID, after string, limit int, retry bool) ([]store.DeadLetter, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: dead letters: limit must be positive, got %d", limit)
	}
	if err := store.ValidateText(after); err != nil {
		return nil, fmt.Errorf("postgres: dead letters: the cursor: %w", err)
	}
	var rows []letterRow
	read := func(ctx context.Context) error {
		rows = rows[:0]
		return s.db.SelectContext(ctx, &rows, query, accountID, after, limit)
	}
	var err error
	if retry {
		err = s.retry(ctx, "dead letters", read)
	} else if err = read(ctx); err != nil {
		err = classify(ctx, "dead letters", err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]store.DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = r.letter()
	}
	return out, nil
}

// DiscardDeadLetter deletes the account's dead letter of campaignID, or
// returns an error wrapping store.ErrNotFound.
func (s *Store) DiscardDeadLetter(ctx context.Context, accountID, campaignID string) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("postgres: discard dead letter: %w", err)
	}
	notFound := fmt.Errorf("postgres: discard dead letter %q of account %q: %w", campaignID, accountID, store.ErrNotFound)
	if campaignID == "" || store.ValidateText(campaignID) != nil {
		return notFound // no letter can have this id
	}
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	var n int64
	err := s.retry(ctx, "discard dead letter", func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx, s.q.discardDeadLetter, letterKey(accountID, campaignID), accountID)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case n == 0:
		return notFound
	}
	return nil
}
