package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

func letter(accountID, campaignID string) store.DeadLetter {
	return store.DeadLetter{
		AccountID:  accountID,
		CampaignID: campaignID,
		RunID:      "run-1",
		Data:       []byte(`{"id":"` + campaignID + `","name":"x"}`),
		Error:      "adplatform: sync: HTTP 500",
	}
}

func putLetters(t *testing.T, s store.RunStore, letters ...store.DeadLetter) {
	t.Helper()
	if err := s.PutDeadLetters(t.Context(), letters); err != nil {
		t.Fatalf("PutDeadLetters(%s) = %s; want nil", lettersString(letters), errText(err))
	}
}

// listLetters reads every dead letter of the account, a page of 4 at a
// time, and checks the pages follow CampaignID order.
func listLetters(t *testing.T, s store.RunStore, accountID string) []store.DeadLetter {
	t.Helper()
	return listLettersBy(t, s, accountID, 4)
}

func listLettersBy(t *testing.T, s store.RunStore, accountID string, limit int) []store.DeadLetter {
	t.Helper()
	var all []store.DeadLetter
	after := ""
	for page := 0; ; page++ {
		got, err := s.DeadLetters(t.Context(), accountID, after, limit)
		if err != nil {
			t.Fatalf("DeadLetters(account %s, after %s, limit %d) = %s; want nil", quote(accountID), quote(after), limit, errText(err))
		}
		if len(got) > limit {
			t.Fatalf("DeadLetters(account %s, after %s, limit %d) returned %d letters", quote(accountID), quote(after), limit, len(got))
		}
		for _, l := range got {
			if l.CampaignID <= after {
				t.Fatalf("DeadLetters(account %s, after %s, limit %d) returned %s, not after %s: pages must follow CampaignID order (Go's string order)",
					quote(accountID), quote(after), limit, quote(l.CampaignID), quote(after))
			}
			after = l.CampaignID
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		if page > 10000 {
			t.Fatalf("DeadLetters(account %s) gave more than 10000 pages", quote(accountID))
		}
	}
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

func testDeadLetterPut(t *testing.T, s store.RunStore) {
	l := letter(acctA, "c-1")
	// The store counts attempts and sets the times: what the caller puts
	// there is ignored.
	l.Attempts = 7
	l.FirstFailedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	l.LastFailedAt = time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)
	putLetters(t, s, l)
	got, ok := onlyLetter(t, s, acctA, "after one PutDeadLetters")
	if !ok || !checkLetter(t, got, l, 1, "after it was put once") {
		return
	}
	if !got.FirstFailedAt.Equal(got.LastFailedAt) {
		t.Errorf("dead letter put once: FirstFailedAt %s and LastFailedAt %s differ; want them equal",
			timeString(got.FirstFailedAt), timeString(got.LastFailedAt))
	}
}

func testDeadLetterPutAgain(t *testing.T, s store.RunStore) {
	l1 := letter(acctA, "c-1")
	putLetters(t, s, l1)
	first, ok := onlyLetter(t, s, acctA, "after one PutDeadLetters")
	if !ok || !checkLetter(t, first, l1, 1, "after it was put once") {
		return
	}
	prev := first
	for attempt := 2; attempt <= 3; attempt++ {
		time.Sleep(settle)
		l := letter(acctA, "c-1")
		l.RunID = fmt.Sprintf("run-%d", attempt)
		l.Data = []byte(fmt.Sprintf(`{"id":"c-1","attempt":%d}`, attempt))
		l.Error = fmt.Sprintf("adplatform: sync: HTTP 50%d", attempt)
		putLetters(t, s, l)
		when := fmt.Sprintf("after it was put %d times (it gets the new RunID, Data and Error)", attempt)
		got, ok := onlyLetter(t, s, acctA, when)
		if !ok || !checkLetter(t, got, l, attempt, when) {
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
		{"backslashes and escapes", []byte(`\x00 \\ \' \u0000 E'\x41' %s`)},
		{"empty", []byte{}},
		{"1 MiB", []byte(longText(1 << 20))},
	}
	var letters []store.DeadLetter
	for i, d := range datas {
		l := letter(acctA, fmt.Sprintf("data-%02d", i))
		l.Data = d.data
		letters = append(letters, l)
	}
	putLetters(t, s, letters...)
	got := listLetters(t, s, acctA)
	if len(got) != len(letters) {
		t.Fatalf("DeadLetters: got %s; want %d letters", lettersString(got), len(letters))
	}
	for i, l := range letters {
		checkLetter(t, got[i], l, 1, "holding data with "+datas[i].name+" (Data must read back byte for byte)")
	}
}

func testDeadLetterResolve(t *testing.T, s store.RunStore) {
	putLetters(t, s, letter(acctA, "c-1"), letter(acctA, "c-2"), letter(acctA, "c-3"), letter(acctB, "c-2"))
	resolve := func(accountID string, ids []string) {
		t.Helper()
		if err := s.ResolveDeadLetters(t.Context(), accountID, ids); err != nil {
			t.Fatalf("ResolveDeadLetters(account %s, %q) = %s; want nil (ids without a letter are ignored)", quote(accountID), ids, errText(err))
		}
	}
	expect := func(accountID string, want []string, when string) {
		t.Helper()
		got := listLetters(t, s, accountID)
		var gotIDs []string
		for _, l := range got {
			gotIDs = append(gotIDs, l.CampaignID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("DeadLetters(account %s) %s: got %q; want %q", quote(accountID), when, gotIDs, want)
		}
	}
	resolve(acctA, []string{"c-2", "unknown", "C-1"})
	expect(acctA, []string{"c-1", "c-3"}, "after resolving c-2 and unknown ids")
	expect(acctB, []string{"c-2"}, "after the same id was resolved in another account")
	resolve(acctA, nil)
	resolve(acctA, []string{})
	resolve("acct-without-letters", []string{"c-1"})
	expect(acctA, []string{"c-1", "c-3"}, "after resolving nothing")
	resolve(acctA, []string{"c-1", "c-3", "c-1"})
	expect(acctA, nil, "after resolving every letter")

	// A letter put again after it was resolved starts over.
	l := letter(acctA, "c-2")
	putLetters(t, s, l)
	if got, ok := onlyLetter(t, s, acctA, "after the resolved c-2 failed again"); ok {
		checkLetter(t, got, l, 1, "put again after it was resolved")
	}
}

func testDeadLetterPaging(t *testing.T, s store.RunStore) {
	// Ids whose byte order differs from what a locale's collation, case
	// folding or numeric sort would give.
	campaignIDs := []string{"b", "B", "a", "A", "a-1", "a1", "a 1", "aa", "ä", "é", "e\u0301", "Z", "z", "😀", "10", "9", "_", "~", "中", "ﬁ", "fi"}
	var letters []store.DeadLetter
	for _, id := range campaignIDs {
		letters = append(letters, letter(acctA, id))
	}
	putLetters(t, s, letters...)
	want := slices.Clone(campaignIDs)
	slices.Sort(want)
	for _, limit := range []int{1, 3, 100} {
		got := listLettersBy(t, s, acctA, limit)
		var gotIDs []string
		for _, l := range got {
			gotIDs = append(gotIDs, l.CampaignID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("DeadLetters, pages of %d: got %q; want %q (every letter, in CampaignID order: Go's string order, the bytes of the UTF-8)",
				limit, gotIDs, want)
		}
	}
	// after need not be an id of the account.
	got, err := s.DeadLetters(t.Context(), acctA, "a0", 3)
	if err != nil {
		t.Fatalf("DeadLetters(after \"a0\", limit 3) = %s; want nil", errText(err))
	}
	var gotIDs []string
	for _, l := range got {
		gotIDs = append(gotIDs, l.CampaignID)
	}
	if i, _ := slices.BinarySearch(want, "a0"); !slices.Equal(gotIDs, want[i:i+3]) {
		t.Errorf("DeadLetters(after \"a0\", limit 3): got %q; want %q (the three ids after \"a0\", an id no letter has)", gotIDs, want[i:i+3])
	}
	if got, err := s.DeadLetters(t.Context(), acctA, want[len(want)-1], 10); err != nil || len(got) != 0 {
		t.Errorf("DeadLetters(after the last id) = %s, %s; want no letters and nil", lettersString(got), errText(err))
	}
}

func testDeadLetterAccounts(t *testing.T, s store.RunStore) {
	a, b := letter(acctA, "same"), letter(acctB, "same")
	a.Data, b.Data = []byte("data of a"), []byte("data of b")
	a.Error, b.Error = "error of a", "error of b"
	// One call may hold letters of several accounts.
	putLetters(t, s, a, b, letter(acctB, "b-only"))
	if got, ok := onlyLetter(t, s, acctA, "with letters of another account in the store"); ok {
		checkLetter(t, got, a, 1, "next to a letter with the same id in another account")
	}
	gotB := listLetters(t, s, acctB)
	if len(gotB) != 2 {
		t.Fatalf("DeadLetters(account %s): got %s; want its two letters", quote(acctB), lettersString(gotB))
	}
	checkLetter(t, gotB[1], b, 1, "next to a letter with the same id in another account")
	putLetters(t, s, a)
	if err := s.ResolveDeadLetters(t.Context(), acctB, []string{"same"}); err != nil {
		t.Fatalf("ResolveDeadLetters = %s", errText(err))
	}
	if got, ok := onlyLetter(t, s, acctA, "after the same id was resolved in another account"); ok {
		checkLetter(t, got, a, 2, "put twice, while the same id of another account was resolved")
	}
	if got := listLetters(t, s, "acct-c"); len(got) != 0 {
		t.Errorf("DeadLetters of an account without letters: got %s; want none", lettersString(got))
	}
}

func testBookkeepingCallerMutation(t *testing.T, s store.RunStore) {
	l1, l2 := letter(acctA, "c-1"), letter(acctA, "c-2")
	passed := []store.DeadLetter{l1, l2}
	l1.Data, l2.Data = slices.Clone(l1.Data), slices.Clone(l2.Data)
	putLetters(t, s, passed...)
	for i, want := range []store.DeadLetter{l1, l2} {
		got := passed[i]
		if !bytes.Equal(got.Data, want.Data) || got.Attempts != 0 || !got.FirstFailedAt.IsZero() || !got.LastFailedAt.IsZero() ||
			got.Error != want.Error || got.RunID != want.RunID || got.CampaignID != want.CampaignID || got.AccountID != want.AccountID {
			t.Errorf("PutDeadLetters changed element %d of the caller's slice: %+v; want it as passed", i, got)
		}
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
	again := listLetters(t, s, acctA)
	if len(again) == 2 {
		checkLetter(t, again[0], l1, 1, "after the caller overwrote the Data it got")
		checkLetter(t, again[1], l2, 1, "after the caller changed the letter it got")
	}

	// Id slices are the caller's: not reordered, not kept.
	upsert(t, s, acctA, sample("z"), sample("a"), sample("m"))
	ask := []string{"z", "a", "m", "z"}
	before := strings.Join(ask, ",")
	found, err := s.SyncedSince(t.Context(), acctA, ask, time.Time{})
	if err != nil {
		t.Fatalf("SyncedSince = %s", errText(err))
	}
	if after := strings.Join(ask, ","); after != before {
		t.Errorf("SyncedSince changed the caller's ids: %q, now %q", before, after)
	}
	for i := range found {
		found[i] = "changed"
	}
	checkSyncedSince(t, s, acctA, []string{"z", "a", "m"}, time.Time{}, []string{"z", "a", "m"}, "after the caller changed the slice it got")
	resolveIDs := []string{"c-2", "c-1"}
	if err := s.ResolveDeadLetters(t.Context(), acctA, resolveIDs); err != nil {
		t.Fatalf("ResolveDeadLetters = %s", errText(err))
	}
	if resolveIDs[0] != "c-2" || resolveIDs[1] != "c-1" {
		t.Errorf("ResolveDeadLetters changed the caller's ids: now %q", resolveIDs)
	}
}
