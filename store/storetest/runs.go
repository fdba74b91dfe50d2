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

func startRun(t *testing.T, s store.RunStore, accountID string, opts store.StartOptions) (store.Run, bool) {
	t.Helper()
	r, err := s.StartRun(t.Context(), accountID, opts)
	if err != nil {
		t.Errorf("StartRun(account %s, %+v) = %s; want a run", quote(accountID), opts, errText(err))
		return r, false
	}
	return r, true
}

func runString(r store.Run) string {
	return fmt.Sprintf("{ID: %s, AccountID: %s, Status: %q, StartedAt: %s, FinishedAt: %s, Resumed: %t, Error: %s}",
		quote(r.ID), quote(r.AccountID), r.Status, timeString(r.StartedAt), timeString(r.FinishedAt), r.Resumed, quote(r.Error))
}

// checkNewRun checks that r is a run StartRun has just started.
func checkNewRun(t *testing.T, r store.Run, accountID, when string) bool {
	t.Helper()
	var p []string
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
	if r.Seen != 0 || r.Synced != 0 || r.Skipped != 0 || r.Failed != 0 {
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
	if got.Status != store.RunRunning && got.Status != store.RunInterrupted {
		p = append(p, fmt.Sprintf("Status is %q, want an unfinished one (%q or %q)", got.Status, store.RunRunning, store.RunInterrupted))
	}
	if len(p) > 0 {
		t.Errorf("StartRun(account %s) %s: want the unfinished run %s resumed, got %s:%s",
			quote(want.AccountID), when, quote(want.ID), runString(got), joinDiffs(p))
		return false
	}
	return true
}

// finish records the end of r with status and made-up counts.
func finish(t *testing.T, s store.RunStore, r store.Run, status store.RunStatus, reason string) {
	t.Helper()
	r.Status, r.Error, r.FinishedAt = status, reason, time.Now()
	r.Seen, r.Synced, r.Skipped, r.Failed = 10, 7, 2, 1
	if err := s.FinishRun(t.Context(), r); err != nil {
		t.Fatalf("FinishRun(%s) = %s; want nil", runString(r), errText(err))
	}
}

func testStartNew(t *testing.T, s store.RunStore) {
	if r, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkNewRun(t, r, acctA, "on a store without runs")
	}
	if r, ok := startRun(t, s, acctB, store.StartOptions{Fresh: true}); ok {
		checkNewRun(t, r, acctB, "with Fresh, on an account without runs")
	}
}

func testResumeUnfinished(t *testing.T, s store.RunStore) {
	r1, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok || !checkNewRun(t, r1, acctA, "the first time") {
		return
	}
	time.Sleep(settle)
	for i := range 2 {
		r, ok := startRun(t, s, acctA, store.StartOptions{})
		if ok {
			checkResumed(t, r, r1, fmt.Sprintf("again (%d), the run never finished (its process was killed, say)", i+1))
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
	r1, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok {
		return
	}
	reason := ""
	if status == store.RunFailed {
		reason = "credentials refused"
	}
	finish(t, s, r1, status, reason)
	r2, ok := startRun(t, s, acctA, store.StartOptions{})
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
	r1, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok {
		return
	}
	finish(t, s, r1, store.RunInterrupted, "interrupted: context canceled")
	r2, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok || !checkResumed(t, r2, r1, "after the run finished as interrupted") {
		return
	}
	finish(t, s, r2, store.RunInterrupted, "interrupted again")
	r3, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok || !checkResumed(t, r3, r1, "after the resumed run was interrupted again") {
		return
	}
	finish(t, s, r3, store.RunCompleted, "")
	if r4, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkNewRun(t, r4, acctA, "after the resumed run completed")
	}
}

func testFresh(t *testing.T, s store.RunStore) {
	// A fresh run replaces a running one, which is never resumed again.
	r1, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok {
		return
	}
	r2, ok := startRun(t, s, acctA, store.StartOptions{Fresh: true})
	if !ok || !checkNewRun(t, r2, acctA, "with Fresh while a run is unfinished") {
		return
	}
	if r2.ID == r1.ID {
		t.Fatalf("StartRun with Fresh returned the unfinished run %s; want a new one", quote(r1.ID))
	}
	if r3, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkResumed(t, r3, r2, "after a fresh run replaced another (only the newest run is resumed)")
	}
	finish(t, s, r2, store.RunCompleted, "")
	r4, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok || !checkNewRun(t, r4, acctA, "after the fresh run completed (the run it replaced stays interrupted)") {
		return
	}
	if r4.ID == r1.ID {
		t.Fatalf("StartRun resumed %s, a run replaced by a fresh one; it must stay interrupted", quote(r1.ID))
	}

	// The same for a run that was interrupted rather than running.
	finish(t, s, r4, store.RunInterrupted, "interrupted: context canceled")
	r5, ok := startRun(t, s, acctA, store.StartOptions{Fresh: true})
	if !ok || !checkNewRun(t, r5, acctA, "with Fresh while a run is interrupted") {
		return
	}
	if r5.ID == r4.ID {
		t.Fatalf("StartRun with Fresh returned the interrupted run %s; want a new one", quote(r4.ID))
	}
	finish(t, s, r5, store.RunCompleted, "")
	r6, ok := startRun(t, s, acctA, store.StartOptions{})
	if ok && checkNewRun(t, r6, acctA, "after the fresh run completed") && (r6.ID == r4.ID || r6.ID == r1.ID) {
		t.Errorf("StartRun resumed %s, a run replaced by a fresh one; it must stay interrupted", quote(r6.ID))
	}
}

func testFinishUnknown(t *testing.T, s store.RunStore) {
	unknown := store.Run{ID: "no-such-run", AccountID: acctA, Status: store.RunCompleted, FinishedAt: time.Now()}
	if err := s.FinishRun(t.Context(), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRun of a run that does not exist = %s; want an error wrapping store.ErrNotFound", errText(err))
	}
	r, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok {
		return
	}
	other := r
	other.AccountID, other.Status, other.FinishedAt = acctB, store.RunCompleted, time.Now()
	if err := s.FinishRun(t.Context(), other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRun of account %s's run %s under account %s = %s; want an error wrapping store.ErrNotFound (accounts do not see each other's runs)",
			quote(acctA), quote(r.ID), quote(acctB), errText(err))
	}
	if again, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkResumed(t, again, r, "after FinishRun named its run under another account")
	}
}

func testRunAccounts(t *testing.T, s store.RunStore) {
	ra, ok1 := startRun(t, s, acctA, store.StartOptions{})
	rb, ok2 := startRun(t, s, acctB, store.StartOptions{})
	if !ok1 || !ok2 || !checkNewRun(t, rb, acctB, "while another account has an unfinished run") {
		return
	}
	if rb.ID == ra.ID {
		t.Fatalf("StartRun returned run %s for two accounts", quote(ra.ID))
	}
	if r, ok := startRun(t, s, "ACCT-A", store.StartOptions{}); ok {
		checkNewRun(t, r, "ACCT-A", fmt.Sprintf("(account %s has an unfinished run; this is another account)", quote(acctA)))
	}
	if r, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkResumed(t, r, ra, "while other accounts have unfinished runs")
	}
	finish(t, s, ra, store.RunCompleted, "")
	if r, ok := startRun(t, s, acctB, store.StartOptions{}); ok {
		checkResumed(t, r, rb, "after another account's run completed")
	}
	// A fresh run in one account replaces nothing in another.
	if _, ok := startRun(t, s, acctA, store.StartOptions{Fresh: true}); !ok {
		return
	}
	if r, ok := startRun(t, s, acctB, store.StartOptions{}); ok {
		checkResumed(t, r, rb, "after another account started a fresh run")
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
	for i := range 20 {
		if r, ok := startRun(t, s, acctA, store.StartOptions{Fresh: true}); ok {
			record(r, fmt.Sprintf("fresh run %d of account %s", i, quote(acctA)))
		}
	}
	for i := range 10 {
		r, ok := startRun(t, s, acctB, store.StartOptions{})
		if !ok {
			return
		}
		record(r, fmt.Sprintf("run %d of account %s", i, quote(acctB)))
		finish(t, s, r, store.RunCompleted, "")
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
			r1, err := s.StartRun(ctx, acct, store.StartOptions{})
			if err != nil {
				t.Errorf("concurrent StartRun(%s) = %s", quote(acct), errText(err))
				return
			}
			r2, err := s.StartRun(ctx, acct, store.StartOptions{})
			if err != nil || r2.ID != r1.ID || !r2.Resumed {
				t.Errorf("concurrent StartRun(%s), again: got %s, %s; want run %s resumed", quote(acct), runString(r2), errText(err), quote(r1.ID))
				return
			}
			letter := store.DeadLetter{AccountID: acct, CampaignID: "c-1", RunID: r1.ID, Data: []byte(acct), Error: "failed"}
			if err := s.PutDeadLetters(ctx, []store.DeadLetter{letter}); err != nil {
				t.Errorf("concurrent PutDeadLetters(%s) = %s", quote(acct), errText(err))
				return
			}
			r1.Status, r1.FinishedAt = store.RunCompleted, time.Now()
			if err := s.FinishRun(ctx, r1); err != nil {
				t.Errorf("concurrent FinishRun(%s) = %s", quote(acct), errText(err))
				return
			}
			r3, err := s.StartRun(ctx, acct, store.StartOptions{})
			if err != nil || r3.Resumed || r3.ID == r1.ID {
				t.Errorf("concurrent StartRun(%s) after it completed: got %s, %s; want a new run", quote(acct), runString(r3), errText(err))
				return
			}
			letters, err := s.DeadLetters(ctx, acct, "", 10)
			if err != nil || len(letters) != 1 || string(letters[0].Data) != acct {
				t.Errorf("concurrent DeadLetters(%s) = %d letter(s), %s; want its one letter", quote(acct), len(letters), errText(err))
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

func testRunInvalidAccount(t *testing.T, s store.RunStore) {
	for _, bad := range []string{"", "acct\x00x", "acct\xffx"} {
		if r, err := s.StartRun(t.Context(), bad, store.StartOptions{}); err == nil {
			t.Errorf("StartRun(account %s) returned run %s; want an error for an invalid account id", quote(bad), quote(r.ID))
		}
		letter := store.DeadLetter{AccountID: bad, CampaignID: "c-1", RunID: "r", Data: []byte("{}"), Error: "failed"}
		if err := s.PutDeadLetters(t.Context(), []store.DeadLetter{letter}); err == nil {
			t.Errorf("PutDeadLetters of a letter of account %s = nil; want an error for an invalid account id", quote(bad))
		}
	}
}

func testRunCancelled(t *testing.T, s store.RunStore) {
	r, ok := startRun(t, s, acctA, store.StartOptions{})
	if !ok {
		return
	}
	upsert(t, s, acctA, sample("c-1"))
	letter := store.DeadLetter{AccountID: acctA, CampaignID: "c-1", RunID: r.ID, Data: []byte("{}"), Error: "failed"}
	ctx := cancelledContext(t)
	_, err := s.StartRun(ctx, acctA, store.StartOptions{})
	expectCanceled(t, "StartRun", err, context.Canceled)
	done := r
	done.Status, done.FinishedAt = store.RunCompleted, time.Now()
	expectCanceled(t, "FinishRun", s.FinishRun(ctx, done), context.Canceled)
	_, err = s.SyncedSince(ctx, acctA, []string{"c-1"}, time.Time{})
	expectCanceled(t, "SyncedSince", err, context.Canceled)
	expectCanceled(t, "PutDeadLetters", s.PutDeadLetters(ctx, []store.DeadLetter{letter}), context.Canceled)
	expectCanceled(t, "ResolveDeadLetters", s.ResolveDeadLetters(ctx, acctA, []string{"c-1"}), context.Canceled)
	_, err = s.DeadLetters(ctx, acctA, "", 10)
	expectCanceled(t, "DeadLetters", err, context.Canceled)

	// The store still works, and the run is still unfinished.
	if again, ok := startRun(t, s, acctA, store.StartOptions{}); ok {
		checkResumed(t, again, r, "after calls with a cancelled context")
	}
	if err := s.PutDeadLetters(t.Context(), []store.DeadLetter{letter}); err != nil {
		t.Fatalf("PutDeadLetters after calls with a cancelled context = %s", errText(err))
	}
	if got := listLetters(t, s, acctA); len(got) != 1 || got[0].Attempts != 1 {
		t.Errorf("DeadLetters after calls with a cancelled context and one PutDeadLetters: got %s; want one letter with Attempts 1",
			lettersString(got))
	}
}

func lettersString(ls []store.DeadLetter) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("{%s/%s, Attempts %d}", quote(l.AccountID), quote(l.CampaignID), l.Attempts)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
