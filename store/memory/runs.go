package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/adsync/adsync/store"
)

// run is a stored run record; seq orders an account's runs.
type run struct {
	store.Run
	seq int64
}

// startRun starts or resumes a run of a, as store.StartOptions documents;
// opts are normalized. s.mu must be held for writing.
func (s *Store) startRun(a *account, opts store.StartOptions) store.Run {
	t := now()
	kind := opts.Kind
	id := s.newRunID()
	var note string
	switch kind {
	case store.KindSync:
		prev := a.newest(func(r *run) bool { return r.Kind == store.KindSync })
		if prev == nil || (prev.Status != store.RunRunning && prev.Status != store.RunInterrupted) {
			break
		}
		if why := store.WhyNotResume(prev.Run, opts, t); why != "" {
			prev.Status, prev.FinishedAt = store.RunInterrupted, notBefore(t, prev.StartedAt)
			prev.Error = "not resumed: " + why + "; run " + id + " started instead"
			note = "run " + prev.ID + " not resumed: " + why
			break
		}
		prev.Status, prev.FinishedAt, prev.Error = store.RunRunning, time.Time{}, ""
		r := prev.Run
		r.Resumed = true
		return r
	case store.KindRetry:
		// A retry run is never resumed: one still running was left by a
		// holder that is gone.
		for _, r := range a.runs {
			if r.Kind == store.KindRetry && r.Status == store.RunRunning {
				r.Status, r.FinishedAt = store.RunInterrupted, notBefore(t, r.StartedAt)
				r.Error = "not finished; retry run " + id + " started after it"
			}
		}
	}
	s.seq++
	r := &run{Run: store.Run{ID: id, AccountID: a.id, Kind: kind, Status: store.RunRunning, StartedAt: t}, seq: s.seq}
	s.runs[r.ID] = r
	a.runs = append(a.runs, r)
	out := r.Run
	out.Note = note
	return out
}

// newest returns a's newest run that keep accepts, or nil.
func (a *account) newest(keep func(*run) bool) *run {
	for i := len(a.runs) - 1; i >= 0; i-- {
		if keep(a.runs[i]) {
			return a.runs[i]
		}
	}
	return nil
}

// newRunID returns an id no run of s has.
func (s *Store) newRunID() string {
	for {
		id := store.NewRunID()
		if _, taken := s.runs[id]; !taken {
			return id
		}
	}
}

// runningRun returns a's run id if it is running, for a Commit. s.mu must
// be held.
func (s *Store) runningRun(a *account, id string) (*run, error) {
	r := s.runs[id]
	switch {
	case r == nil || r.AccountID != a.id:
		return nil, fmt.Errorf("memory: commit: run %q of account %q: %w", id, a.id, store.ErrNotFound)
	case r.Status != store.RunRunning:
		return nil, fmt.Errorf("memory: commit: run %q is %s, not running", id, r.Status)
	}
	return r, nil
}

// Runs returns the account's runs, newest first, as store.RunStore
// documents.
func (s *Store) Runs(ctx context.Context, accountID string, q store.RunQuery) ([]store.Run, error) {
	if err := ctxErr(ctx, "runs"); err != nil {
		return nil, err
	}
	if err := checkAccount(accountID, "runs"); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("memory: runs: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var runs []*run
	if a := s.accounts[accountID]; a != nil {
		runs = a.runs
	}
	i := len(runs) - 1
	if q.Before != "" {
		for i >= 0 && runs[i].ID != q.Before {
			i--
		}
		if i < 0 {
			return nil, fmt.Errorf("memory: runs: run %q of account %q: %w", q.Before, accountID, store.ErrNotFound)
		}
		i--
	}
	out := []store.Run{}
	for ; i >= 0 && len(out) < q.Limit; i-- {
		if q.Kind == "" || runs[i].Kind == q.Kind {
			out = append(out, runs[i].Run)
		}
	}
	return out, nil
}

// LastCompletedRun returns the account's newest completed sync run, or an
// error wrapping store.ErrNotFound.
func (s *Store) LastCompletedRun(ctx context.Context, accountID string) (store.Run, error) {
	if err := ctxErr(ctx, "last completed run"); err != nil {
		return store.Run{}, err
	}
	if err := checkAccount(accountID, "last completed run"); err != nil {
		return store.Run{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[accountID]; a != nil {
		if r := a.newest(lastCompleted); r != nil {
			return r.Run, nil
		}
	}
	return store.Run{}, fmt.Errorf("memory: no completed sync run of account %q: %w", accountID, store.ErrNotFound)
}

func lastCompleted(r *run) bool { return r.Kind == store.KindSync && r.Status == store.RunCompleted }

// PruneRuns deletes the runs that finished before olderThan, but never an
// unfinished run, an account's newest run of each kind, nor its last
// completed sync run.
func (s *Store) PruneRuns(ctx context.Context, olderThan time.Time) (int, error) {
	if err := ctxErr(ctx, "prune runs"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pruned := 0
	for _, a := range s.accounts {
		keep := map[*run]bool{a.newest(lastCompleted): true}
		for _, kind := range []store.RunKind{store.KindSync, store.KindRetry} {
			keep[a.newest(func(r *run) bool { return r.Kind == kind })] = true
		}
		kept := a.runs[:0]
		for _, r := range a.runs {
			if keep[r] || r.Status == store.RunRunning || !r.FinishedAt.Before(olderThan) {
				kept = append(kept, r)
				continue
			}
			delete(s.runs, r.ID)
			pruned++
		}
		clear(a.runs[len(kept):])
		a.runs = kept
	}
	return pruned, nil
}
