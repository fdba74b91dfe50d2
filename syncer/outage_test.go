package syncer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// outageRun is the setting of the database outage tests, on fake time:
// 120 campaigns at 10 requests per rolling 2 s, a 400 ms sync call, and a
// syncer writing batches of 10, so that its channels hold little.
type outageRun struct {
	platform *adplatformtest.Platform
	client   *adplatform.Client
	st       *faultyStore
}

const outageCampaigns = 120

func newOutageRun(t *testing.T) outageRun {
	t.Helper()
	platform := virtualPlatform(t, adplatformtest.Options{Campaigns: outageCampaigns, RateLimit: 10, RateWindow: 2 * time.Second, SyncLatency: 400 * time.Millisecond})
	return outageRun{platform: platform, client: virtualClient(t, platform, 10, 2*time.Second), st: newFaultyStore()}
}

// syncer returns a syncer of the setting that takes the database down for
// outage once 30 campaigns are stored, and reports when.
func (o outageRun) syncer(t *testing.T, outage time.Duration, opts syncer.Options) (*syncer.Syncer, *time.Time) {
	t.Helper()
	var at time.Time
	opts.BatchSize = 10
	opts.Observer = &recorder{onSynced: func(n int) {
		if n == 30 {
			at = time.Now()
			o.st.down(outage)
		}
	}}
	return newSyncer(t, o.client, o.st, opts), &at
}

// syncCalls counts the sync calls the platform received, and those that
// arrived in [from, to).
func (o outageRun) syncCalls(from, to time.Time) (all, between int) {
	for _, r := range o.platform.Requests() {
		if r.Endpoint != adplatform.EndpointSync {
			continue
		}
		all++
		if !r.Time.Before(from) && r.Time.Before(to) {
			between++
		}
	}
	return all, between
}

// The database down for 15 s in the middle of a run pauses it: the writer
// retries, the workers wait for it, nothing they brought back is dropped,
// and the same run finishes with every campaign stored, each synced once.
func TestDatabaseOutagePausesTheRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newOutageRun(t)
		s, outageAt := o.syncer(t, 15*time.Second, syncer.Options{})
		rep, err := s.Run(context.Background())
		if err != nil || rep.Status != syncer.StatusCompleted || rep.Synced != outageCampaigns {
			t.Fatalf("Run: %v, %+v; want all %d synced, the run not interrupted", err, rep, outageCampaigns)
		}
		if n := len(syncedIDs(t, o.st, "acct", outageCampaigns)); n != outageCampaigns {
			t.Errorf("%d of %d campaigns stored with synced_at", n, outageCampaigns)
		}
		back := outageAt.Add(15 * time.Second)
		calls, during := o.syncCalls(*outageAt, back)
		if calls > outageCampaigns+2 {
			t.Errorf("%d sync calls for %d campaigns; want at most 2 more", calls, outageCampaigns)
		}
		// Back-pressure: while the writer waits, at most what the
		// channels, the writer's batch and the workers hold goes on.
		if limit := 2*10 + 10 + 10; during > limit {
			t.Errorf("%d sync calls during the outage; the pipeline holds %d", during, limit)
		}
		if len(o.st.failures()) == 0 || rep.StartedAt.Add(rep.Duration).Before(back) {
			t.Errorf("the run did not meet the outage: %d failed store calls, finished %s after it began",
				len(o.st.failures()), rep.StartedAt.Add(rep.Duration).Sub(*outageAt))
		}
		// The writer's backoff: doubling from 100ms, capped at 5s and
		// jittered below. It asks neither too often (more than the
		// doubling allows) nor too seldom (it notices the database is
		// back within the cap).
		failed := o.st.failures()
		if len(failed) > 20 {
			t.Errorf("%d attempts during a 15s outage; the backoff allows about a dozen", len(failed))
		}
		for i := 1; i < len(failed); i++ {
			if gap := failed[i].at.Sub(failed[i-1].at); gap > 5*time.Second {
				t.Errorf("attempts %d and %d were %s apart; the backoff is capped at 5s", i, i+1, gap)
			}
		}
		if last := failed[len(failed)-1].at; last.Before(back.Add(-5 * time.Second)) {
			t.Errorf("the last failed attempt was %s before the database came back; it should keep asking", back.Sub(last))
		}
		runs, _ := o.st.Runs(context.Background(), "acct", store.RunQuery{})
		if len(runs) != 1 || runs[0].Status != store.RunCompleted || runs[0].Synced != outageCampaigns {
			t.Errorf("runs %+v; want one, completed, with %d synced", runs, outageCampaigns)
		}
	})
}

// An outage longer than the budget stops the run, interrupted, with an
// error that says for how long the database was unavailable and that a
// rerun resumes; the rerun, once it is back, does.
func TestDatabaseOutageBeyondTheBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newOutageRun(t)
		s, outageAt := o.syncer(t, 15*time.Second, syncer.Options{StoreRetryBudget: 5 * time.Second})
		first, err := s.Run(context.Background())
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "unavailable for") ||
			!strings.Contains(err.Error(), "run again to resume") || first.Status != syncer.StatusInterrupted {
			t.Fatalf("Run: %v (%s); want the database unavailable, the run interrupted", err, first.Status)
		}
		if stopped := first.StartedAt.Add(first.Duration).Sub(*outageAt); stopped < 5*time.Second || stopped > 10*time.Second {
			t.Errorf("the run stopped %s into the outage; the budget is 5s", stopped)
		}
		stored := syncedIDs(t, o.st, "acct", outageCampaigns)
		if len(stored) != first.Synced || first.Synced < 30 || first.Synced == outageCampaigns {
			t.Fatalf("%d stored synced, the report says %d", len(stored), first.Synced)
		}

		time.Sleep(time.Until(outageAt.Add(15 * time.Second)))
		second, err := newSyncer(t, o.client, o.st, syncer.Options{}).Run(context.Background())
		if err != nil || !second.Resumed || second.RunID != first.RunID || second.Skipped != len(stored) ||
			second.Synced != outageCampaigns-len(stored) {
			t.Fatalf("rerun: %v, %+v; want run %s resumed, %d skipped, the rest synced", err, second, first.RunID, len(stored))
		}
		if n := len(syncedIDs(t, o.st, "acct", outageCampaigns)); n != outageCampaigns {
			t.Errorf("%d of %d stored synced after the rerun", n, outageCampaigns)
		}
		syncs := o.platform.Stats().Syncs
		for id := range stored {
			if calls := syncs[id].Calls; calls != 1 {
				t.Errorf("%s was stored synced by the first run, and called %d times", id, calls)
			}
		}
	})
}

// Recording the end of the run is retried like any batch: the database
// refusing the last Commit three times does not leave the run unfinished.
func TestEndOfRunIsRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newOutageRun(t)
		o.st.failEnds = 3
		rep, err := newSyncer(t, o.client, o.st, syncer.Options{}).Run(context.Background())
		if err != nil || rep.Synced != outageCampaigns {
			t.Fatalf("Run: %v, %+v", err, rep)
		}
		if n := len(o.st.failures()); n != 3 {
			t.Errorf("%d failed store calls; want the 3 of the end", n)
		}
		runs, _ := o.st.Runs(context.Background(), "acct", store.RunQuery{})
		if len(runs) != 1 || runs[0].Status != store.RunCompleted {
			t.Errorf("runs %+v; want one, completed", runs)
		}
	})
}

// A database that does not answer is given up on after
// StoreAttemptTimeout, each attempt, and asked again.
func TestStoreAttemptTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newOutageRun(t)
		var hungAt time.Time
		rec := &recorder{onSynced: func(n int) {
			if n == 30 {
				hungAt = time.Now()
				o.st.hang(45 * time.Second)
			}
		}}
		s := newSyncer(t, o.client, o.st, syncer.Options{BatchSize: 10, StoreAttemptTimeout: 10 * time.Second, Observer: rec})
		rep, err := s.Run(context.Background())
		if err != nil || rep.Synced != outageCampaigns {
			t.Fatalf("Run: %v, %+v", err, rep)
		}
		hung := o.st.failures()
		if len(hung) < 4 {
			t.Fatalf("%d hung attempts over 45s; want one per 10s at least", len(hung))
		}
		for _, a := range hung {
			if a.took != 10*time.Second {
				t.Errorf("an attempt at %s took %s; want the 10s attempt timeout", a.op, a.took)
			}
		}
		if end := rep.StartedAt.Add(rep.Duration); end.Before(hungAt.Add(45 * time.Second)) {
			t.Errorf("the run ended %s into a 45s hang", end.Sub(hungAt))
		}
	})
}

// The run goes at the rate window's pace and earns no 429: 120 campaigns
// at 10 requests per rolling 2 s, a 400 ms sync call, take the floor for
// the requests made ((⌈requests/10⌉ − 1) windows and the last call) and
// the limiter's margin (25 ms a window), on fake time: exactly.
func TestPacingAtTheFloor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newOutageRun(t)
		start := time.Now()
		rep := run(t, newSyncer(t, o.client, o.st, syncer.Options{}))
		took := time.Since(start)
		stats := o.platform.Stats()
		requests := stats.Endpoints[adplatform.EndpointList].Requests + stats.Endpoints[adplatform.EndpointSync].Requests
		windows := (requests + 9) / 10
		floor := time.Duration(windows-1)*2*time.Second + 400*time.Millisecond
		if rep.Synced != outageCampaigns || stats.RateLimited != 0 || requests != outageCampaigns+2 {
			t.Fatalf("synced %d, %d 429s, %d requests; want all, none, %d", rep.Synced, stats.RateLimited, requests, outageCampaigns+2)
		}
		if ratio := took.Seconds() / floor.Seconds(); ratio > 1.02 {
			t.Errorf("took %s, %.3f× the %s floor; want at most 1.02×", took, ratio, floor)
		}
	})
}

// A synced campaign waits at most FlushInterval for its write, however
// few results come: each is stored (observed synced) within the interval
// of its sync call's answer.
func TestFlushInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 12, RateLimit: 1, RateWindow: 3 * time.Second, SyncLatency: time.Second})
		client := virtualClient(t, platform, 1, 3*time.Second)
		stored := map[string]time.Time{}
		var mu sync.Mutex
		rec := &recorder{}
		rec.onStored = func(id string) {
			mu.Lock()
			defer mu.Unlock()
			stored[id] = time.Now()
		}
		run(t, newSyncer(t, client, newFaultyStore(), syncer.Options{FlushInterval: 700 * time.Millisecond, Observer: rec}))
		answered := 0
		for _, r := range platform.Requests() {
			if r.Endpoint != adplatform.EndpointSync {
				continue
			}
			answered++
			id := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/api/campaigns/"), "/sync")
			done := r.Time.Add(r.Duration)
			if wait := stored[id].Sub(done); wait < 0 || wait > 700*time.Millisecond {
				t.Errorf("%s was stored %s after its sync call answered; the interval is 700ms", id, wait)
			}
		}
		if answered != 12 {
			t.Errorf("%d sync calls; want 12", answered)
		}
	})
}
