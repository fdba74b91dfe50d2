package adplatform_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// maintenance is a platform that answers every /api request with 503
// while down is set, and syncs in 100ms otherwise. It counts what it
// answered while down.
type maintenance struct {
	down       atomic.Bool
	duringDown atomic.Int64
}

func (m *maintenance) handler() *virtualAPI {
	return virtual(func(w http.ResponseWriter, r *http.Request) {
		if m.down.Load() {
			m.duringDown.Add(1)
			writeJSON(w, 503, map[string]any{"error": "Service temporarily unavailable"})
			return
		}
		if hold(r, 100*time.Millisecond) {
			writeJSON(w, 200, map[string]any{"success": true})
		}
	})
}

// syncIDs syncs ids with workers goroutines and returns each one's error.
func syncIDs(c *adplatform.Client, ids []string, workers int) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	work := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range work {
				_, err := c.SyncCampaign(context.Background(), id)
				mu.Lock()
				errs[id] = err
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return errs
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "campaign_" + strconv.Itoa(i+1)
	}
	return out
}

// A maintenance window of 20s in the middle of a run pauses it: no call
// fails, and the platform sees a probe now and then, not every worker's
// retries.
func TestOutagePausesCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var m maintenance
		v := m.handler()
		c := virtualClient(t, v, func(o *adplatform.Options) {
			o.RateLimit, o.RateWindow = 20, time.Second
			o.BackoffMin, o.BackoffMax = 250*time.Millisecond, 10*time.Second
		})
		time.AfterFunc(2*time.Second, func() { m.down.Store(true) })
		time.AfterFunc(22*time.Second, func() { m.down.Store(false) })
		start := time.Now()
		errs := syncIDs(c, ids(200), 10)
		for id, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
		// Before the pause: the calls on the wire and in their first
		// retries (5 consecutive from 2 calls trip it); during it, probes
		// at 1, 2, 4, 8, 16s.
		if n := m.duringDown.Load(); n > 20 {
			t.Errorf("%d requests during a 20s outage; want at most 20", n)
		}
		if d := time.Since(start); d > 60*time.Second {
			t.Errorf("took %s; want the outage plus the work, well under a minute", d)
		}
		t.Logf("%d requests during the outage, %d in all, %s", m.duringDown.Load(), v.total(), time.Since(start))
	})
}

// An outage longer than MaxOutage ends the wait: every call fails with
// ErrPlatformUnavailable, and the platform saw a handful of requests.
func TestOutageBeyondMaxOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var m maintenance
		v := m.handler()
		c := virtualClient(t, v, func(o *adplatform.Options) {
			o.MaxOutage = time.Minute
			o.BackoffMin, o.BackoffMax = 250*time.Millisecond, 10*time.Second
		})
		if _, err := c.SyncCampaign(context.Background(), "first"); err != nil { // it answered once
			t.Fatal(err)
		}
		m.down.Store(true)
		start := time.Now()
		errs := syncIDs(c, ids(20), 10)
		for id, err := range errs {
			if !errors.Is(err, adplatform.ErrPlatformUnavailable) {
				t.Errorf("%s: %v; want ErrPlatformUnavailable", id, err)
			}
		}
		if d := time.Since(start); d < time.Minute || d > time.Minute+15*time.Second {
			t.Errorf("gave up after %s; want about MaxOutage, 1m", d)
		}
		if n := m.duringDown.Load(); n > 25 {
			t.Errorf("%d requests; want a handful", n)
		}
	})
}

// One campaign the platform always answers 502 for is that campaign's
// failure, after its own retries: not an outage that holds the others.
func TestOneFailingCampaignIsNoOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/campaign_7/") {
				writeJSON(w, 502, map[string]any{"error": "Bad Gateway"})
				return
			}
			if hold(r, 100*time.Millisecond) {
				writeJSON(w, 200, map[string]any{"success": true})
			}
		})
		c := virtualClient(t, v, func(o *adplatform.Options) { o.BackoffMin, o.BackoffMax = 100*time.Millisecond, time.Second })
		start := time.Now()
		errs := syncIDs(c, ids(20), 1) // one worker: nothing succeeds between its retries
		var api *adplatform.APIError
		if err := errs["campaign_7"]; !errors.As(err, &api) || api.StatusCode != 502 || api.Attempts != 5 {
			t.Fatalf("campaign_7: %v; want its 502 after 5 attempts", err)
		}
		for id, err := range errs {
			if id != "campaign_7" && err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s; want no pause", d)
		}
	})
}

// A platform that never answered (a wrong URL, nothing listening) is not
// waited for: the call fails after its own retries, in seconds, saying
// the connection was refused.
func TestNeverAnsweredFailsOnItsRetries(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := client(t, "http://"+addr)
	_, err = c.SyncCampaign(ctxT(t), "a")
	if err == nil || errors.Is(err, adplatform.ErrPlatformUnavailable) || !strings.Contains(err.Error(), "connection refused, after 5 attempt(s)") {
		t.Fatalf("err = %v; want connection refused after 5 attempts", err)
	}
	if n := strings.Count(err.Error(), "adplatform:"); n != 1 {
		t.Errorf("err = %q: the package prefix %d times; want once", err, n)
	}
}

// One campaign the platform always answers 503 for, synced by one call and
// then another (a retry pass on the same client): its failures come from
// two calls but one request, and are that campaign's, not an outage. The
// second call fails with the campaign's own 503, at once, not after the
// client waited MaxOutage for a platform that answers everything else.
func TestOneRequestFailingOnManyCallsIsNotAnOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := virtualFake(t, adplatformtest.Options{Campaigns: 3, RateLimit: 100, RateWindow: time.Second,
			SyncLatency: time.Millisecond, SyncErrors: map[string]int{"campaign_2": 503}})
		client := virtualClient(t, fake)
		ctx := context.Background()
		if _, err := client.SyncCampaign(ctx, "campaign_1"); err != nil {
			t.Fatal(err) // the platform answers
		}
		for i := range 2 {
			_, err := client.SyncCampaign(ctx, "campaign_2")
			var apiErr *adplatform.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || errors.Is(err, adplatform.ErrPlatformUnavailable) {
				t.Fatalf("call %d: %v; want the campaign's own HTTP 503, not an outage", i+1, err)
			}
		}
	})
}
