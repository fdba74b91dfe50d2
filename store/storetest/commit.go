package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// accountView is what a rule can see of an account, to tell whether a
// call wrote anything.
type accountView struct {
	campaigns map[string]store.Campaign // by the ids asked for; absent when not found
	letters   []store.DeadLetter
	runs      []store.Run
	state     store.AccountState
}

// view reads what the account holds of the campaigns ids, its dead
// letters, runs, and its state through l.
func view(t *testing.T, s store.RunStore, l store.Lease, ids ...string) accountView {
	t.Helper()
	v := accountView{campaigns: map[string]store.Campaign{}}
	for _, id := range ids {
		if c, err := s.Get(t.Context(), l.AccountID(), id); err == nil {
			v.campaigns[id] = c
		}
	}
	v.letters = listLetters(t, s, l.AccountID())
	v.runs = runs(t, s, l.AccountID())
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatalf("State = %s", errText(err))
	}
	v.state = st
	return v
}

// diff lists how v differs from before.
func (v accountView) diff(before accountView) []string {
	var d []string
	for id, c := range v.campaigns {
		old, ok := before.campaigns[id]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("campaign %s was written", quote(id)))
		case len(rowDiffs(c, old)) > 0:
			d = append(d, fmt.Sprintf("campaign %s changed:%s", quote(id), joinDiffs(rowDiffs(c, old))))
		}
	}
	for id := range before.campaigns {
		if _, ok := v.campaigns[id]; !ok {
			d = append(d, fmt.Sprintf("campaign %s is gone", quote(id)))
		}
	}
	if lettersString(v.letters) != lettersString(before.letters) {
		d = append(d, fmt.Sprintf("dead letters are %s, were %s", lettersString(v.letters), lettersString(before.letters)))
	}
	if len(v.runs) != len(before.runs) {
		d = append(d, fmt.Sprintf("%d runs, were %d", len(v.runs), len(before.runs)))
	} else {
		for i := range v.runs {
			if runString(v.runs[i]) != runString(before.runs[i]) || v.runs[i].RunCounts != before.runs[i].RunCounts {
				d = append(d, fmt.Sprintf("run is %s %+v, was %s %+v", runString(v.runs[i]), v.runs[i].RunCounts,
					runString(before.runs[i]), before.runs[i].RunCounts))
			}
		}
	}
	if !bytes.Equal(v.state.Data, before.state.Data) || !v.state.SavedAt.Equal(before.state.SavedAt) {
		d = append(d, fmt.Sprintf("state is %q saved at %s, was %q saved at %s", v.state.Data, timeString(v.state.SavedAt),
			before.state.Data, timeString(before.state.SavedAt)))
	}
	return d
}

// checkNothingWritten fails if the account changed since before.
func checkNothingWritten(t *testing.T, s store.RunStore, l store.Lease, before accountView, ids []string, when string) {
	t.Helper()
	if d := view(t, s, l, ids...).diff(before); len(d) > 0 {
		t.Errorf("%s, the account changed; want nothing written:%s", when, joinDiffs(d))
	}
}

func testCommitRecords(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	putLetters(t, l, r, letterOf(r, "resolved"), letterOf(r, "retired"), letterOf(r, "kept"))
	synced, listed := sample("synced"), sample("listed-only")
	listed.SyncedAt = time.Time{}
	failed := letterOf(r, "failed")
	commit(t, l, store.Batch{
		RunID:       r.ID,
		Campaigns:   []store.Campaign{synced, listed},
		DeadLetters: []store.DeadLetter{failed},
		Resolved:    []string{"resolved", "never-failed"},
		Retired:     []store.Retirement{{CampaignID: "retired", Reason: "no longer listed"}, {CampaignID: "never-failed", Reason: "x"}},
		Progress:    store.RunCounts{Seen: 5, Synced: 2, Skipped: 1, Failed: 1},
		State:       []byte("state of the batch"),
	})
	checkGet(t, s, acctA, synced, "after a Commit")
	checkGet(t, s, acctA, listed, "after a Commit")
	var ids []string
	for _, dl := range listLeaseLetters(t, l) {
		ids = append(ids, dl.CampaignID)
	}
	if want := []string{"failed", "kept"}; !slices.Equal(ids, want) {
		t.Errorf("Lease.DeadLetters after a Commit adding, resolving and retiring letters: %q; want %q", ids, want)
	}
	if got, ok := findRun(t, s, acctA, r.ID); ok && (got.RunCounts != store.RunCounts{Seen: 5, Synced: 2, Skipped: 1, Failed: 1} || got.Status != store.RunRunning) {
		t.Errorf("the run after a Commit with Progress {5 2 1 1}: %s %+v; want those counts, still running", runString(got), got.RunCounts)
	}
	if st, err := l.State(t.Context()); err != nil || string(st.Data) != "state of the batch" {
		t.Errorf("State after a Commit = %q, %s; want the batch's", st.Data, errText(err))
	}
}

func testCommitAllOrNothing(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	kept := sample("kept")
	commit(t, l, store.Batch{
		RunID: r.ID, Campaigns: []store.Campaign{kept}, DeadLetters: []store.DeadLetter{letterOf(r, "letter-1"), letterOf(r, "letter-2")},
		Progress: store.RunCounts{Seen: 1, Synced: 1}, State: []byte("before"),
	})
	ids := []string{"kept", "new-1", "new-2"}
	before := view(t, s, l, ids...)
	time.Sleep(settle)

	nul, budget := changedFrom(kept), sample("new-bad")
	nul.Name = "SeCrEt\x00"
	budget.Budget = "1e3"
	b := store.Batch{
		RunID:       r.ID,
		Campaigns:   []store.Campaign{sample("new-1"), changedFrom(kept), nul, sample("new-2"), budget},
		DeadLetters: []store.DeadLetter{letterOf(r, "letter-3"), letterOf(r, "letter-2")},
		Resolved:    []string{"letter-1"},
		Retired:     []store.Retirement{{CampaignID: "letter-2", Reason: "gone"}},
		Progress:    store.RunCounts{Seen: 9, Synced: 9, Skipped: 9, Failed: 9},
		Finish:      &store.RunFinish{Status: store.RunCompleted},
		State:       []byte("after"),
	}
	err := l.Commit(t.Context(), b)
	checkRejected(t, "Commit", err, []rejection{{nul.ID, 2, "name"}, {budget.ID, 4, "budget"}})
	checkNothingWritten(t, s, l, before, ids, "after a Commit with 2 campaigns that cannot be stored")

	// The caller moves them to dead letters and commits again.
	b.Campaigns = []store.Campaign{sample("new-1"), changedFrom(kept), sample("new-2")}
	b.DeadLetters = append(slices.Clone(b.DeadLetters), letterOf(r, nul.ID), letterOf(r, budget.ID))
	commit(t, l, b)
	checkGet(t, s, acctA, sample("new-1"), "after the batch, without its rejected campaigns, was committed again")
	checkGet(t, s, acctA, changedFrom(kept), "after the batch was committed again")
	if got, ok := findRun(t, s, acctA, r.ID); ok && got.Status != store.RunCompleted {
		t.Errorf("the run after the batch finishing it was committed: %s; want it completed", runString(got))
	}
}

func testCommitInvalid(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	before := view(t, s, l, "written")
	for _, tc := range []struct {
		name, field string
		change      func(b *store.Batch)
	}{
		{"empty run id", "RunID", func(b *store.Batch) { b.RunID = "" }},
		{"run id with NUL", "RunID", func(b *store.Batch) { b.RunID = r.ID + "\x00" }},
		{"letter without a campaign id", "DeadLetters", func(b *store.Batch) { b.DeadLetters = []store.DeadLetter{{Data: []byte("{}")}} }},
		{"letter id not UTF-8", "DeadLetters", func(b *store.Batch) { b.DeadLetters = []store.DeadLetter{{CampaignID: "\xff"}} }},
		{"resolved id with NUL", "Resolved", func(b *store.Batch) { b.Resolved = []string{"a\x00"} }},
		{"retired id empty", "Retired", func(b *store.Batch) { b.Retired = []store.Retirement{{Reason: "x"}} }},
		{"negative count", "Progress", func(b *store.Batch) { b.Progress.Failed = -1 }},
		{"finish still running", "Finish", func(b *store.Batch) { b.Finish = &store.RunFinish{Status: store.RunRunning} }},
		{"finish with an unknown status", "Finish", func(b *store.Batch) { b.Finish = &store.RunFinish{Status: "done"} }},
	} {
		b := store.Batch{RunID: r.ID, Campaigns: []store.Campaign{sample("written")}, State: []byte("x")}
		tc.change(&b)
		if err := l.Commit(t.Context(), b); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Commit with %s = %s; want an error naming %s", tc.name, errText(err), tc.field)
		}
	}
	checkNothingWritten(t, s, l, before, []string{"written"}, "after invalid batches")
}

// testCommitNewerWins is the rule that keeps a retry pass from writing old
// data over new: a campaign stored from a listing at t2 (500 impressions)
// keeps its content when a later batch carries its data listed at t1 (100
// impressions, from a dead letter, say), while its SyncedAt moves forward.
func testCommitNewerWins(t *testing.T, s store.RunStore) {
	l := acquire(t, s, acctA)
	t2 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	t1 := t2.Add(-time.Hour)
	fresh := sample("c-42")
	fresh.ListedAt, fresh.Impressions, fresh.SyncedAt = t2, 500, t2.Add(time.Second)
	sync, ok := startRun(t, l, store.StartOptions{})
	if !ok {
		return
	}
	commit(t, l, store.Batch{RunID: sync.ID, Campaigns: []store.Campaign{fresh}, Resolved: []string{fresh.ID}})
	row, ok := checkGet(t, s, acctA, fresh, "after a sync run stored it listed at t2")
	if !ok {
		return
	}
	time.Sleep(settle)
	retry, ok := startRun(t, l, store.StartOptions{Kind: store.KindRetry})
	if !ok {
		return
	}
	stale := sample("c-42")
	stale.ListedAt, stale.Impressions, stale.SyncedAt = t1, 100, t2.Add(time.Hour)
	commit(t, l, store.Batch{RunID: retry.ID, Campaigns: []store.Campaign{stale}, Resolved: []string{stale.ID}})
	want := fresh
	want.SyncedAt = stale.SyncedAt
	if got, ok := checkGet(t, s, acctA, want, "after a retry run committed its data listed at t1 with a later SyncedAt (content stays, SyncedAt moves forward)"); ok &&
		!got.UpdatedAt.Equal(row.UpdatedAt) {
		t.Errorf("UpdatedAt moved from %s to %s though the content stayed", timeString(row.UpdatedAt), timeString(got.UpdatedAt))
	}
}

func testCommitDuplicates(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	const n = 2500
	batch := variedBatch("far", n)
	commit(t, l, store.Batch{RunID: r.ID, Campaigns: batch})
	row, ok := checkGet(t, s, acctA, batch[3], "after a first batch")
	if !ok {
		return
	}
	time.Sleep(settle)
	second := slices.Clone(batch)
	second[3].Name = "changed early, changed back at the end"
	second = append(second, batch[3])
	commit(t, l, store.Batch{RunID: r.ID, Campaigns: second})
	checkUnchanged(t, s, acctA, row, fmt.Sprintf("after a Commit of %d campaigns changing it at position 3 and back at position %d", len(second), n))
}

func testCommitCancelled(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	before := view(t, s, l, "c-1")
	err := l.Commit(cancelledContext(t), store.Batch{RunID: r.ID, Campaigns: []store.Campaign{sample("c-1")},
		DeadLetters: []store.DeadLetter{letterOf(r, "c-2")}, Progress: store.RunCounts{Seen: 2}, State: []byte("s")})
	expectCanceled(t, "Commit", err, context.Canceled)
	checkNothingWritten(t, s, l, before, []string{"c-1"}, "after a Commit with a cancelled context")
	commit(t, l, store.Batch{RunID: r.ID, Campaigns: []store.Campaign{sample("c-1")}})
	checkGet(t, s, acctA, sample("c-1"), "after a Commit with a live context, following a cancelled one")
}
