package syncer_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
)

// faultyStore is the memory store with a database's outages in front of
// its leases, for tests on fake time (PostgreSQL's real ones are met
// through postgrestest's proxy): while down, every call of a lease fails
// with store.ErrUnavailable, as a refused connection does; while hung,
// every call waits until its context ends, as a database that does not
// answer. Acquire and the operator's view are not affected.
type faultyStore struct {
	*memory.Store

	mu        sync.Mutex
	downUntil time.Time
	hangUntil time.Time
	failEnds  int // the next failEnds Commits that finish a run fail
	attempts  []attempt
}

// attempt is one failed call of a lease: when, and how long it took.
type attempt struct {
	op   string
	at   time.Time
	took time.Duration
}

func newFaultyStore() *faultyStore { return &faultyStore{Store: memory.New()} }

// down makes the store unavailable for d from now.
func (f *faultyStore) down(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downUntil = time.Now().Add(d)
}

// hang makes the store's calls hang for d from now.
func (f *faultyStore) hang(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangUntil = time.Now().Add(d)
}

// failures returns the lease calls that failed.
func (f *faultyStore) failures() []attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attempt(nil), f.attempts...)
}

// fault returns the failure a lease call meets now, if any.
func (f *faultyStore) fault(ctx context.Context, op string, ends bool) error {
	start := time.Now()
	f.mu.Lock()
	down, hung := start.Before(f.downUntil), start.Before(f.hangUntil)
	endFails := ends && f.failEnds > 0
	if endFails {
		f.failEnds--
	}
	f.mu.Unlock()
	var err error
	switch {
	case hung:
		<-ctx.Done()
		err = fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, ctx.Err())
	case down, endFails:
		err = fmt.Errorf("%s: %w: connection refused", op, store.ErrUnavailable)
	default:
		return nil
	}
	f.mu.Lock()
	f.attempts = append(f.attempts, attempt{op: op, at: start, took: time.Since(start)})
	f.mu.Unlock()
	return err
}

func (f *faultyStore) Acquire(ctx context.Context, account string) (store.Lease, error) {
	l, err := f.Store.Acquire(ctx, account)
	if err != nil {
		return nil, err
	}
	return &faultyLease{Lease: l, f: f}, nil
}

type faultyLease struct {
	store.Lease
	f *faultyStore
}

func (l *faultyLease) SyncedSince(ctx context.Context, ids []string, since time.Time) ([]string, error) {
	if err := l.f.fault(ctx, "synced since", false); err != nil {
		return nil, err
	}
	return l.Lease.SyncedSince(ctx, ids, since)
}

func (l *faultyLease) DeadLetters(ctx context.Context, after string, limit int) ([]store.DeadLetter, error) {
	if err := l.f.fault(ctx, "dead letters", false); err != nil {
		return nil, err
	}
	return l.Lease.DeadLetters(ctx, after, limit)
}

func (l *faultyLease) State(ctx context.Context) (store.AccountState, error) {
	if err := l.f.fault(ctx, "state", false); err != nil {
		return store.AccountState{}, err
	}
	return l.Lease.State(ctx)
}

func (l *faultyLease) Commit(ctx context.Context, b store.Batch) error {
	if err := l.f.fault(ctx, "commit", b.Finish != nil); err != nil {
		return err
	}
	return l.Lease.Commit(ctx, b)
}
