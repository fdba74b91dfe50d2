package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// checkSyncedSince calls SyncedSince and compares its answer, as a set,
// with want.
func checkSyncedSince(t *testing.T, l store.Lease, ids []string, since time.Time, want []string, when string) {
	t.Helper()
	accountID := l.AccountID()
	got, err := l.SyncedSince(t.Context(), ids, since)
	if err != nil {
		t.Errorf("SyncedSince(account %s, %d ids, since %s) %s = %s; want nil", quote(accountID), len(ids), timeString(since), when, errText(err))
		return
	}
	got = slices.Clone(got)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	var missing, extra, twice []string
	for i, id := range got {
		if i > 0 && got[i-1] == id {
			twice = append(twice, quote(id))
		} else if _, found := slices.BinarySearch(want, id); !found {
			extra = append(extra, quote(id))
		}
	}
	for _, id := range want {
		if _, found := slices.BinarySearch(got, id); !found {
			missing = append(missing, quote(id))
		}
	}
	var p []string
	if len(missing) > 0 {
		p = append(p, fmt.Sprintf("missing %d: %s", len(missing), strings.Join(first(missing, 10), ", ")))
	}
	if len(extra) > 0 {
		p = append(p, fmt.Sprintf("unexpected %d: %s", len(extra), strings.Join(first(extra, 10), ", ")))
	}
	if len(twice) > 0 {
		p = append(p, fmt.Sprintf("returned more than once: %s", strings.Join(first(twice, 10), ", ")))
	}
	t.Errorf("SyncedSince(account %s, %d ids, since %s) %s: wrong ids:%s", quote(accountID), len(ids), timeString(since), when, joinDiffs(p))
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

func testSyncedSince(t *testing.T, s store.RunStore) {
	since := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	at := func(id string, synced time.Time) store.Campaign {
		c := sample(id)
		c.SyncedAt = synced
		return c
	}
	upsert(t, s, acctA,
		at("before", since.Add(-time.Microsecond)),
		at("at", since.In(time.FixedZone("+09:00", 9*3600))),
		at("after", since.Add(time.Hour)),
		at("never", time.Time{}),
		at("long-ago", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)),
	)
	upsert(t, s, acctB,
		at("before", since.Add(time.Hour)),
		at("b-only", since.Add(time.Hour)),
	)
	ask := []string{"before", "at", "after", "never", "long-ago", "missing", "b-only"}
	la, lb := acquire(t, s, acctA), acquire(t, s, acctB)
	checkSyncedSince(t, la, ask, since, []string{"at", "after"},
		"(synced at or after since only; never-synced, missing and other accounts' ids never)")
	checkSyncedSince(t, la, ask, since.In(time.FixedZone("-03:00", -3*3600)), []string{"at", "after"},
		"with since in another zone")
	checkSyncedSince(t, la, ask, time.Time{}, []string{"before", "at", "after", "long-ago"},
		"with a zero since (a campaign never synced is never returned)")
	checkSyncedSince(t, la, []string{"after"}, since, []string{"after"}, "asking for one id")
	checkSyncedSince(t, lb, ask, since, []string{"before", "b-only"}, "in the other account")

	// A write that records no sync keeps the SyncedAt that answers.
	rewritten := at("at", time.Time{})
	rewritten.Name = "rewritten without a sync"
	upsert(t, s, acctA, rewritten)
	checkSyncedSince(t, la, ask, since, []string{"at", "after"}, "after a write with a zero SyncedAt")
	// And a later sync moves it, committed through the lease too.
	r, _ := startRun(t, la, store.StartOptions{})
	commit(t, la, store.Batch{RunID: r.ID, Campaigns: []store.Campaign{at("before", since.Add(time.Minute))}})
	checkSyncedSince(t, la, ask, since, []string{"before", "at", "after"}, "after a later sync of \"before\"")
}

func testSyncedSinceEmpty(t *testing.T, s store.RunStore) {
	since := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	l := acquire(t, s, acctA)
	checkSyncedSince(t, l, []string{"a", "b"}, since, nil, "on an empty store")
	upsert(t, s, acctA, sample("a"))
	checkSyncedSince(t, l, nil, time.Time{}, nil, "with nil ids")
	checkSyncedSince(t, l, []string{}, time.Time{}, nil, "with an empty slice of ids")
	checkSyncedSince(t, l, []string{"", "a\x00", "\xff", strings.Repeat("x", store.MaxIDBytes+1)}, time.Time{}, nil,
		"with ids no campaign can have (empty, NUL, not UTF-8, too long)")
}

func testSyncedSinceMany(t *testing.T, s store.RunStore) {
	const n = 3000
	since := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]store.Campaign, n)
	var want []string
	for i := range batch {
		c := sample(fmt.Sprintf("many-%04d", i))
		c.SyncedAt = since.Add(time.Duration(i-n/2) * time.Second)
		if i%5 == 0 {
			c.SyncedAt = time.Time{}
		}
		if !c.SyncedAt.IsZero() && !c.SyncedAt.Before(since) {
			want = append(want, c.ID)
		}
		batch[i] = c
	}
	upsert(t, s, acctA, batch...)
	ask := ids(batch)
	for i := range 100 {
		ask = append(ask, fmt.Sprintf("absent-%03d", i))
	}
	checkSyncedSince(t, acquire(t, s, acctA), ask, since, want, fmt.Sprintf("asking for %d ids at once", len(ask)))
}
