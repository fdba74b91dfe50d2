package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// letterOf returns a dead letter of campaignID failed by run r.
func letterOf(r store.Run, campaignID string) store.DeadLetter {
	return store.DeadLetter{
		AccountID:  r.AccountID,
		CampaignID: campaignID,
		RunID:      r.ID,
		Data:       []byte(`{"id":"` + campaignID + `","name":"x"}`),
		Error:      "adplatform: sync: HTTP 500",
	}
}

// putLetters commits letters, failed by run r, through l.
func putLetters(t *testing.T, l store.Lease, r store.Run, letters ...store.DeadLetter) {
	t.Helper()
	if err := l.Commit(t.Context(), store.Batch{RunID: r.ID, DeadLetters: letters}); err != nil {
		t.Fatalf("Commit(%s) = %s; want nil", lettersString(letters), errText(err))
	}
}

// pages reads every page of a dead letter listing, limit at a time, and
// checks the pages follow CampaignID order.
func pages(t *testing.T, what string, limit int, page func(after string, limit int) ([]store.DeadLetter, error)) []store.DeadLetter {
	t.Helper()
	var all []store.DeadLetter
	after := ""
	for n := 0; ; n++ {
		got, err := page(after, limit)
		if err != nil {
			t.Fatalf("%s(after %s, limit %d) = %s; want nil", what, quote(after), limit, errText(err))
		}
		if len(got) > limit {
			t.Fatalf("%s(after %s, limit %d) returned %d letters", what, quote(after), limit, len(got))
		}
		for _, l := range got {
			if l.CampaignID <= after {
				t.Fatalf("%s(after %s, limit %d) returned %s, not after %s: pages must follow CampaignID order (Go's string order)",
					what, quote(after), limit, quote(l.CampaignID), quote(after))
			}
			after = l.CampaignID
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		if n > 10000 {
			t.Fatalf("%s gave more than 10000 pages", what)
		}
	}
}

// listLetters reads every dead letter of the account, retired ones too,
// through RunStore.DeadLetters, a page of 4 at a time.
func listLetters(t *testing.T, s store.RunStore, accountID string) []store.DeadLetter {
	t.Helper()
	return listLettersBy(t, s, accountID, 4)
}

func listLettersBy(t *testing.T, s store.RunStore, accountID string, limit int) []store.DeadLetter {
	t.Helper()
	return pages(t, "DeadLetters(account "+quote(accountID)+")", limit, func(after string, limit int) ([]store.DeadLetter, error) {
		return s.DeadLetters(t.Context(), accountID, after, limit)
	})
}

// listLeaseLetters reads every dead letter a retry would retry, through
// Lease.DeadLetters, a page of 3 at a time.
func listLeaseLetters(t *testing.T, l store.Lease) []store.DeadLetter {
	t.Helper()
	return listLeaseLettersBy(t, l, 3)
}

func listLeaseLettersBy(t *testing.T, l store.Lease, limit int) []store.DeadLetter {
	t.Helper()
	return pages(t, "Lease.DeadLetters", limit, func(after string, limit int) ([]store.DeadLetter, error) {
		return l.DeadLetters(t.Context(), after, limit)
	})
}

// checkLetter compares a letter read back with the one last put, and the
// attempts it should count.
func checkLetter(t *testing.T, got, want store.DeadLetter, attempts int, when string) bool {
	t.Helper()
	var p []string
	add := func(field, diff string) {
		if diff != "" {
			p = append(p, field+": "+diff)
		}
	}
	add("AccountID", textDiff(got.AccountID, want.AccountID))
	add("CampaignID", textDiff(got.CampaignID, want.CampaignID))
	add("RunID", textDiff(got.RunID, want.RunID))
	if !bytes.Equal(got.Data, want.Data) {
		add("Data", textDiff(string(got.Data), string(want.Data)))
	}
	add("Error", textDiff(got.Error, want.Error))
	if got.Attempts != attempts {
		add("Attempts", fmt.Sprintf("got %d, want %d", got.Attempts, attempts))
	}
	if tp := storeTimeProblem(got.FirstFailedAt); tp != "" {
		add("FirstFailedAt", tp)
	}
	if tp := storeTimeProblem(got.LastFailedAt); tp != "" {
		add("LastFailedAt", tp)
	}
	if got.LastFailedAt.Before(got.FirstFailedAt) {
		add("LastFailedAt", fmt.Sprintf("%s is before FirstFailedAt %s", timeString(got.LastFailedAt), timeString(got.FirstFailedAt)))
	}
	if !got.RetiredAt.IsZero() || got.RetiredReason != "" {
		add("RetiredAt", fmt.Sprintf("got %s (%s), want the letter not retired", timeString(got.RetiredAt), quote(got.RetiredReason)))
	}
	if len(p) > 0 {
		t.Errorf("dead letter %s of account %s %s:%s", quote(want.CampaignID), quote(want.AccountID), when, joinDiffs(p))
		return false
	}
	return true
}

// onlyLetter lists the account's letters and expects exactly one.
func onlyLetter(t *testing.T, s store.RunStore, accountID, when string) (store.DeadLetter, bool) {
	t.Helper()
	got := listLetters(t, s, accountID)
	if len(got) != 1 {
		t.Errorf("DeadLetters(account %s) %s: got %s; want one letter", quote(accountID), when, lettersString(got))
		return store.DeadLetter{}, false
	}
	return got[0], true
}

func testDeadLetterAdd(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	dl := letterOf(r, "c-1")
	// The store counts attempts and sets the times, the account is the
	// lease's and an empty RunID the batch's: what the caller puts there
	// is ignored.
	dl.AccountID, dl.RunID = "another-account", ""
	dl.Attempts = 7
	dl.FirstFailedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	dl.LastFailedAt = time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)
	putLetters(t, l, r, dl)
	got, ok := onlyLetter(t, s, acctA, "after one Commit added it")
	if !ok || !checkLetter(t, got, letterOf(r, "c-1"), 1, "after it was added once (account the lease's, RunID the batch's)") {
		return
	}
	if !got.FirstFailedAt.Equal(got.LastFailedAt) {
		t.Errorf("dead letter added once: FirstFailedAt %s and LastFailedAt %s differ; want them equal",
			timeString(got.FirstFailedAt), timeString(got.LastFailedAt))
	}
	if leased := listLeaseLetters(t, l); len(leased) != 1 {
		t.Errorf("Lease.DeadLetters: got %s; want the one letter", lettersString(leased))
	} else {
		checkLetter(t, leased[0], letterOf(r, "c-1"), 1, "as Lease.DeadLetters returns it")
	}
	if other := listLetters(t, s, "another-account"); len(other) != 0 {
		t.Errorf("DeadLetters of the account a letter named, not the lease's: got %s; want none", lettersString(other))
	}
}

func testDeadLetterAgain(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	putLetters(t, l, r, letterOf(r, "c-1"))
	first, ok := onlyLetter(t, s, acctA, "after one Commit added it")
	if !ok || !checkLetter(t, first, letterOf(r, "c-1"), 1, "after it was added once") {
		return
	}
	prev := first
	for attempt := 2; attempt <= 3; attempt++ {
		time.Sleep(settle)
		r, _ := startRun(t, l, store.StartOptions{Fresh: true})
		dl := letterOf(r, "c-1")
		dl.Data = []byte(fmt.Sprintf(`{"id":"c-1","attempt":%d}`, attempt))
		dl.Error = fmt.Sprintf("adplatform: sync: HTTP 50%d", attempt)
		putLetters(t, l, r, dl)
		when := fmt.Sprintf("after it was added %d times (it gets the new RunID, Data and Error)", attempt)
		got, ok := onlyLetter(t, s, acctA, when)
		if !ok || !checkLetter(t, got, dl, attempt, when) {
			return
		}
		if !got.FirstFailedAt.Equal(first.FirstFailedAt) {
			t.Errorf("dead letter %s: FirstFailedAt moved from %s to %s; it must be kept", when, timeString(first.FirstFailedAt), timeString(got.FirstFailedAt))
		}
		if got.LastFailedAt.Before(prev.LastFailedAt) {
			t.Errorf("dead letter %s: LastFailedAt went back from %s to %s", when, timeString(prev.LastFailedAt), timeString(got.LastFailedAt))
		}
		prev = got
	}
}

func testDeadLetterTwiceInBatch(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	first, last := letterOf(r, "c-1"), letterOf(r, "c-1")
	first.Error, last.Error = "first failure", "last failure"
	putLetters(t, l, r, first, letterOf(r, "c-2"), last)
	got := listLetters(t, s, acctA)
	if len(got) != 2 {
		t.Fatalf("DeadLetters after a batch adding c-1 twice and c-2: got %s; want 2 letters", lettersString(got))
	}
	checkLetter(t, got[0], last, 2, "added twice in one batch (two attempts; the last copy's fields)")
}

func testDeadLetterData(t *testing.T, s store.RunStore) {
	all := make([]byte, 0, 1024)
	for i := range 1024 {
		all = append(all, byte(i))
	}
	datas := []struct {
		name string
		data []byte
	}{
		{"NUL bytes", []byte("{\"name\":\"a\x00b\"}\x00")},
		{"invalid UTF-8", []byte("{\"name\":\"\xff\xfe\xc3\x28\xed\xa0\x80\"}")},
		{"every byte value", all},
		{"Unicode JSON", []byte(`{"name":"🚀 مرحبا e\u0301","budget":1e3}`)},
		{"JSON as listed, not re-encoded", []byte(`{ "id" : "x",  "budget": 1.50e0, "z":1, "a":2 }`)},
		{"backslashes and escapes", []byte(`\x00 \\ \' \u0000 E'\x41' %s`)},
		{"empty", []byte{}},
		{"1 MiB", []byte(longText(1 << 20))},
	}
	l, r := begin(t, s, acctA)
	var letters []store.DeadLetter
	for i, d := range datas {
		dl := letterOf(r, fmt.Sprintf("data-%02d", i))
		dl.Data = d.data
		letters = append(letters, dl)
	}
	putLetters(t, l, r, letters...)
	got := listLetters(t, s, acctA)
	if len(got) != len(letters) {
		t.Fatalf("DeadLetters: got %s; want %d letters", lettersString(got), len(letters))
	}
	for i, dl := range letters {
		checkLetter(t, got[i], dl, 1, "holding data with "+datas[i].name+" (Data must read back byte for byte)")
	}
}

func testDeadLetterErrorText(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	dl := letterOf(r, "c-1")
	dl.Error = "platform said \x00\xff"
	putLetters(t, l, r, dl)
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{{CampaignID: "c-1", Reason: "gone \x00"}},
		Finish: &store.RunFinish{Status: store.RunFailed, Error: "bad \xff"}})
	got, ok := onlyLetter(t, s, acctA, "after an Error and a Reason with a NUL and invalid UTF-8")
	if ok && (got.Error != "platform said \uFFFD\uFFFD" || got.RetiredReason != "gone \uFFFD") {
		t.Errorf("dead letter: Error %s, RetiredReason %s; want %s and %s (NUL and invalid UTF-8 replaced by U+FFFD)",
			quote(got.Error), quote(got.RetiredReason), quote("platform said \uFFFD\uFFFD"), quote("gone \uFFFD"))
	}
	if run, ok := findRun(t, s, acctA, r.ID); ok && run.Error != "bad \uFFFD" {
		t.Errorf("run Error %s; want %s", quote(run.Error), quote("bad \uFFFD"))
	}
}

func testDeadLetterResolve(t *testing.T, s store.RunStore) {
	la, lb := acquire(t, s, acctA), acquire(t, s, acctB)
	ra, _ := startRun(t, la, store.StartOptions{})
	rb, _ := startRun(t, lb, store.StartOptions{})
	putLetters(t, la, ra, letterOf(ra, "c-1"), letterOf(ra, "c-2"), letterOf(ra, "c-3"))
	putLetters(t, lb, rb, letterOf(rb, "c-2"))
	resolve := func(ids []string) {
		t.Helper()
		commit(t, la, store.Batch{RunID: ra.ID, Resolved: ids})
	}
	expect := func(accountID string, want []string, when string) {
		t.Helper()
		var gotIDs []string
		for _, dl := range listLetters(t, s, accountID) {
			gotIDs = append(gotIDs, dl.CampaignID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("DeadLetters(account %s) %s: got %q; want %q", quote(accountID), when, gotIDs, want)
		}
	}
	resolve([]string{"c-2", "unknown", "C-1"})
	expect(acctA, []string{"c-1", "c-3"}, "after resolving c-2 and ids without a letter")
	expect(acctB, []string{"c-2"}, "after the same id was resolved in another account")
	resolve(nil)
	resolve([]string{})
	expect(acctA, []string{"c-1", "c-3"}, "after resolving nothing")
	resolve([]string{"c-1", "c-3", "c-1"})
	expect(acctA, nil, "after resolving every letter")

	// A letter added again after it was resolved starts over.
	putLetters(t, la, ra, letterOf(ra, "c-2"))
	if got, ok := onlyLetter(t, s, acctA, "after the resolved c-2 failed again"); ok {
		checkLetter(t, got, letterOf(ra, "c-2"), 1, "added again after it was resolved")
	}
}

func testDeadLetterRetire(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	putLetters(t, l, r, letterOf(r, "c-1"), letterOf(r, "c-2"), letterOf(r, "c-3"))
	putLetters(t, l, r, letterOf(r, "c-2"))
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{
		{CampaignID: "c-2", Reason: "failed 2 times"}, {CampaignID: "unknown", Reason: "ignored"},
	}})
	var leased []string
	for _, dl := range listLeaseLetters(t, l) {
		leased = append(leased, dl.CampaignID)
	}
	if want := []string{"c-1", "c-3"}; !slices.Equal(leased, want) {
		t.Errorf("Lease.DeadLetters after c-2 was retired: %q; want %q (a retired letter is not retried)", leased, want)
	}
	all := listLetters(t, s, acctA)
	if len(all) != 3 {
		t.Fatalf("DeadLetters after c-2 was retired: got %s; want the 3 letters, the retired one too", lettersString(all))
	}
	retired := all[1]
	if retired.CampaignID != "c-2" || retired.Attempts != 2 || retired.RetiredReason != "failed 2 times" || storeTimeProblem(retired.RetiredAt) != "" {
		t.Errorf("the retired letter reads {%s, Attempts %d, RetiredAt %s, RetiredReason %s}; want c-2, 2 attempts, RetiredAt set by the store, the reason",
			quote(retired.CampaignID), retired.Attempts, timeString(retired.RetiredAt), quote(retired.RetiredReason))
	}
	// Retiring it again changes nothing.
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{{CampaignID: "c-2", Reason: "another reason"}}})
	if again := listLetters(t, s, acctA); len(again) == 3 && (again[1].RetiredReason != retired.RetiredReason || !again[1].RetiredAt.Equal(retired.RetiredAt)) {
		t.Errorf("retiring a retired letter again changed it: %s at %s; want %s at %s kept", quote(again[1].RetiredReason),
			timeString(again[1].RetiredAt), quote(retired.RetiredReason), timeString(retired.RetiredAt))
	}
	// Failing again, it is a dead letter again, starting over.
	putLetters(t, l, r, letterOf(r, "c-2"))
	if all := listLetters(t, s, acctA); len(all) == 3 {
		checkLetter(t, all[1], letterOf(r, "c-2"), 1, "after the retired letter failed again (it starts over)")
	}
	// A retired letter whose campaign syncs goes.
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{{CampaignID: "c-3", Reason: "no longer listed"}}})
	commit(t, l, store.Batch{RunID: r.ID, Resolved: []string{"c-3"}})
	var ids []string
	for _, dl := range listLetters(t, s, acctA) {
		ids = append(ids, dl.CampaignID)
	}
	if want := []string{"c-1", "c-2"}; !slices.Equal(ids, want) {
		t.Errorf("DeadLetters after a retired letter was resolved: %q; want %q", ids, want)
	}
}

func testDeadLetterPaging(t *testing.T, s store.RunStore) {
	// Ids whose byte order differs from what a locale's collation, case
	// folding or numeric sort would give.
	campaignIDs := []string{"b", "B", "a", "A", "a-1", "a1", "a 1", "aa", "ä", "é", "e\u0301", "Z", "z", "😀", "10", "9", "_", "~", "中", "ﬁ", "fi"}
	l, r := begin(t, s, acctA)
	var letters []store.DeadLetter
	for _, id := range campaignIDs {
		letters = append(letters, letterOf(r, id))
	}
	putLetters(t, l, r, letters...)
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{{CampaignID: "aa", Reason: "gone"}, {CampaignID: "~", Reason: "gone"}}})
	want := slices.Clone(campaignIDs)
	slices.Sort(want)
	active := slices.DeleteFunc(slices.Clone(want), func(id string) bool { return id == "aa" || id == "~" })
	ids := func(ls []store.DeadLetter) []string {
		var out []string
		for _, dl := range ls {
			out = append(out, dl.CampaignID)
		}
		return out
	}
	for _, limit := range []int{1, 3, 100} {
		if got := ids(listLettersBy(t, s, acctA, limit)); !slices.Equal(got, want) {
			t.Errorf("DeadLetters, pages of %d: got %q; want %q (every letter, retired too, in CampaignID order: Go's string order, the bytes of the UTF-8)",
				limit, got, want)
		}
		if got := ids(listLeaseLettersBy(t, l, limit)); !slices.Equal(got, active) {
			t.Errorf("Lease.DeadLetters, pages of %d: got %q; want %q (every letter not retired, in CampaignID order)", limit, got, active)
		}
	}
	// after need not be an id of the account.
	got, err := s.DeadLetters(t.Context(), acctA, "a0", 3)
	if err != nil {
		t.Fatalf("DeadLetters(after \"a0\", limit 3) = %s; want nil", errText(err))
	}
	if i, _ := slices.BinarySearch(want, "a0"); !slices.Equal(ids(got), want[i:i+3]) {
		t.Errorf("DeadLetters(after \"a0\", limit 3): got %q; want %q (the three ids after \"a0\", an id no letter has)", ids(got), want[i:i+3])
	}
	if got, err := s.DeadLetters(t.Context(), acctA, want[len(want)-1], 10); err != nil || len(got) != 0 {
		t.Errorf("DeadLetters(after the last id) = %s, %s; want no letters and nil", lettersString(got), errText(err))
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.DeadLetters(t.Context(), acctA, "", limit); err == nil {
			t.Errorf("DeadLetters(limit %d) = nil error; want an error: limit must be positive", limit)
		}
		if _, err := l.DeadLetters(t.Context(), "", limit); err == nil {
			t.Errorf("Lease.DeadLetters(limit %d) = nil error; want an error: limit must be positive", limit)
		}
	}
}

func testDeadLetterAccounts(t *testing.T, s store.RunStore) {
	la, lb := acquire(t, s, acctA), acquire(t, s, acctB)
	ra, _ := startRun(t, la, store.StartOptions{})
	rb, _ := startRun(t, lb, store.StartOptions{})
	a, b := letterOf(ra, "same"), letterOf(rb, "same")
	a.Data, b.Data = []byte("data of a"), []byte("data of b")
	a.Error, b.Error = "error of a", "error of b"
	putLetters(t, la, ra, a)
	putLetters(t, lb, rb, b, letterOf(rb, "b-only"))
	if got, ok := onlyLetter(t, s, acctA, "with letters of another account in the store"); ok {
		checkLetter(t, got, a, 1, "next to a letter with the same id in another account")
	}
	gotB := listLetters(t, s, acctB)
	if len(gotB) != 2 {
		t.Fatalf("DeadLetters(account %s): got %s; want its two letters", quote(acctB), lettersString(gotB))
	}
	checkLetter(t, gotB[1], b, 1, "next to a letter with the same id in another account")
	putLetters(t, la, ra, a)
	commit(t, lb, store.Batch{RunID: rb.ID, Resolved: []string{"same"}})
	if got, ok := onlyLetter(t, s, acctA, "after the same id was resolved in another account"); ok {
		checkLetter(t, got, a, 2, "added twice, while the same id of another account was resolved")
	}
	if got := listLetters(t, s, "acct-c"); len(got) != 0 {
		t.Errorf("DeadLetters of an account without letters: got %s; want none", lettersString(got))
	}
}

func testDeadLetterDiscard(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	putLetters(t, l, r, letterOf(r, "c-1"), letterOf(r, "c-2"), letterOf(r, "c-3"))
	commit(t, l, store.Batch{RunID: r.ID, Retired: []store.Retirement{{CampaignID: "c-3", Reason: "gone"}}})
	ctx := t.Context()
	// Discarding needs no lease: an operator does it while a run holds the
	// account.
	if err := s.DiscardDeadLetter(ctx, acctA, "c-1"); err != nil {
		t.Fatalf("DiscardDeadLetter(c-1) = %s; want nil", errText(err))
	}
	if err := s.DiscardDeadLetter(ctx, acctA, "c-3"); err != nil {
		t.Errorf("DiscardDeadLetter of a retired letter = %s; want nil", errText(err))
	}
	for _, tc := range []struct{ what, account, id string }{
		{"a letter already discarded", acctA, "c-1"},
		{"an id without a letter", acctA, "c-9"},
		{"another account's id", acctB, "c-2"},
	} {
		if err := s.DiscardDeadLetter(ctx, tc.account, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DiscardDeadLetter of %s = %s; want an error wrapping store.ErrNotFound", tc.what, errText(err))
		}
	}
	if got, ok := onlyLetter(t, s, acctA, "after c-1 and c-3 were discarded"); ok {
		checkLetter(t, got, letterOf(r, "c-2"), 1, "after its neighbours were discarded")
	}
	// A discarded campaign that fails again is a new dead letter.
	putLetters(t, l, r, letterOf(r, "c-1"))
	if got := listLeaseLetters(t, l); len(got) != 2 || got[0].Attempts != 1 {
		t.Errorf("Lease.DeadLetters after the discarded c-1 failed again: %s; want c-1 (1 attempt) and c-2", lettersString(got))
	}
}

func testBookkeepingCallerMutation(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	l1, l2 := letterOf(r, "c-1"), letterOf(r, "c-2")
	passed := []store.DeadLetter{l1, l2}
	l1.Data, l2.Data = slices.Clone(l1.Data), slices.Clone(l2.Data)
	campaigns := []store.Campaign{sample("z"), sample("a"), sample("m")}
	campaignsBefore := slices.Clone(campaigns)
	resolved := []string{"gone-2", "gone-1"}
	commit(t, l, store.Batch{RunID: r.ID, DeadLetters: passed, Campaigns: campaigns, Resolved: resolved})
	for i, want := range []store.DeadLetter{l1, l2} {
		got := passed[i]
		if !bytes.Equal(got.Data, want.Data) || got.Attempts != 0 || !got.FirstFailedAt.IsZero() || !got.LastFailedAt.IsZero() ||
			got.Error != want.Error || got.RunID != want.RunID || got.CampaignID != want.CampaignID || got.AccountID != want.AccountID {
			t.Errorf("Commit changed dead letter %d of the caller's batch: %+v; want it as passed", i, got)
		}
	}
	for i := range campaigns {
		if d := valueDiffs(campaigns[i], campaignsBefore[i]); len(d) > 0 {
			t.Errorf("Commit changed campaign %d of the caller's batch:%s", i, joinDiffs(d))
		}
	}
	if resolved[0] != "gone-2" || resolved[1] != "gone-1" {
		t.Errorf("Commit changed the caller's Resolved ids: now %q", resolved)
	}
	// The caller reuses its buffers.
	passed[0].Data[0] = 'X'
	passed[1].Data = append(passed[1].Data[:0], "overwritten"...)
	got := listLetters(t, s, acctA)
	if len(got) != 2 {
		t.Fatalf("DeadLetters: got %s; want two letters", lettersString(got))
	}
	checkLetter(t, got[0], l1, 1, "after the caller overwrote the Data it passed")
	checkLetter(t, got[1], l2, 1, "after the caller overwrote the Data it passed")
	// The caller changes what it got.
	got[0].Data[0] = 'Y'
	got[1].Data = got[1].Data[:1]
	got[1].Error = "changed"
	leased := listLeaseLetters(t, l)
	if len(leased) == 2 {
		leased[0].Data[0] = 'Z'
	}
	again := listLetters(t, s, acctA)
	if len(again) == 2 {
		checkLetter(t, again[0], l1, 1, "after the caller overwrote the Data it got")
		checkLetter(t, again[1], l2, 1, "after the caller changed the letter it got")
	}

	// Id slices are the caller's: not reordered, not kept.
	ask := []string{"z", "a", "m", "z"}
	before := strings.Join(ask, ",")
	found, err := l.SyncedSince(t.Context(), ask, time.Time{})
	if err != nil {
		t.Fatalf("SyncedSince = %s", errText(err))
	}
	if after := strings.Join(ask, ","); after != before {
		t.Errorf("SyncedSince changed the caller's ids: %q, now %q", before, after)
	}
	for i := range found {
		found[i] = "changed"
	}
	checkSyncedSince(t, l, []string{"z", "a", "m"}, time.Time{}, []string{"z", "a", "m"}, "after the caller changed the slice it got")
}

func testBookkeepingCancelled(t *testing.T, s store.RunStore) {
	l, r := begin(t, s, acctA)
	putLetters(t, l, r, letterOf(r, "c-1"))
	ctx := cancelledContext(t)
	_, err := l.StartRun(ctx, store.StartOptions{Fresh: true})
	expectCanceled(t, "Lease.StartRun", err, context.Canceled)
	_, err = l.SyncedSince(ctx, []string{"c-1"}, time.Time{})
	expectCanceled(t, "Lease.SyncedSince", err, context.Canceled)
	_, err = l.DeadLetters(ctx, "", 10)
	expectCanceled(t, "Lease.DeadLetters", err, context.Canceled)
	_, err = l.State(ctx)
	expectCanceled(t, "Lease.State", err, context.Canceled)
	_, err = s.Runs(ctx, acctA, store.RunQuery{})
	expectCanceled(t, "Runs", err, context.Canceled)
	_, err = s.LastCompletedRun(ctx, acctA)
	expectCanceled(t, "LastCompletedRun", err, context.Canceled)
	_, err = s.DeadLetters(ctx, acctA, "", 10)
	expectCanceled(t, "DeadLetters", err, context.Canceled)
	expectCanceled(t, "DiscardDeadLetter", s.DiscardDeadLetter(ctx, acctA, "c-1"), context.Canceled)
	_, err = s.PruneRuns(ctx, time.Now())
	expectCanceled(t, "PruneRuns", err, context.Canceled)

	// The store and the lease still work, and nothing changed.
	if again, ok := startRun(t, l, store.StartOptions{}); ok {
		checkResumed(t, again, r, "after calls with a cancelled context")
	}
	if got, ok := onlyLetter(t, s, acctA, "after calls with a cancelled context"); ok {
		checkLetter(t, got, letterOf(r, "c-1"), 1, "after calls with a cancelled context")
	}
}
