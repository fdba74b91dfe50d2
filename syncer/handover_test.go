package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// The handover tests run two holders of one account one after the other,
// each with a client of its own, as two processes would: the platform
// counts both under one client id.

// handoverState reads the account's handover state as JSON fields.
func handoverState(t *testing.T, st store.RunStore, account string) map[string]any {
	t.Helper()
	lease, err := st.Acquire(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	saved, err := lease.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(saved.Data, &fields); err != nil {
		t.Fatalf("handover state %q: %v", saved.Data, err)
	}
	return fields
}

// firstAPIRequest returns when the first /api request arrived at or after
// since.
func firstAPIRequest(t *testing.T, p *adplatformtest.Platform, since time.Time) time.Time {
	t.Helper()
	for _, r := range p.Requests() {
		if r.Endpoint != adplatform.EndpointAuth && !r.Time.Before(since) {
			return r.Time
		}
	}
	t.Fatal("no request")
	return time.Time{}
}

// A holder that finished cleanly hands its window over exactly: the next
// holder, in another process, started at once, spends none of the slots
// the first spent in the window, and earns no 429.
func TestHandoverAfterACleanFinish(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 25, RateLimit: 10, RateWindow: 10 * time.Second, SyncLatency: 100 * time.Millisecond})
		st := newFaultyStore()
		first := virtualClient(t, platform, 10, 10*time.Second)
		run(t, newSyncer(t, first, st, syncer.Options{}))
		if state := handoverState(t, st, "acct"); state["final"] != true || state["limiter"] == nil {
			t.Fatalf("handover state after a clean finish: %v; want the limiter's, final", state)
		}

		second := virtualClient(t, platform, 10, 10*time.Second)
		run(t, newSyncer(t, second, st, syncer.Options{}))
		stats := platform.Stats()
		if stats.RateLimited != 0 || stats.MaxAcceptedInWindow[first.ClientID()] > 10 {
			t.Errorf("%d 429s, at most %d requests in a window; want none, and 10", stats.RateLimited, stats.MaxAcceptedInWindow[first.ClientID()])
		}
	})
}

// A holder that did not finish cleanly (its end never recorded: its
// state was saved mid-run) may have sent requests after it: the next
// holder waits out one window before its first request.
func TestHandoverAfterAnUncleanStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 25, RateLimit: 10, RateWindow: 10 * time.Second, SyncLatency: 100 * time.Millisecond})
		st := newFaultyStore()
		st.failEnds = 1 << 30
		first := virtualClient(t, platform, 10, 10*time.Second)
		if _, err := newSyncer(t, first, st, syncer.Options{StoreRetryBudget: time.Second}).Run(context.Background()); err == nil {
			t.Fatal("the first holder's end was recorded; the test wants it not to be")
		}
		if state := handoverState(t, st, "acct"); state["final"] == true {
			t.Fatalf("handover state %v; want it saved mid-run", state)
		}

		st.failEnds = 0
		second := virtualClient(t, platform, 10, 10*time.Second)
		start := time.Now()
		run(t, newSyncer(t, second, st, syncer.Options{}))
		if wait := firstAPIRequest(t, platform, start).Sub(start); wait < 10*time.Second {
			t.Errorf("the second holder's first request went %s after it started; want a whole window, 10s", wait)
		}
		if n := platform.Stats().RateLimited; n != 0 {
			t.Errorf("%d 429s; want none", n)
		}
	})
}

// A platform's "retry after an hour" told to one holder holds for the
// next, in another process: before that time its run sends nothing at all
// and returns at once an *adplatform.RateLimitError saying when it may run.
func TestHandoverOfAPlatformWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// The platform allows 2 requests an hour; the first client
		// believes 5, and its third request meets a 429 asking to wait
		// about an hour, more than the client waits.
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 10, RateLimit: 2, RateWindow: time.Hour,
			RetryAfter: adplatformtest.RetryAfterSeconds, SyncLatency: 100 * time.Millisecond})
		st := newFaultyStore()
		first := virtualClient(t, platform, 5, time.Hour)
		_, err := newSyncer(t, first, st, syncer.Options{}).Run(context.Background())
		var told *adplatform.RateLimitError
		if !errors.As(err, &told) || time.Until(told.Until) < 50*time.Minute {
			t.Fatalf("first holder: %v; want the platform's wait of about an hour", err)
		}

		time.Sleep(10 * time.Minute)
		before := len(platform.Requests())
		second := virtualClient(t, platform, 2, time.Hour)
		start := time.Now()
		rep, err := newSyncer(t, second, st, syncer.Options{}).Run(context.Background())
		var limitErr *adplatform.RateLimitError
		if !errors.As(err, &limitErr) || !limitErr.Until.Equal(told.Until) || rep.Status != syncer.StatusInterrupted {
			t.Fatalf("second holder: %v; want a *RateLimitError until %s, the run interrupted", err, told.Until)
		}
		if !strings.Contains(err.Error(), told.Until.UTC().Format(time.RFC3339)) {
			t.Errorf("the error does not say when the run may go: %v", err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("the run took %s; want it to return at once", took)
		}
		if sent := len(platform.Requests()) - before; sent != 0 {
			t.Errorf("the second holder sent %d requests; want none", sent)
		}
	})
}
