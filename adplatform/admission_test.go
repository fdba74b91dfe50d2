package adplatform_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// hold waits d, or until the request's context ends (the client gave
// up), and reports which.
func hold(r *http.Request, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

// WithAdmission: a call waiting for a rate-limit slot stops at once when
// admission ends, with ErrStopped, and sends nothing.
func TestAdmissionStopsAWaitingCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"success": true})
		})
		c := virtualClient(t, v, func(o *adplatform.Options) { o.RateLimit, o.RateWindow = 1, time.Minute })
		if _, err := c.SyncCampaign(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		admission, stop := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Second, stop)
		start := time.Now()
		_, err := c.SyncCampaign(adplatform.WithAdmission(context.Background(), admission), "b")
		if !errors.Is(err, adplatform.ErrStopped) || time.Since(start) != 5*time.Second {
			t.Fatalf("err = %v after %s; want ErrStopped after 5s", err, time.Since(start))
		}
		if n := v.count("/api/campaigns/b/sync"); n != 0 {
			t.Fatalf("%d requests for b; want none", n)
		}
	})
}

// A call whose request is on the wire when admission ends finishes under
// its own context, and returns the platform's answer.
func TestAdmissionLetsACallOnTheWireFinish(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			if hold(r, 2*time.Second) {
				writeJSON(w, 200, map[string]any{"success": true, "message": "done"})
			}
		})
		c := virtualClient(t, v)
		admission, stop := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, stop)
		start := time.Now()
		res, err := c.SyncCampaign(adplatform.WithAdmission(context.Background(), admission), "a")
		if err != nil || res.Message != "done" || time.Since(start) != 2*time.Second {
			t.Fatalf("res %+v, err %v after %s; want the answer after 2s", res, err, time.Since(start))
		}
	})
}

// An attempt on the wire that fails once admission ended is not retried,
// whether the failure comes during the attempt or the call is in its
// backoff.
func TestAdmissionSendsNoRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			if hold(r, time.Second) {
				w.Header().Set("Retry-After", "10") // a known backoff
				writeJSON(w, 503, map[string]any{"error": "Service temporarily unavailable"})
			}
		})
		c := virtualClient(t, v, func(o *adplatform.Options) { o.BackoffMin, o.BackoffMax = 10*time.Second, 10*time.Second })

		// Admission ends while the attempt is on the wire.
		admission, stop := context.WithCancel(context.Background())
		time.AfterFunc(500*time.Millisecond, stop)
		start := time.Now()
		_, err := c.SyncCampaign(adplatform.WithAdmission(context.Background(), admission), "a")
		if !errors.Is(err, adplatform.ErrStopped) || !strings.Contains(err.Error(), "HTTP 503") || time.Since(start) != time.Second {
			t.Fatalf("err = %v after %s; want ErrStopped naming the 503, after 1s", err, time.Since(start))
		}
		if n := v.count("/api/campaigns/a/sync"); n != 1 {
			t.Fatalf("%d requests; want 1", n)
		}

		// Admission ends during the 10s backoff after the first 503.
		admission, stop = context.WithCancel(context.Background())
		time.AfterFunc(3*time.Second, stop)
		start = time.Now()
		_, err = c.SyncCampaign(adplatform.WithAdmission(context.Background(), admission), "b")
		if !errors.Is(err, adplatform.ErrStopped) || time.Since(start) != 3*time.Second {
			t.Fatalf("err = %v after %s; want ErrStopped after 3s", err, time.Since(start))
		}
		if n := v.count("/api/campaigns/b/sync"); n != 1 {
			t.Fatalf("%d requests; want 1", n)
		}
	})
}

// RequestStarted and RequestDone of one attempt carry the same ID, and
// attempts have different ones.
func TestRequestIDsPairStartAndDone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				writeJSON(w, 503, map[string]any{"error": "x"})
				return
			}
			writeJSON(w, 200, map[string]any{"success": true})
		})
		var ids idPairs
		c := virtualClient(t, v, func(o *adplatform.Options) { o.Observer = &ids })
		if _, err := c.SyncCampaign(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		ids.mu.Lock()
		defer ids.mu.Unlock()
		if len(ids.started) != 3 || !slices.Equal(ids.started, ids.done) || len(slices.Compact(slices.Sorted(slices.Values(ids.started)))) != 3 {
			t.Fatalf("started %v, done %v; want 3 distinct ids (token, 503, 200), paired", ids.started, ids.done)
		}
	})
}

type idPairs struct {
	adplatform.NopObserver
	mu            sync.Mutex
	started, done []uint64
}

func (p *idPairs) RequestStarted(i adplatform.RequestInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = append(p.started, i.ID)
}

func (p *idPairs) RequestDone(i adplatform.RequestInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, i.ID)
}
