package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

func startRun(t *testing.T, l store.Lease, opts store.StartOptions) (store.Run, bool) {
	t.Helper()
	r, err := l.StartRun(t.Context(), opts)
	if err != nil {
		t.Errorf("StartRun(account %s, %+v) = %s; want a run", quote(l.AccountID()), opts, errText(err))
		return r, false
	}
	return r, true
}

// commit commits b, or fails the test.
func commit(t *testing.T, l store.Lease, b store.Batch) {
	t.Helper()
	if err := l.Commit(t.Context(), b); err != nil {
		t.Fatalf("Commit(account %s, run %s) = %s; want nil", quote(l.AccountID()), quote(b.RunID), errText(err))
	}
}

// runs lists every run of the account, newest first, or fails the test.
func runs(t *testing.T, s store.RunStore, accountID string) []store.Run {
	t.Helper()
	got, err := s.Runs(t.Context(), accountID, store.RunQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("Runs(account %s) = %s; want nil", quote(accountID), errText(err))
	}
	return got
}

// findRun returns the account's run id, as Runs lists it.
func findRun(t *testing.T, s store.RunStore, accountID, id string) (store.Run, bool) {
	t.Helper()
	for _, r := range runs(t, s, accountID) {
		if r.ID == id {
			return r, true
		}
	}
	t.Errorf("Runs(account %s) does not list run %s", quote(accountID), quote(id))
	return store.Run{}, false
}

func runString(r store.Run) string {
	return fmt.Sprintf("{ID: %s, AccountID: %s, Kind: %q, Status: %q, StartedAt: %s, FinishedAt: %s, Resumed: %t, Note: %s, Error: %s}",
		quote(r.ID), quote(r.AccountID), r.Kind, r.Status, timeString(r.StartedAt), timeString(r.FinishedAt), r.Resumed, quote(r.Note), quote(r.Error))
}

// checkNewRun checks that r is a sync run StartRun has just started.
func checkNewRun(t *testing.T, r store.Run, accountID, when string) bool {
	t.Helper()
	return checkNewRunOf(t, r, accountID, store.KindSync, when)
}

// checkNewRunOf checks that r is a run of kind StartRun has just started.
func checkNewRunOf(t *testing.T, r store.Run, accountID string, kind store.RunKind, when string) bool {
	t.Helper()
	var p []string
	if r.Kind != kind {
		p = append(p, fmt.Sprintf("Kind is %q, want %q", r.Kind, kind))
	}
	if r.ID == "" {
		p = append(p, "ID is empty")
	}
	if r.AccountID != accountID {
		p = append(p, "AccountID: "+textDiff(r.AccountID, accountID))
	}
	if r.Status != store.RunRunning {
		p = append(p, fmt.Sprintf("Status is %q, want %q", r.Status, store.RunRunning))
	}
	if r.Resumed {
		p = append(p, "Resumed is true, want false for a new run")
	}
	if tp := storeTimeProblem(r.StartedAt); tp != "" {
		p = append(p, "StartedAt "+tp)
	}
	if !r.FinishedAt.IsZero() {
		p = append(p, "FinishedAt is set, want zero for an unfinished run")
	}
	if r.Error != "" {
		p = append(p, "Error is set, want \"\"")
	}
	if r.RunCounts != (store.RunCounts{}) {
		p = append(p, fmt.Sprintf("counts are %d/%d/%d/%d, want zero", r.Seen, r.Synced, r.Skipped, r.Failed))
	}
	if len(p) > 0 {
		t.Errorf("StartRun(account %s) %s: want a new run, got %s:%s", quote(accountID), when, runString(r), joinDiffs(p))
		return false
	}
	return true
}

// checkResumed checks that got is want, resumed.
func checkResumed(t *testing.T, got, want store.Run, when string) bool {
	t.Helper()
	var p []string
	if got.ID != want.ID {
		p = append(p, fmt.Sprintf("ID is %s, want %s (the unfinished run)", quote(got.ID), quote(want.ID)))
	}
	if got.AccountID != want.AccountID {
		p = append(p, "AccountID: "+textDiff(got.AccountID, want.AccountID))
	}
	if !got.Resumed {
		p = append(p, "Resumed is false")
	}
	if !got.StartedAt.Equal(want.StartedAt) {
		p = append(p, fmt.Sprintf("StartedAt is %s, want %s (a resumed run keeps it)", timeString(got.StartedAt), timeString(want.StartedAt)))
	}
	if got.Status != store.RunRunning || !got.FinishedAt.IsZero() || got.Error != "" {
		p = append(p, fmt.Sprintf("Status is %q, FinishedAt %s, Error %s: want it running again", got.Status, timeString(got.FinishedAt), quote(got.Error)))
	}
	if got.Kind != store.KindSync {
		p = append(p, fmt.Sprintf("Kind is %q, want %q (only sync runs are resumed)", got.Kind, store.KindSync))
	}
	if len(p) > 0 {
		t.Errorf("StartRun(account %s) %s: want the unfinished run %s resumed, got %s:%s",
			quote(want.AccountID), when, quote(want.ID), runString(got), joinDiffs(p))
		return false
	}
	return true
}

// finish ends r with status, made-up counts and reason, through l.
func finish(t *testing.T, l store.Lease, r store.Run, status store.RunStatus, reason string) {
	t.Helper()
	commit(t, l, store.Batch{
		RunID:    r.ID,
		Progress: store.RunCounts{Seen: 10, Synced: 7, Skipped: 2, Failed: 1},
		Finish:   &store.RunFinish{Status: status, Error: reason},
	})
}

func testStartNew(t *testing.T, s store.RunStore) {
	if r, ok := startRun(t, acquire(t, s, acctA), store.StartOptions{}); ok {
		checkNewRun(t, r, acctA, "on a store without runs")
		if r.Note != "" {
			t.Errorf("StartRun of a first run: Note %s; want \"\"", quote(r.Note))
		}
		if got, ok := findRun(t, s, acctA, r.ID); ok {
			checkNewRun(t, got, acctA, "as Runs lists it")
		}
	}
	if r, ok := startRun(t, acquire(t, s, acctB), store.StartOptions{Fresh: true, Kind: store.KindSync}); ok {
		checkNewRun(t, r, acctB, "with Fresh, on an account without runs")
	}
}

func testStartInvalid(t *testing.T, s store.RunStore) {
	l := acquire(t, s, acctA)
	if r, err := l.StartRun(t.Context(), store.StartOptions{Kind: "backfill"}); err == nil || !strings.Contains(err.Error(), "Kind") {
		t.Errorf("StartRun with Kind \"backfill\" = %s, %s; want an error naming Kind", runString(r), errText(err))
	}
	if got := runs(t, s, acctA); len(got) != 0 {
		t.Errorf("Runs after a StartRun with an invalid kind: %d runs; want none", len(got))
	}
}

func testResumeUnfinished(t *testing.T, s store.RunStore) {
	l := acquire(t, s, acctA)
	r1, ok := startRun(t, l, store.StartOptions{})
	if !ok || !checkNewRun(t, r1, acctA, "the first time") {
		return
	}
	time.Sleep(settle)
	if r, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, r, r1, "again with the same lease, the run never finished")
	}
	commit(t, l, store.Batch{RunID: r1.ID, Progress: store.RunCounts{Seen: 3, Synced: 2}})
	// The holder dies: the next one resumes the run, counts and all.
	release(t, l)
	l2 := acquire(t, s, acctA)
	if r, ok := startRun(t, l2, store.StartOptions{}); ok && checkResumed(t, r, r1, "with a new lease, after the holder of the unfinished run went away") {
		if r.RunCounts != (store.RunCounts{Seen: 3, Synced: 2}) {
			t.Errorf("the resumed run's counts are %+v; want those its last Commit recorded, {3 2 0 0}", r.RunCounts)
		}
	}
}

func testFinishCompleted(t *testing.T, s store.RunStore) {
	testFinishedIsNotResumed(t, s, store.RunCompleted)
}

func testFinishFailed(t *testing.T, s store.RunStore) {
	testFinishedIsNotResumed(t, s, store.RunFailed)
}

func testFinishedIsNotResumed(t *testing.T, s store.RunStore, status store.RunStatus) {
	l, r1 := begin(t, s, acctA)
	reason := ""
	if status == store.RunFailed {
		reason = "credentials refused"
	}
	finish(t, l, r1, status, reason)
	if got, ok := findRun(t, s, acctA, r1.ID); ok {
		want := store.RunCounts{Seen: 10, Synced: 7, Skipped: 2, Failed: 1}
		if got.Status != status || got.Error != reason || got.RunCounts != want || got.FinishedAt.Before(got.StartedAt) {
			t.Errorf("Runs lists the finished run as %s %+v; want status %q, Error %s, counts %+v, a FinishedAt",
				runString(got), got.RunCounts, status, quote(reason), want)
		}
		if p := storeTimeProblem(got.FinishedAt); p != "" {
			t.Errorf("the finished run's FinishedAt %s", p)
		}
	}
	r2, ok := startRun(t, l, store.StartOptions{})
	if !ok {
		return
	}
	when := fmt.Sprintf("after the run %s finished as %q", quote(r1.ID), status)
	if checkNewRun(t, r2, acctA, when) && r2.ID == r1.ID {
		t.Errorf("StartRun %s returned a new run with the same ID %s", when, quote(r1.ID))
	}
	if r2.StartedAt.Before(r1.StartedAt) {
		t.Errorf("StartRun %s: the new run started at %s, before the finished one (%s)", when, timeString(r2.StartedAt), timeString(r1.StartedAt))
	}
}

func testFinishInterrupted(t *testing.T, s store.RunStore) {
	l, r1 := begin(t, s, acctA)
	finish(t, l, r1, store.RunInterrupted, "interrupted: context canceled")
	r2, ok := startRun(t, l, store.StartOptions{})
	if !ok || !checkResumed(t, r2, r1, "after the run finished as interrupted") {
		return
	}
	finish(t, l, r2, store.RunInterrupted, "interrupted again")
	r3, ok := startRun(t, l, store.StartOptions{})
	if !ok || !checkResumed(t, r3, r1, "after the resumed run was interrupted again") {
		return
	}
	finish(t, l, r3, store.RunCompleted, "")
	if r4, ok := startRun(t, l, store.StartOptions{}); ok {
		checkNewRun(t, r4, acctA, "after the resumed run completed")
	}
}

// checkReplaced checks that the run id was ended as interrupted with an
// Error, and that StartRun's Note about it names it.
func checkReplaced(t *testing.T, s store.RunStore, accountID, id string, next store.Run, when string) {
	t.Helper()
	if !strings.Contains(next.Note, id) {
		t.Errorf("StartRun %s: Note %s; want it to say that run %s was not resumed", when, quote(next.Note), quote(id))
	}
	if old, ok := findRun(t, s, accountID, id); ok && (old.Status != store.RunInterrupted || old.Error == "" || old.FinishedAt.IsZero()) {
		t.Errorf("StartRun %s: the run it did not resume is %s; want it interrupted, finished, with an Error saying why", when, runString(old))
	}
}

func testFresh(t *testing.T, s store.RunStore) {
	// A fresh run replaces a running one, which is never resumed again.
	l, r1 := begin(t, s, acctA)
	r2, ok := startRun(t, l, store.StartOptions{Fresh: true})
	if !ok || !checkNewRun(t, r2, acctA, "with Fresh while a run is unfinished") {
		return
	}
	if r2.ID == r1.ID {
		t.Fatalf("StartRun with Fresh returned the unfinished run %s; want a new one", quote(r1.ID))
	}
	checkReplaced(t, s, acctA, r1.ID, r2, "with Fresh")
	if err := l.Commit(t.Context(), store.Batch{RunID: r1.ID, Finish: &store.RunFinish{Status: store.RunCompleted}}); err == nil {
		t.Errorf("Commit to the run a fresh one replaced = nil; want an error: it stays interrupted")
	}
	if r3, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, r3, r2, "after a fresh run replaced another (only the newest run is resumed)")
	}
	finish(t, l, r2, store.RunCompleted, "")
	r4, ok := startRun(t, l, store.StartOptions{})
	if !ok || !checkNewRun(t, r4, acctA, "after the fresh run completed (the run it replaced stays interrupted)") {
		return
	}
	if r4.ID == r1.ID {
		t.Fatalf("StartRun resumed %s, a run replaced by a fresh one; it must stay interrupted", quote(r1.ID))
	}

	// The same for a run that was interrupted rather than running.
	finish(t, l, r4, store.RunInterrupted, "interrupted: context canceled")
	r5, ok := startRun(t, l, store.StartOptions{Fresh: true})
	if !ok || !checkNewRun(t, r5, acctA, "with Fresh while a run is interrupted") {
		return
	}
	checkReplaced(t, s, acctA, r4.ID, r5, "with Fresh while a run is interrupted")
	finish(t, l, r5, store.RunCompleted, "")
	r6, ok := startRun(t, l, store.StartOptions{})
	if ok && checkNewRun(t, r6, acctA, "after the fresh run completed") && (r6.ID == r4.ID || r6.ID == r1.ID) {
		t.Errorf("StartRun resumed %s, a run replaced by a fresh one; it must stay interrupted", quote(r6.ID))
	}
}

func testMaxResumeAge(t *testing.T, s store.RunStore) {
	l, r1 := begin(t, s, acctA)
	time.Sleep(settle) // r1 is now older than a millisecond, for ever
	if r, ok := startRun(t, l, store.StartOptions{MaxResumeAge: -1}); ok {
		checkResumed(t, r, r1, "with a negative MaxResumeAge (no limit)")
	}
	if r, ok := startRun(t, l, store.StartOptions{MaxResumeAge: time.Hour}); ok {
		checkResumed(t, r, r1, "with MaxResumeAge an hour, the run started milliseconds ago")
	}
	if r, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, r, r1, "with the default MaxResumeAge (a day), the run started milliseconds ago")
	}
	r2, ok := startRun(t, l, store.StartOptions{MaxResumeAge: time.Millisecond})
	if !ok || !checkNewRun(t, r2, acctA, "with MaxResumeAge 1ms, the unfinished run started more than 1ms ago") {
		return
	}
	checkReplaced(t, s, acctA, r1.ID, r2, "with MaxResumeAge 1ms")
	if r, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, r, r2, "after the run too old to resume was replaced")
	}
}

func testRetryKind(t *testing.T, s store.RunStore) {
	l, sync1 := begin(t, s, acctA)
	retry1, ok := startRun(t, l, store.StartOptions{Kind: store.KindRetry})
	if !ok || !checkNewRunOf(t, retry1, acctA, store.KindRetry, "of kind retry while a sync run is unfinished") {
		return
	}
	if retry1.ID == sync1.ID || retry1.Note != "" {
		t.Errorf("StartRun of kind retry = %s; want a new run, replacing nothing (Note \"\")", runString(retry1))
	}
	// A retry run is never resumed: an unfinished one was left by a
	// holder that is gone.
	retry2, ok := startRun(t, l, store.StartOptions{Kind: store.KindRetry})
	if !ok || !checkNewRunOf(t, retry2, acctA, store.KindRetry, "of kind retry while another retry run is unfinished") {
		return
	}
	if retry2.ID == retry1.ID {
		t.Errorf("StartRun of kind retry resumed the retry run %s; a retry run is never resumed", quote(retry1.ID))
	}
	if old, ok := findRun(t, s, acctA, retry1.ID); ok && old.Status == store.RunRunning {
		t.Errorf("the retry run a newer one followed is still %s; want it interrupted", runString(old))
	}
	finish(t, l, retry2, store.RunCompleted, "")
	if _, err := l.StartRun(t.Context(), store.StartOptions{Kind: store.KindRetry, Fresh: true}); err != nil {
		t.Errorf("StartRun of kind retry with Fresh = %s; want a run (Fresh concerns sync runs)", errText(err))
	}
	// The sync run was neither resumed nor replaced by them.
	if r, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, r, sync1, "after retry runs started and finished")
	}
	if _, err := s.LastCompletedRun(t.Context(), acctA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastCompletedRun when only a retry run completed = %s; want store.ErrNotFound (a retry pass is not a complete sync)", errText(err))
	}
	if got, err := s.Runs(t.Context(), acctA, store.RunQuery{Kind: store.KindRetry}); err != nil || len(got) != 3 {
		t.Errorf("Runs(Kind retry) = %d runs, %s; want the 3 retry runs", len(got), errText(err))
	}
}

func testCommitRunChecks(t *testing.T, s store.RunStore) {
	a := acquire(t, s, acctA)
	b := acquire(t, s, acctB)
	ra, ok1 := startRun(t, a, store.StartOptions{})
	rb, ok2 := startRun(t, b, store.StartOptions{})
	if !ok1 || !ok2 {
		return
	}
	for _, tc := range []struct {
		what     string
		l        store.Lease
		runID    string
		notFound bool
	}{
		{"a run that does not exist", a, "no-such-run", true},
		{"another account's run", a, rb.ID, true},
	} {
		err := tc.l.Commit(t.Context(), store.Batch{RunID: tc.runID, Campaigns: []store.Campaign{sample("by-" + tc.runID)}})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Commit to %s = %s; want an error wrapping store.ErrNotFound", tc.what, errText(err))
		}
		expectNotFound(t, s, tc.l.AccountID(), "by-"+tc.runID, "(its Commit named "+tc.what+")")
	}
	finish(t, a, ra, store.RunCompleted, "")
	err := a.Commit(t.Context(), store.Batch{RunID: ra.ID, Campaigns: []store.Campaign{sample("after-finish")}})
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Commit to a finished run = %s; want an error saying it is not running", errText(err))
	}
	expectNotFound(t, s, acctA, "after-finish", "(committed to a finished run)")
	if got, ok := findRun(t, s, acctB, rb.ID); ok && got.Status != store.RunRunning {
		t.Errorf("account %s's run is %s after another account named it; want it untouched", quote(acctB), runString(got))
	}
}

func testRunAccounts(t *testing.T, s store.RunStore) {
	la, lb := acquire(t, s, acctA), acquire(t, s, acctB)
	ra, ok1 := startRun(t, la, store.StartOptions{})
	rb, ok2 := startRun(t, lb, store.StartOptions{})
	if !ok1 || !ok2 || !checkNewRun(t, rb, acctB, "while another account has an unfinished run") {
		return
	}
	if rb.ID == ra.ID {
		t.Fatalf("StartRun returned run %s for two accounts", quote(ra.ID))
	}
	if r, ok := startRun(t, acquire(t, s, "ACCT-A"), store.StartOptions{}); ok {
		checkNewRun(t, r, "ACCT-A", fmt.Sprintf("(account %s has an unfinished run; this is another account)", quote(acctA)))
	}
	finish(t, la, ra, store.RunCompleted, "")
	if r, ok := startRun(t, lb, store.StartOptions{}); ok {
		checkResumed(t, r, rb, "after another account's run completed")
	}
	// A fresh run in one account replaces nothing in another.
	if _, ok := startRun(t, la, store.StartOptions{Fresh: true}); !ok {
		return
	}
	if r, ok := startRun(t, lb, store.StartOptions{}); ok {
		checkResumed(t, r, rb, "after another account started a fresh run")
	}
	for _, r := range runs(t, s, acctB) {
		if r.AccountID != acctB {
			t.Errorf("Runs(account %s) lists %s", quote(acctB), runString(r))
		}
	}
}

func testRunIDsUnique(t *testing.T, s store.RunStore) {
	seen := make(map[string]string)
	record := func(r store.Run, how string) {
		if prev, dup := seen[r.ID]; dup {
			t.Errorf("StartRun returned run id %s twice: %s, then %s", quote(r.ID), prev, how)
		}
		seen[r.ID] = how
	}
	la := acquire(t, s, acctA)
	for i := range 20 {
		if r, ok := startRun(t, la, store.StartOptions{Fresh: true}); ok {
			record(r, fmt.Sprintf("fresh run %d of account %s", i, quote(acctA)))
		}
	}
	lb := acquire(t, s, acctB)
	for i := range 10 {
		r, ok := startRun(t, lb, store.StartOptions{Kind: store.KindRetry})
		if !ok {
			return
		}
		record(r, fmt.Sprintf("retry run %d of account %s", i, quote(acctB)))
		finish(t, lb, r, store.RunCompleted, "")
	}
}

func testRunsConcurrent(t *testing.T, s store.RunStore) {
	const accounts = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	owner := make(map[string]string)
	for a := range accounts {
		wg.Go(func() {
			acct := fmt.Sprintf("parallel-%d", a)
			ctx := t.Context()
			l, err := s.Acquire(ctx, acct)
			if err != nil {
				t.Errorf("concurrent Acquire(%s) = %s", quote(acct), errText(err))
				return
			}
			defer l.Release(context.Background())
			r1, err := l.StartRun(ctx, store.StartOptions{})
			if err != nil {
				t.Errorf("concurrent StartRun(%s) = %s", quote(acct), errText(err))
				return
			}
			r2, err := l.StartRun(ctx, store.StartOptions{})
			if err != nil || r2.ID != r1.ID || !r2.Resumed {
				t.Errorf("concurrent StartRun(%s), again: got %s, %s; want run %s resumed", quote(acct), runString(r2), errText(err), quote(r1.ID))
				return
			}
			dl := store.DeadLetter{CampaignID: "c-1", Data: []byte(acct), Error: "failed"}
			c := sample("c-2")
			c.Name = acct
			err = l.Commit(ctx, store.Batch{RunID: r1.ID, Campaigns: []store.Campaign{c}, DeadLetters: []store.DeadLetter{dl},
				Progress: store.RunCounts{Seen: 2, Synced: 1, Failed: 1}, Finish: &store.RunFinish{Status: store.RunCompleted}})
			if err != nil {
				t.Errorf("concurrent Commit(%s) = %s", quote(acct), errText(err))
				return
			}
			r3, err := l.StartRun(ctx, store.StartOptions{})
			if err != nil || r3.Resumed || r3.ID == r1.ID {
				t.Errorf("concurrent StartRun(%s) after it completed: got %s, %s; want a new run", quote(acct), runString(r3), errText(err))
				return
			}
			letters, err := l.DeadLetters(ctx, "", 10)
			if err != nil || len(letters) != 1 || string(letters[0].Data) != acct {
				t.Errorf("concurrent DeadLetters(%s) = %d letter(s), %s; want its one letter", quote(acct), len(letters), errText(err))
			}
			if got, err := s.Get(ctx, acct, "c-2"); err != nil || got.Name != acct {
				t.Errorf("concurrent Get(%s) = %s, %s; want its own campaign", quote(acct), quote(got.Name), errText(err))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range []string{r1.ID, r3.ID} {
				if prev, dup := owner[id]; dup {
					t.Errorf("run id %s was given to accounts %s and %s", quote(id), quote(prev), quote(acct))
				}
				owner[id] = acct
			}
		})
	}
	wg.Wait()
}

func testRunsListing(t *testing.T, s store.RunStore) {
	l := acquire(t, s, acctA)
	var started []store.Run // oldest first
	for i := range 7 {
		kind := store.KindSync
		if i%3 == 1 {
			kind = store.KindRetry
		}
		r, ok := startRun(t, l, store.StartOptions{Kind: kind, Fresh: true})
		if !ok {
			return
		}
		started = append(started, r)
		if kind == store.KindRetry {
			commit(t, l, store.Batch{RunID: r.ID, Progress: store.RunCounts{Seen: i, Synced: i}, Finish: &store.RunFinish{Status: store.RunFailed, Error: fmt.Sprint("failure ", i)}})
		}
	}
	startRun(t, acquire(t, s, "acct-other"), store.StartOptions{}) // another account's run never shows
	ids := func(rs []store.Run) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	want := ids(started)
	slices.Reverse(want)
	for _, limit := range []int{1, 3, 100} {
		var got []string
		before := ""
		for page := 0; page < 20; page++ {
			rs, err := s.Runs(t.Context(), acctA, store.RunQuery{Before: before, Limit: limit})
			if err != nil {
				t.Fatalf("Runs(before %s, limit %d) = %s", quote(before), limit, errText(err))
			}
			if len(rs) > limit {
				t.Fatalf("Runs(limit %d) returned %d runs", limit, len(rs))
			}
			got = append(got, ids(rs)...)
			if len(rs) < limit {
				break
			}
			before = rs[len(rs)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("Runs in pages of %d: got %q; want every run of the account, newest first: %q", limit, got, want)
		}
	}
	if rs, err := s.Runs(t.Context(), acctA, store.RunQuery{}); err != nil || len(rs) != len(want) {
		t.Errorf("Runs with a zero RunQuery = %d runs, %s; want all %d (Limit 0 is the default, 100)", len(rs), errText(err), len(want))
	}
	rs, err := s.Runs(t.Context(), acctA, store.RunQuery{Kind: store.KindRetry})
	if err != nil || len(rs) != 2 {
		t.Fatalf("Runs(Kind retry) = %d runs, %s; want the 2 retry runs", len(rs), errText(err))
	}
	if r := rs[0]; r.ID != started[4].ID || r.Kind != store.KindRetry || r.Status != store.RunFailed ||
		r.Error != "failure 4" || r.RunCounts != (store.RunCounts{Seen: 4, Synced: 4}) {
		t.Errorf("Runs(Kind retry)[0] = %s %+v; want run %s, failed, Error \"failure 4\", counts {4 4 0 0}", runString(r), r.RunCounts, quote(started[4].ID))
	}
	if _, err := s.Runs(t.Context(), acctA, store.RunQuery{Before: "no-such-run"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Runs(before a run that does not exist) = %s; want an error wrapping store.ErrNotFound", errText(err))
	}
	if _, err := s.Runs(t.Context(), acctA, store.RunQuery{Limit: -1}); err == nil || !strings.Contains(err.Error(), "Limit") {
		t.Errorf("Runs(Limit -1) = %s; want an error naming Limit", errText(err))
	}
	if rs, err := s.Runs(t.Context(), acctB, store.RunQuery{}); err != nil || len(rs) != 0 {
		t.Errorf("Runs of an account without runs = %d runs, %s; want none", len(rs), errText(err))
	}
}

func testLastCompletedRun(t *testing.T, s store.RunStore) {
	if r, err := s.LastCompletedRun(t.Context(), acctA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastCompletedRun of an account without runs = %s, %s; want an error wrapping store.ErrNotFound", runString(r), errText(err))
	}
	l, r1 := begin(t, s, acctA)
	if _, err := s.LastCompletedRun(t.Context(), acctA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastCompletedRun while the only run is running = %s; want store.ErrNotFound", errText(err))
	}
	finish(t, l, r1, store.RunCompleted, "")
	check := func(want store.Run, when string) {
		t.Helper()
		got, err := s.LastCompletedRun(t.Context(), acctA)
		if err != nil || got.ID != want.ID || got.Status != store.RunCompleted || got.FinishedAt.IsZero() {
			t.Errorf("LastCompletedRun %s = %s, %s; want run %s, completed", when, runString(got), errText(err), quote(want.ID))
		}
	}
	check(r1, "after a sync run completed")
	r2, _ := startRun(t, l, store.StartOptions{})
	finish(t, l, r2, store.RunFailed, "credentials refused")
	r3, _ := startRun(t, l, store.StartOptions{Kind: store.KindRetry})
	finish(t, l, r3, store.RunCompleted, "")
	startRun(t, l, store.StartOptions{})
	check(r1, "after a failed sync run, a completed retry run and a running one")
	if _, err := s.LastCompletedRun(t.Context(), acctB); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastCompletedRun of another account = %s; want store.ErrNotFound", errText(err))
	}
}

func testPruneRuns(t *testing.T, s store.RunStore) {
	la := acquire(t, s, acctA)
	var old []store.Run
	// completed (the last completed sync run survives), failed, retry
	// completed, interrupted-and-replaced, then one running.
	for _, step := range []struct {
		kind   store.RunKind
		status store.RunStatus
	}{
		{store.KindSync, store.RunCompleted}, {store.KindSync, store.RunCompleted}, {store.KindSync, store.RunFailed},
		{store.KindRetry, store.RunCompleted}, {store.KindRetry, store.RunFailed},
	} {
		r, ok := startRun(t, la, store.StartOptions{Kind: step.kind})
		if !ok {
			return
		}
		finish(t, la, r, step.status, "")
		old = append(old, r)
	}
	running, _ := startRun(t, la, store.StartOptions{})
	lb, onlyB := begin(t, s, acctB)
	finish(t, lb, onlyB, store.RunFailed, "")

	if n, err := s.PruneRuns(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneRuns(an hour ago) = %d, %s; want 0: every run finished since", n, errText(err))
	}
	n, err := s.PruneRuns(t.Context(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("PruneRuns = %s", errText(err))
	}
	// Kept: the last completed sync run (old[1]), the newest retry run
	// (old[4]), the running run (the newest sync run), and account b's
	// only run.
	want := []string{running.ID, old[4].ID, old[1].ID}
	var got []string
	for _, r := range runs(t, s, acctA) {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, want) || n != 3 {
		t.Errorf("PruneRuns(an hour ahead) deleted %d runs, leaving %q; want 3 deleted, leaving %q (the running run, the newest retry run, the last completed sync run)",
			n, got, want)
	}
	if rs := runs(t, s, acctB); len(rs) != 1 || rs[0].ID != onlyB.ID {
		t.Errorf("PruneRuns deleted account %s's only run, its newest: left %d runs", quote(acctB), len(rs))
	}
	if r, err := s.LastCompletedRun(t.Context(), acctA); err != nil || r.ID != old[1].ID {
		t.Errorf("LastCompletedRun after PruneRuns = %s, %s; want run %s", runString(r), errText(err), quote(old[1].ID))
	}
	if r, ok := startRun(t, la, store.StartOptions{}); ok {
		checkResumed(t, r, running, "after PruneRuns (an unfinished run is never pruned)")
	}
}

func lettersString(ls []store.DeadLetter) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("{%s/%s, Attempts %d}", quote(l.AccountID), quote(l.CampaignID), l.Attempts)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
