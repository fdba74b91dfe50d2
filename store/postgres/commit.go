package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// errRefused carries the data error PostgreSQL refused a batch's
// campaigns with, out of Commit's transaction.
type errRefused struct{ err error }

func (e errRefused) Error() string { return e.err.Error() }

// Commit records one batch in one transaction on the lease's connection,
// as store.Lease specifies: the run's progress (and end), then the
// campaigns (one COPY into the stage and one merge), the dead letters
// resolved, retired and added (one statement each, with arrays), and the
// state. Parts with nothing to do send nothing.
//
// The batch is validated in Go first (store.Batch.Validate): a campaign
// that cannot be stored is rejected with nothing sent. If PostgreSQL
// refuses a campaign all the same (a constraint the service added), the
// transaction is rolled back, the refused campaigns are found by merging
// the batch half by half under savepoints in a transaction that is rolled
// back too, and a *store.BatchError lists them.
func (l *lease) Commit(ctx context.Context, b store.Batch) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	b = b.Normalize()
	t := now()
	keep, _ := store.Prepare(b.Campaigns, t)
	rows := stageRows(b.Campaigns, keep, t)
	err := l.write(ctx, "commit", func(ctx context.Context, tx *sqlx.Tx) error {
		return l.commit(ctx, tx, b, rows)
	})
	var refused errRefused
	if !errors.As(err, &refused) {
		return err
	}
	var rejected []*store.RecordError
	tx, err := l.s.beginStaged(ctx, l.account, rows)
	if err == nil {
		err = l.s.isolate(ctx, tx, rows, 0, len(rows), &rejected)
	}
	if tx != nil {
		tx.Rollback()
	}
	switch {
	case err != nil:
		return classify(ctx, "commit", err)
	case len(rejected) == 0: // refused as a whole, not for one row
		return classify(ctx, "commit", refused.err)
	}
	return &store.BatchError{Rejected: sortByIndex(rejected)}
}

// commit is Commit's transaction.
func (l *lease) commit(ctx context.Context, tx *sqlx.Tx, b store.Batch, rows []staged) error {
	s, t := l.s, now()
	status, reason := sql.NullString{}, ""
	if f := b.Finish; f != nil {
		status, reason = sql.NullString{String: string(f.Status), Valid: true}, f.Error
	}
	p := b.Progress
	res, err := tx.ExecContext(ctx, s.q.recordRun, b.RunID, l.account, p.Seen, p.Synced, p.Skipped, p.Failed,
		status, reason, t, l.generation)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = l.whyNotRecorded(ctx, tx, b.RunID)
		}
		return err
	}
	if len(rows) > 0 {
		if err := s.stage(ctx, tx.Tx, l.account, rows); err != nil {
			return err
		}
		if err := s.merge(ctx, tx.Tx); err != nil {
			if _, isData := isDataError(err); isData {
				return errRefused{err}
			}
			return err
		}
	}
	if len(b.Resolved) > 0 {
		keys := make(pq.ByteaArray, len(b.Resolved))
		for i, id := range b.Resolved {
			keys[i] = letterKey(l.account, id)
		}
		if _, err := tx.ExecContext(ctx, s.q.resolveDeadLetters, l.account, keys); err != nil {
			return err
		}
	}
	if len(b.Retired) > 0 {
		keys, reasons := make(pq.ByteaArray, len(b.Retired)), make(pq.StringArray, len(b.Retired))
		for i, r := range b.Retired {
			keys[i], reasons[i] = letterKey(l.account, r.CampaignID), r.Reason
		}
		if _, err := tx.ExecContext(ctx, s.q.retireDeadLetters, l.account, t, keys, reasons); err != nil {
			return err
		}
	}
	if len(b.DeadLetters) > 0 {
		if _, err := tx.ExecContext(ctx, s.q.addDeadLetters, append([]any{l.account, t}, letterArrays(l.account, b.DeadLetters)...)...); err != nil {
			return err
		}
	}
	if b.State != nil {
		if _, err := tx.ExecContext(ctx, s.q.saveState, l.account, b.State, t); err != nil {
			return err
		}
	}
	return nil
}

// whyNotRecorded says why a Commit found no running run to record: the run
// does not exist, or is not running, or the lease lost the account.
func (l *lease) whyNotRecorded(ctx context.Context, tx *sqlx.Tx, runID string) error {
	var status string
	err := tx.GetContext(ctx, &status, l.s.q.runState, runID, l.account)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("postgres: commit: run %q of account %q: %w", runID, l.account, store.ErrNotFound)
	case err != nil:
		return err
	case status != string(store.RunRunning):
		return fmt.Errorf("postgres: commit: run %q is %s, not running", runID, status)
	}
	return l.lose("another holder took the account (its generation changed)")
}

// letterArrays returns the columns of letters as the arrays of the
// addDeadLetters statement: one row per campaign id, with its last copy's
// fields and the number of copies as the attempts it adds.
func letterArrays(account string, letters []store.DeadLetter) []any {
	var (
		keys, data     pq.ByteaArray
		ids, runs, msg pq.StringArray
		n              pq.Int64Array
	)
	at := make(map[string]int, len(letters))
	for _, dl := range letters {
		if i, dup := at[dl.CampaignID]; dup {
			runs[i], data[i], msg[i] = dl.RunID, nonNil(dl.Data), dl.Error
			n[i]++
			continue
		}
		at[dl.CampaignID] = len(keys)
		keys = append(keys, letterKey(account, dl.CampaignID))
		ids, runs, data, msg = append(ids, dl.CampaignID), append(runs, dl.RunID), append(data, nonNil(dl.Data)), append(msg, dl.Error)
		n = append(n, 1)
	}
	return []any{keys, ids, runs, data, msg, n}
}

// nonNil returns b, or an empty slice for nil: the column is NOT NULL, and
// nil and empty are the same bytes.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
