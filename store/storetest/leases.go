package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// acquire takes the account, or fails the test; the lease is released when
// the test ends.
func acquire(t *testing.T, s store.RunStore, accountID string) store.Lease {
	t.Helper()
	l, err := s.Acquire(t.Context(), accountID)
	if err != nil {
		t.Fatalf("Acquire(account %s) = %s; want a lease", quote(accountID), errText(err))
	}
	if l == nil {
		t.Fatalf("Acquire(account %s) returned a nil lease and no error", quote(accountID))
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	return l
}

// begin acquires the account and starts (or resumes) a sync run, or fails
// the test.
func begin(t *testing.T, s store.RunStore, accountID string) (store.Lease, store.Run) {
	t.Helper()
	l := acquire(t, s, accountID)
	r, err := l.StartRun(t.Context(), store.StartOptions{})
	if err != nil {
		t.Fatalf("StartRun(account %s) = %s; want a run", quote(accountID), errText(err))
	}
	return l, r
}

// release releases l, or fails the test.
func release(t *testing.T, l store.Lease) {
	t.Helper()
	if err := l.Release(t.Context()); err != nil {
		t.Fatalf("Release(account %s) = %s; want nil", quote(l.AccountID()), errText(err))
	}
}

// expectAccountError checks that err is an *store.AccountError of the
// account matching sentinel, whose text names the account.
func expectAccountError(t *testing.T, call string, err error, accountID string, sentinel error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s returned no error; want one matching errors.Is(err, %v)", call, sentinel)
		return
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%s = %s; want an error matching errors.Is(err, %v)", call, errText(err), sentinel)
		return
	}
	var ae *store.AccountError
	if !errors.As(err, &ae) || ae.AccountID != accountID {
		t.Errorf("%s = %s (%T); want a *store.AccountError of account %s", call, errText(err), err, quote(accountID))
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", accountID)) {
		t.Errorf("%s = %s; want its text to name the account %q", call, errText(err), accountID)
	}
}

func testLeaseExclusive(t *testing.T, s store.RunStore) {
	a := acquire(t, s, acctA)
	if a.AccountID() != acctA {
		t.Errorf("Lease.AccountID() = %s; want %s", quote(a.AccountID()), quote(acctA))
	}
	_, err := s.Acquire(t.Context(), acctA)
	expectAccountError(t, "Acquire of an account a lease holds", err, acctA, store.ErrAccountBusy)
	if errors.Is(err, store.ErrAccountLost) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Acquire of a held account = %s; busy is neither lost nor unavailable", errText(err))
	}
	// Another account is not blocked, and blocks nobody.
	b := acquire(t, s, acctB)
	if r, ok := startRun(t, b, store.StartOptions{}); ok {
		checkNewRun(t, r, acctB, "while another account is held")
	}
	if _, err := s.Acquire(t.Context(), "ACCT-A"); err != nil {
		t.Errorf("Acquire of account \"ACCT-A\" while %s is held = %s; want a lease: it is another account", quote(acctA), errText(err))
	}
	// Released, the account is free at once.
	release(t, a)
	a2 := acquire(t, s, acctA)
	if r, ok := startRun(t, a2, store.StartOptions{}); ok {
		checkNewRun(t, r, acctA, "with a new lease after the first was released")
	}
	_, err = s.Acquire(t.Context(), acctA)
	expectAccountError(t, "Acquire of an account the new lease holds", err, acctA, store.ErrAccountBusy)
}

func testLeaseConcurrent(t *testing.T, s store.RunStore) {
	const callers, rounds = 8, 5
	for round := range rounds {
		account := fmt.Sprintf("contended-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		leases := make(chan store.Lease, callers)
		for range callers {
			wg.Go(func() {
				<-start
				l, err := s.Acquire(t.Context(), account)
				switch {
				case err == nil:
					leases <- l
				case !errors.Is(err, store.ErrAccountBusy):
					t.Errorf("concurrent Acquire(%s) = %s; want a lease or ErrAccountBusy", quote(account), errText(err))
				}
			})
		}
		close(start)
		wg.Wait()
		close(leases)
		var won []store.Lease
		for l := range leases {
			won = append(won, l)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d of %d concurrent Acquire calls of one account got a lease; want exactly 1", round, len(won), callers)
		}
		release(t, won[0])
	}
}

func testLeaseReleased(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	release(t, l)
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("Release of a released lease = %s; want nil (Release is idempotent)", errText(err))
	}
	if l.AccountID() != acctA {
		t.Errorf("AccountID() of a released lease = %s; want %s", quote(l.AccountID()), quote(acctA))
	}
	ctx := t.Context()
	_, err := l.StartRun(ctx, store.StartOptions{})
	expectAccountError(t, "StartRun of a released lease", err, acctA, store.ErrAccountLost)
	_, err = l.SyncedSince(ctx, []string{"c-1"}, time.Time{})
	expectAccountError(t, "SyncedSince of a released lease", err, acctA, store.ErrAccountLost)
	_, err = l.DeadLetters(ctx, "", 10)
	expectAccountError(t, "DeadLetters of a released lease", err, acctA, store.ErrAccountLost)
	_, err = l.State(ctx)
	expectAccountError(t, "State of a released lease", err, acctA, store.ErrAccountLost)
	err = l.Commit(ctx, store.Batch{
		RunID:       r.ID,
		Campaigns:   []store.Campaign{sample("written-after-release")},
		DeadLetters: []store.DeadLetter{letterOf(r, "letter-after-release")},
		Progress:    store.RunCounts{Seen: 9},
		State:       []byte("state after release"),
	})
	expectAccountError(t, "Commit of a released lease", err, acctA, store.ErrAccountLost)

	// Nothing of it was written, and the account is free.
	expectNotFound(t, s, acctA, "written-after-release", "(committed by a released lease)")
	if got := listLetters(t, s, acctA); len(got) != 0 {
		t.Errorf("DeadLetters after a released lease's Commit: got %s; want none", lettersString(got))
	}
	l2 := acquire(t, s, acctA)
	if st, err := l2.State(ctx); err != nil || st.Data != nil {
		t.Errorf("State after a released lease's Commit = %q, %s; want none", st.Data, errText(err))
	}
	if got, ok := startRun(t, l2, store.StartOptions{}); ok && checkResumed(t, got, r, "with a new lease, after the first was released before finishing its run") {
		if got.RunCounts != (store.RunCounts{}) {
			t.Errorf("the run's counts are %+v after a released lease's Commit; want them untouched", got.RunCounts)
		}
	}
}

func testLeaseInvalidAccount(t *testing.T, s store.RunStore) {
	for _, bad := range []string{"", "acct\x00x", "acct\xffx"} {
		l, err := s.Acquire(t.Context(), bad)
		if err == nil {
			l.Release(context.Background())
			t.Errorf("Acquire(account %s) returned a lease; want an error for an invalid account id", quote(bad))
			continue
		}
		if errors.Is(err, store.ErrAccountBusy) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Acquire(account %s) = %s; want an error saying the account id is invalid", quote(bad), errText(err))
		}
	}
}

func testLeaseCancelled(t *testing.T, s store.RunStore) {
	_, err := s.Acquire(cancelledContext(t), acctA)
	expectCanceled(t, "Acquire", err, context.Canceled)
	// The account was not taken.
	acquire(t, s, acctA)
}

func testHandoverState(t *testing.T, s store.RunStore) {
	l := acquire(t, s, acctA)
	st, err := l.State(t.Context())
	if err != nil || st.Data != nil || !st.SavedAt.IsZero() {
		t.Fatalf("State of an account that never saved one = {%q, %s}, %s; want the zero AccountState", st.Data, timeString(st.SavedAt), errText(err))
	}
	r, ok := startRun(t, l, store.StartOptions{})
	if !ok {
		return
	}
	saved := []byte("limiter: \x00\xff binary state")
	commit(t, l, store.Batch{RunID: r.ID, State: saved})
	checkState := func(l store.Lease, want []byte, when string) store.AccountState {
		t.Helper()
		st, err := l.State(t.Context())
		if err != nil {
			t.Fatalf("State %s = %s", when, errText(err))
		}
		if string(st.Data) != string(want) || st.Data == nil {
			t.Errorf("State %s: Data %q; want %q", when, st.Data, want)
		}
		if p := storeTimeProblem(st.SavedAt); p != "" {
			t.Errorf("State %s: SavedAt %s", when, p)
		}
		return st
	}
	first := checkState(l, saved, "after a Commit saved it")
	saved[0] = 'X' // the caller's buffer is its own

	commit(t, l, store.Batch{RunID: r.ID, Progress: store.RunCounts{Seen: 1}})
	if again := checkState(l, []byte("limiter: \x00\xff binary state"), "after a Commit without a State (nil leaves it unchanged)"); !again.SavedAt.Equal(first.SavedAt) {
		t.Errorf("State.SavedAt moved from %s to %s with a Commit that saved no state", timeString(first.SavedAt), timeString(again.SavedAt))
	}
	got, _ := l.State(t.Context())
	if len(got.Data) > 0 {
		got.Data[0] = 'Y' // nor is what it got
	}

	// The next holder continues from it; another account has none.
	release(t, l)
	next := acquire(t, s, acctA)
	checkState(next, []byte("limiter: \x00\xff binary state"), "for the next holder of the account")
	if r2, ok := startRun(t, next, store.StartOptions{}); ok {
		commit(t, next, store.Batch{RunID: r2.ID, State: []byte{}})
		if st, err := next.State(t.Context()); err != nil || len(st.Data) != 0 {
			t.Errorf("State after a Commit saved an empty one = %q, %s; want it empty", st.Data, errText(err))
		}
	}
	other := acquire(t, s, acctB)
	if st, err := other.State(t.Context()); err != nil || st.Data != nil {
		t.Errorf("State of another account = %q, %s; want none", st.Data, errText(err))
	}
}
