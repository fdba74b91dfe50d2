package syncer_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// A run cancelled part way is interrupted; the next run resumes it and
// does not sync again what it synced.
func TestResumeAfterCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 60, SyncLatency: 30 * time.Millisecond})
		st := memory.New()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rec := &recorder{onSynced: func(n int) {
			if n == 20 {
				cancel()
			}
		}}
		first, err := newSyncer(t, newClient(t, srv), st, syncer.Options{Observer: rec}).Run(ctx)
		if err != nil {
			t.Fatalf("a cancelled run is not an error: %v", err)
		}
		if first.Status != syncer.StatusInterrupted || first.Synced < 20 || first.Synced >= 60 {
			t.Fatalf("first run: %+v; want it interrupted after 20 synced", first)
		}
		done := syncedIDs(t, st, "acct", 60)
		if len(done) != first.Synced {
			t.Fatalf("report says %d synced, the store %d", first.Synced, len(done))
		}

		second := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		if !second.Resumed || second.RunID != first.RunID || second.Skipped != first.Synced || second.Synced != 60-first.Synced {
			t.Fatalf("second run: %+v; want run %s resumed, %d skipped, %d synced", second, first.RunID, first.Synced, 60-first.Synced)
		}
		syncs := srv.Stats().Syncs
		for id := range done {
			if calls := syncs[id].Calls; calls != 1 {
				t.Errorf("%s was synced by the first run and called %d times", id, calls)
			}
		}
		if n := len(syncedIDs(t, st, "acct", 60)); n != 60 {
			t.Errorf("%d of 60 campaigns synced after the resume", n)
		}

		// The resumed run completed: a third starts afresh.
		third := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		if third.Resumed || third.Synced != 60 {
			t.Errorf("third run: %+v; want a fresh run", third)
		}
	})
}

// Fresh ignores an unfinished run.
func TestFreshIgnoresUnfinishedRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 20})
		st := memory.New()
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{onSynced: func(n int) {
			if n == 5 {
				cancel()
			}
		}}
		first, _ := newSyncer(t, newClient(t, srv), st, syncer.Options{Observer: rec}).Run(ctx)
		fresh := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{Fresh: true}))
		if fresh.Resumed || fresh.RunID == first.RunID || fresh.Skipped != 0 || fresh.Synced != 20 {
			t.Errorf("fresh run: %+v", fresh)
		}
	})
}

// syncedIDs returns the ids among campaign_1..n stored with a SyncedAt.
func syncedIDs(t testing.TB, st store.Store, account string, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := 1; i <= n; i++ {
		c, err := st.Get(context.Background(), account, campaignID(i))
		if err == nil && !c.SyncedAt.IsZero() {
			ids[c.ID] = true
		}
	}
	return ids
}
