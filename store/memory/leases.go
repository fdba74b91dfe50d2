package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/adsync/adsync/store"
)

// Acquire takes the account for the returned lease, as store.RunStore
// documents: while a lease holds it, another Acquire fails at once with an
// *store.AccountError matching store.ErrAccountBusy.
func (s *Store) Acquire(ctx context.Context, accountID string) (store.Lease, error) {
	if err := ctxErr(ctx, "acquire"); err != nil {
		return nil, err
	}
	if err := checkAccount(accountID, "acquire"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(strings.Clone(accountID))
	if a.holder != nil {
		return nil, &store.AccountError{AccountID: accountID, Err: store.ErrAccountBusy,
			Reason: "another holder has it since " + a.heldSince.Format(time.RFC3339)}
	}
	a.generation++
	a.holder = &lease{s: s, a: a, generation: a.generation}
	a.heldSince = now()
	return a.holder, nil
}

// lease is a hold on one account. Its state is the account's: it holds
// the account while a.holder is it.
type lease struct {
	s          *Store
	a          *account
	generation int64
}

// AccountID is the account the lease holds.
func (l *lease) AccountID() string { return l.a.id }

// held reports a lost lease as an error. l.s.mu must be held.
func (l *lease) held() error {
	if l.a.holder != l {
		return &store.AccountError{AccountID: l.a.id, Err: store.ErrAccountLost, Reason: "the lease was released"}
	}
	return nil
}

// begin starts a call of the lease: the context is live and the lease
// held. It returns with l.s.mu held (for writing when write is set); end
// releases it.
func (l *lease) begin(ctx context.Context, op string, write bool) error {
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if write {
		l.s.mu.Lock()
	} else {
		l.s.mu.RLock()
	}
	if err := l.held(); err != nil {
		l.end(write)
		return err
	}
	return nil
}

func (l *lease) end(write bool) {
	if write {
		l.s.mu.Unlock()
	} else {
		l.s.mu.RUnlock()
	}
}

// StartRun starts or resumes a run of the account, as store.Lease and
// store.StartOptions document.
func (l *lease) StartRun(ctx context.Context, opts store.StartOptions) (store.Run, error) {
	opts, err := opts.Normalize()
	if err != nil {
		return store.Run{}, fmt.Errorf("memory: start run: %w", err)
	}
	if err := l.begin(ctx, "start run", true); err != nil {
		return store.Run{}, err
	}
	defer l.end(true)
	return l.s.startRun(l.a, opts), nil
}

// SyncedSince returns those of ids whose stored SyncedAt is at or after
// since, each once.
func (l *lease) SyncedSince(ctx context.Context, ids []string, since time.Time) ([]string, error) {
	if err := l.begin(ctx, "synced since", false); err != nil {
		return nil, err
	}
	l.end(false) // reads need no fence: only the check that the lease is held
	return l.s.syncedSince(ctx, l.a.id, ids, since)
}

// DeadLetters returns a page of the account's dead letters that are not
// retired, in CampaignID order.
func (l *lease) DeadLetters(ctx context.Context, after string, limit int) ([]store.DeadLetter, error) {
	if err := checkPage(after, limit); err != nil {
		return nil, err
	}
	if err := l.begin(ctx, "dead letters", true); err != nil {
		return nil, err
	}
	defer l.end(true)
	return l.a.letters.page(after, limit, false), nil
}

// State returns the account's handover state.
func (l *lease) State(ctx context.Context) (store.AccountState, error) {
	if err := l.begin(ctx, "state", false); err != nil {
		return store.AccountState{}, err
	}
	defer l.end(false)
	st := l.a.state
	st.Data = slices.Clone(st.Data)
	return st, nil
}

// Commit records a batch, as store.Lease documents: with New, all of it
// under one lock, or nothing; with WithBookkeeping, the campaigns first,
// then the rest (see WithBookkeeping).
func (l *lease) Commit(ctx context.Context, b store.Batch) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("memory: commit: %w", err)
	}
	b = b.Normalize()
	if l.s.ext != nil {
		if err := l.check(ctx, b.RunID); err != nil {
			return err
		}
		if len(b.Campaigns) > 0 {
			if err := l.s.ext.Upsert(ctx, l.a.id, b.Campaigns); err != nil {
				return fmt.Errorf("memory: commit: %w", err)
			}
		}
	}
	if err := l.begin(ctx, "commit", true); err != nil {
		return err
	}
	defer l.end(true)
	r, err := l.s.runningRun(l.a, b.RunID)
	if err != nil {
		return err
	}
	t := now()
	if l.s.ext == nil && len(b.Campaigns) > 0 {
		keep, _ := store.Prepare(b.Campaigns, t)
		l.s.merge(l.a.id, b.Campaigns, keep, t)
	}
	for _, id := range b.Resolved {
		l.a.letters.resolve(id)
	}
	for _, ret := range b.Retired {
		l.a.letters.retire(ret, t)
	}
	for _, dl := range b.DeadLetters {
		dl.AccountID = l.a.id
		l.a.letters.put(dl, t)
	}
	r.RunCounts = b.Progress
	if f := b.Finish; f != nil {
		r.Status, r.Error, r.FinishedAt = f.Status, strings.Clone(f.Error), notBefore(t, r.StartedAt)
	}
	if b.State != nil {
		l.a.state = store.AccountState{Data: slices.Clone(b.State), SavedAt: t}
	}
	return nil
}

// check is Commit's look, before it writes campaigns to another store,
// that the lease is held and the run running.
func (l *lease) check(ctx context.Context, runID string) error {
	if err := l.begin(ctx, "commit", false); err != nil {
		return err
	}
	defer l.end(false)
	_, err := l.s.runningRun(l.a, runID)
	return err
}

// Release gives the account up; it is idempotent.
func (l *lease) Release(context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.a.holder == l {
		l.a.holder = nil
	}
	return nil
}
