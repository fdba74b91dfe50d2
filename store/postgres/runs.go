package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/adsync/adsync/store"
)

// StartRun resumes the account's newest run if it is unfinished (running or
// interrupted) and opts.Fresh is not set, or starts a new one, as
// [store.RunStore] specifies. An unfinished run replaced by a fresh one is
// marked interrupted, with an Error saying so.
//
// It runs in one transaction holding an advisory lock on the account, so
// that two StartRun calls of one account never both start a run.
func (s *Store) StartRun(ctx context.Context, accountID string, opts store.StartOptions) (store.Run, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return store.Run{}, fmt.Errorf("postgres: start run: %w", err)
	}
	var run store.Run
	err := s.retry(ctx, "start run", func(ctx context.Context) error {
		var err error
		run, err = s.startRun(ctx, accountID, opts)
		return err
	})
	if err != nil {
		return store.Run{}, wrap("start run", err)
	}
	return run, nil
}

func (s *Store) startRun(ctx context.Context, accountID string, opts store.StartOptions) (_ store.Run, err error) {
	// READ COMMITTED: after waiting for the lock, the next statement must
	// see what the previous holder committed.
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return store.Run{}, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("run", s.opts.Schema, accountID)); err != nil {
		return store.Run{}, err
	}

	newest, found, err := s.newestRun(ctx, tx, accountID)
	if err != nil {
		return store.Run{}, err
	}
	unfinished := found && (newest.Status == store.RunRunning || newest.Status == store.RunInterrupted)
	if unfinished && !opts.Fresh {
		if _, err := tx.ExecContext(ctx, s.q.resumeRun, newest.ID, store.RunRunning); err != nil {
			return store.Run{}, err
		}
		if err := tx.Commit(); err != nil {
			return store.Run{}, err
		}
		newest.Status, newest.FinishedAt, newest.Error, newest.Resumed = store.RunRunning, time.Time{}, "", true
		return newest, nil
	}

	run := store.Run{
		ID:        newRunID(),
		AccountID: accountID,
		Status:    store.RunRunning,
		StartedAt: now(),
	}
	if unfinished {
		reason := "replaced by the fresh run " + run.ID
		if _, err := tx.ExecContext(ctx, s.q.replaceRun, newest.ID, store.RunInterrupted, reason, run.StartedAt); err != nil {
			return store.Run{}, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q.insertRun, run.ID, run.AccountID, run.Status, run.StartedAt); err != nil {
		return store.Run{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.Run{}, err
	}
	return run, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) newestRun(ctx context.Context, q querier, accountID string) (store.Run, bool, error) {
	run := store.Run{AccountID: accountID}
	var status string
	var finished sql.NullTime
	var seen, synced, skipped, failed int64
	err := q.QueryRowContext(ctx, s.q.newestRun, accountID).Scan(
		&run.ID, &status, &run.StartedAt, &finished, &seen, &synced, &skipped, &failed, &run.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Run{}, false, nil
	}
	if err != nil {
		return store.Run{}, false, err
	}
	run.Status = store.RunStatus(status)
	run.StartedAt = run.StartedAt.UTC()
	run.FinishedAt = utcTime(finished)
	run.Seen, run.Synced, run.Skipped, run.Failed = int(seen), int(synced), int(skipped), int(failed)
	return run, true, nil
}

// FinishRun records the end of a run: its Status (completed, interrupted or
// failed), FinishedAt (now if zero), counts and Error. An unknown run, or a
// run of another account, is an error wrapping store.ErrNotFound; a run
// replaced by a fresh one stays interrupted, and finishing it is an error.
func (s *Store) FinishRun(ctx context.Context, run store.Run) error {
	switch run.Status {
	case store.RunCompleted, store.RunInterrupted, store.RunFailed:
	default:
		return fmt.Errorf("postgres: finish run %q: Status %q is not a final status (%q, %q or %q)",
			run.ID, run.Status, store.RunCompleted, store.RunInterrupted, store.RunFailed)
	}
	if err := store.ValidateAccountID(run.AccountID); err != nil {
		return fmt.Errorf("postgres: finish run %q: %w", run.ID, err)
	}
	if run.ID == "" || !validText(run.ID) {
		return fmt.Errorf("postgres: finish run %q: %w", run.ID, store.ErrNotFound)
	}
	if run.Seen < 0 || run.Synced < 0 || run.Skipped < 0 || run.Failed < 0 {
		return fmt.Errorf("postgres: finish run %q: negative counts", run.ID)
	}
	finished := now()
	if !run.FinishedAt.IsZero() {
		finished = run.FinishedAt.Round(time.Microsecond).UTC()
		if y := finished.Year(); y < 1 || y > 9999 {
			return fmt.Errorf("postgres: finish run %q: FinishedAt is outside the years 1 to 9999", run.ID)
		}
	}
	var updated int64
	var replaced sql.NullBool
	err := s.retry(ctx, "finish run", func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx, s.q.finishRun, run.ID, run.AccountID, run.Status, finished,
			run.Seen, run.Synced, run.Skipped, run.Failed, cleanText(run.Error))
		if err != nil {
			return err
		}
		if updated, err = res.RowsAffected(); err != nil || updated > 0 {
			return err
		}
		err = s.db.QueryRowContext(ctx, s.q.runReplaced, run.ID, run.AccountID).Scan(&replaced)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return wrap("finish run", err)
	case updated > 0:
		return nil
	case replaced.Valid:
		return fmt.Errorf("postgres: finish run %q: it was replaced by a fresh run and stays interrupted", run.ID)
	}
	return fmt.Errorf("postgres: finish run %q of account %q: %w", run.ID, run.AccountID, store.ErrNotFound)
}

// newRunID returns a random run id: 26 characters, 130 bits from
// crypto/rand.
func newRunID() string { return rand.Text() }

// now is the store's clock for the times it sets, at PostgreSQL's
// precision so that the value returned is the value stored.
func now() time.Time { return time.Now().UTC().Round(time.Microsecond) }

// lockKey derives a 64-bit advisory lock key from its parts. Keys of
// different purposes, schemas and accounts differ; a collision with
// another application's key would only make one wait for the other.
func lockKey(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte("adsync"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(h.Sum64())
}

// cleanText makes a message storable as text: PostgreSQL refuses NUL and
// invalid UTF-8, and an error message must not make the record it
// describes unstorable. Data is never cleaned: it is validated or stored as
// bytes.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
