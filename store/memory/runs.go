package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/adsync/adsync/store"
)

// run is a stored run record.
type run struct {
	store.Run
	// replaced is set when a fresh run took this unfinished run's place:
	// it stays interrupted and can no longer be finished.
	replaced bool
}

// StartRun resumes the account's unfinished run or starts a new one, as
// store.RunStore documents. A resumed run is running again: its Status is
// store.RunRunning and its FinishedAt and Error are cleared.
func (s *Store) StartRun(ctx context.Context, accountID string, opts store.StartOptions) (store.Run, error) {
	if err := ctxErr(ctx, "start run"); err != nil {
		return store.Run{}, err
	}
	if err := checkAccount(accountID, "start run"); err != nil {
		return store.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	prev := s.newest[accountID]
	unfinished := prev != nil && (prev.Status == store.RunRunning || prev.Status == store.RunInterrupted)
	if unfinished && !opts.Fresh {
		prev.Status, prev.FinishedAt, prev.Error = store.RunRunning, time.Time{}, ""
		r := prev.Run
		r.Resumed = true
		return r, nil
	}
	r := &run{Run: store.Run{ID: s.newRunID(), AccountID: accountID, Status: store.RunRunning, StartedAt: t}}
	if unfinished {
		prev.Status, prev.replaced = store.RunInterrupted, true
		prev.FinishedAt = notBefore(t, prev.StartedAt)
		prev.Error = "replaced by fresh run " + r.ID
	}
	s.runs[r.ID] = r
	s.newest[accountID] = r
	return r.Run, nil
}

// newRunID returns an id no run of s has: 26 random base32 characters
// (130 bits from crypto/rand), so that run ids cannot be guessed.
func (s *Store) newRunID() string {
	for {
		id := rand.Text()
		if _, taken := s.runs[id]; !taken {
			return id
		}
	}
}

// FinishRun records the end of a run, as store.RunStore documents. The run
// is found by ID and AccountID (an error wrapping store.ErrNotFound
// otherwise); Status must be store.RunCompleted, store.RunInterrupted or
// store.RunFailed. A zero FinishedAt is recorded as now. A run replaced by a
// fresh one stays interrupted: finishing it is an error.
func (s *Store) FinishRun(ctx context.Context, r store.Run) error {
	if err := ctxErr(ctx, "finish run"); err != nil {
		return err
	}
	switch r.Status {
	case store.RunCompleted, store.RunInterrupted, store.RunFailed:
	default:
		return fmt.Errorf("memory: finish run %q: Status %q is not a final status (%q, %q or %q)",
			r.ID, r.Status, store.RunCompleted, store.RunInterrupted, store.RunFailed)
	}
	if y := r.FinishedAt.UTC().Year(); !r.FinishedAt.IsZero() && (y < 1 || y > 9999) {
		return fmt.Errorf("memory: finish run %q: FinishedAt is outside the years 1 to 9999", r.ID)
	}
	if r.Seen < 0 || r.Synced < 0 || r.Skipped < 0 || r.Failed < 0 {
		return fmt.Errorf("memory: finish run %q: negative counts", r.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.runs[r.ID]
	if !ok || stored.AccountID != r.AccountID {
		return fmt.Errorf("memory: finish run %q of account %q: %w", r.ID, r.AccountID, store.ErrNotFound)
	}
	if stored.replaced {
		return fmt.Errorf("memory: finish run %q: it was replaced by a fresh run and stays interrupted", r.ID)
	}
	finished := now()
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.Round(time.Microsecond).UTC()
	}
	stored.Status, stored.FinishedAt, stored.Error = r.Status, finished, strings.Clone(r.Error)
	stored.Seen, stored.Synced, stored.Skipped, stored.Failed = r.Seen, r.Synced, r.Skipped, r.Failed
	return nil
}
