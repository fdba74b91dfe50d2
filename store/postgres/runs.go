package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/store"
)

// runRow is a runs row.
type runRow struct {
	ID         string       `db:"id"`
	AccountID  string       `db:"account_id"`
	Kind       string       `db:"kind"`
	Status     string       `db:"status"`
	StartedAt  time.Time    `db:"started_at"`
	FinishedAt sql.NullTime `db:"finished_at"`
	Seen       int          `db:"seen"`
	Synced     int          `db:"synced"`
	Skipped    int          `db:"skipped"`
	Failed     int          `db:"failed"`
	Error      string       `db:"error"`
}

func (r runRow) run() store.Run {
	return store.Run{
		ID: r.ID, AccountID: r.AccountID, Kind: store.RunKind(r.Kind), Status: store.RunStatus(r.Status),
		StartedAt: r.StartedAt.UTC(), FinishedAt: utcTime(r.FinishedAt),
		RunCounts: store.RunCounts{Seen: r.Seen, Synced: r.Synced, Skipped: r.Skipped, Failed: r.Failed},
		Error:     r.Error,
	}
}

func runsOf(rows []runRow) []store.Run {
	out := make([]store.Run, len(rows))
	for i, r := range rows {
		out[i] = r.run()
	}
	return out
}

// StartRun starts or resumes a run of the account, as store.Lease and
// store.StartOptions specify, in one transaction on the lease's
// connection.
func (l *lease) StartRun(ctx context.Context, opts store.StartOptions) (store.Run, error) {
	opts, err := opts.Normalize()
	if err != nil {
		return store.Run{}, fmt.Errorf("postgres: start run: %w", err)
	}
	var run store.Run
	err = l.write(ctx, "start run", func(ctx context.Context, tx *sqlx.Tx) error {
		var err error
		run, err = l.s.startRun(ctx, tx, l.account, opts)
		return err
	})
	return run, err
}

func (s *Store) startRun(ctx context.Context, tx *sqlx.Tx, accountID string, opts store.StartOptions) (store.Run, error) {
	t := now()
	id := store.NewRunID()
	var note string
	switch opts.Kind {
	case store.KindSync:
		var prev runRow
		err := tx.GetContext(ctx, &prev, s.q.newestRun, accountID, store.KindSync)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && prev.Status != string(store.RunRunning) && prev.Status != string(store.RunInterrupted)) {
			break
		}
		if err != nil {
			return store.Run{}, err
		}
		if why := store.WhyNotResume(prev.run(), opts, t); why != "" {
			if _, err := tx.ExecContext(ctx, s.q.endRun, prev.ID, t, "not resumed: "+why+"; run "+id+" started instead"); err != nil {
				return store.Run{}, err
			}
			note = "run " + prev.ID + " not resumed: " + why
			break
		}
		if _, err := tx.ExecContext(ctx, s.q.resumeRun, prev.ID); err != nil {
			return store.Run{}, err
		}
		r := prev.run()
		r.Status, r.FinishedAt, r.Error, r.Resumed = store.RunRunning, time.Time{}, "", true
		return r, nil
	case store.KindRetry:
		// A retry run is never resumed: one still running was left by a
		// holder that is gone.
		if _, err := tx.ExecContext(ctx, s.q.interruptRetries, accountID, t, "not finished; retry run "+id+" started after it"); err != nil {
			return store.Run{}, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q.insertRun, id, accountID, opts.Kind, t); err != nil {
		return store.Run{}, err
	}
	return store.Run{ID: id, AccountID: accountID, Kind: opts.Kind, Status: store.RunRunning, StartedAt: t, Note: note}, nil
}

// Runs returns the account's runs, newest first, as store.RunStore
// specifies.
func (s *Store) Runs(ctx context.Context, accountID string, q store.RunQuery) ([]store.Run, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return nil, fmt.Errorf("postgres: runs: %w", err)
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres: runs: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	var rows []runRow
	err = s.retry(ctx, "runs", func(ctx context.Context) error {
		before := int64(math.MaxInt64)
		if q.Before != "" {
			if err := s.db.GetContext(ctx, &before, s.q.runSeq, q.Before, accountID); err != nil {
				return err
			}
		}
		rows = rows[:0]
		return s.db.SelectContext(ctx, &rows, s.q.runs, accountID, string(q.Kind), before, q.Limit)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("postgres: runs: run %q of account %q: %w", q.Before, accountID, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return runsOf(rows), nil
}

// LastCompletedRun returns the account's newest completed sync run, or an
// error wrapping store.ErrNotFound.
func (s *Store) LastCompletedRun(ctx context.Context, accountID string) (store.Run, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return store.Run{}, fmt.Errorf("postgres: last completed run: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return store.Run{}, err
	}
	var row runRow
	err := s.retry(ctx, "last completed run", func(ctx context.Context) error {
		return s.db.GetContext(ctx, &row, s.q.lastCompleted, accountID)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Run{}, fmt.Errorf("postgres: no completed sync run of account %q: %w", accountID, store.ErrNotFound)
	case err != nil:
		return store.Run{}, err
	}
	return row.run(), nil
}

// PruneRuns deletes the runs that finished before olderThan, but never an
// unfinished run, an account's newest run of each kind, nor its last
// completed sync run. It is one statement.
func (s *Store) PruneRuns(ctx context.Context, olderThan time.Time) (int, error) {
	if err := s.checkSchema(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.retry(ctx, "prune runs", func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx, s.q.pruneRuns, olderThan)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// now is the store's clock for the times it sets, at PostgreSQL's
// precision so that the value returned is the value stored.
func now() time.Time { return time.Now().UTC().Round(time.Microsecond) }
