package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
)

// filled returns a store holding n campaigns and n dead letters of one
// account, a lease on it with a running run, and their ids.
func filled(b *testing.B, n int) (*memory.Store, leased, []string) {
	b.Helper()
	s := memory.New()
	ids := make([]string, n)
	cs := make([]store.Campaign, n)
	letters := make([]store.DeadLetter, n)
	synced := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range ids {
		ids[i] = fmt.Sprintf("campaign-%07d", (i*7919)%n) // not in order
		cs[i] = store.Campaign{ID: ids[i], Name: "Campaign " + ids[i], Status: "ACTIVE", Budget: "1100.50", SyncedAt: synced}
		letters[i] = store.DeadLetter{AccountID: "acct", CampaignID: ids[i], Data: []byte(`{"id":1}`), Error: "HTTP 500"}
	}
	l, err := s.Acquire(b.Context(), "acct")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Release(context.Background()) })
	r, err := l.StartRun(b.Context(), store.StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Commit(b.Context(), store.Batch{RunID: r.ID, Campaigns: cs, DeadLetters: letters}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.DeadLetters(b.Context(), "acct", "", 1); err != nil { // merge the order once
		b.Fatal(err)
	}
	return s, leased{l, r.ID}, ids
}

// leased is a lease and its running run.
type leased struct {
	store.Lease
	runID string
}

// BenchmarkScaling shows that each operation costs about the same in a
// store of 100,000 campaigns and dead letters as in one of 1,000: it runs
// both in the same loop and reports their ratio (≈1 for O(1), 100 for
// O(n)).
func BenchmarkScaling(b *testing.B) {
	ops := []struct {
		name string
		do   func(b *testing.B, s *memory.Store, l leased, ids []string, i int)
	}{
		{"get", func(b *testing.B, s *memory.Store, l leased, ids []string, i int) {
			if _, err := s.Get(b.Context(), "acct", ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}},
		{"upsert_change", func(b *testing.B, s *memory.Store, l leased, ids []string, i int) {
			c := store.Campaign{ID: ids[i%len(ids)], Name: fmt.Sprint("renamed ", i), Budget: "1"}
			if err := s.Upsert(b.Context(), "acct", []store.Campaign{c}); err != nil {
				b.Fatal(err)
			}
		}},
		{"synced_since_100_ids", func(b *testing.B, s *memory.Store, l leased, ids []string, i int) {
			start := (i * 100) % (len(ids) - 100)
			if _, err := l.SyncedSince(b.Context(), ids[start:start+100], time.Time{}); err != nil {
				b.Fatal(err)
			}
		}},
		{"put_and_resolve_letter", func(b *testing.B, s *memory.Store, l leased, ids []string, i int) {
			dl := store.DeadLetter{CampaignID: fmt.Sprint("new-", i), Data: []byte("{}")}
			if err := l.Commit(b.Context(), store.Batch{RunID: l.runID, DeadLetters: []store.DeadLetter{dl}}); err != nil {
				b.Fatal(err)
			}
			if err := l.Commit(b.Context(), store.Batch{RunID: l.runID, Resolved: []string{dl.CampaignID}}); err != nil {
				b.Fatal(err)
			}
		}},
		{"dead_letter_page_of_100", func(b *testing.B, s *memory.Store, l leased, ids []string, i int) {
			if _, err := s.DeadLetters(b.Context(), "acct", ids[i%len(ids)], 100); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			small, smallLease, smallIDs := filled(b, 1_000)
			large, largeLease, largeIDs := filled(b, 100_000)
			var inSmall, inLarge time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				op.do(b, small, smallLease, smallIDs, i)
				t1 := time.Now()
				op.do(b, large, largeLease, largeIDs, i)
				inSmall += t1.Sub(t0)
				inLarge += time.Since(t1)
				i++
			}
			b.ReportMetric(float64(inSmall.Nanoseconds())/float64(i), "ns/op@1k")
			b.ReportMetric(float64(inLarge.Nanoseconds())/float64(i), "ns/op@100k")
			b.ReportMetric(float64(inLarge)/float64(inSmall), "100k/1k")
		})
	}
}
