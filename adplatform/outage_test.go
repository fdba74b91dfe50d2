package adplatform

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func newTestOutage(maxOutage time.Duration) *outage {
	return newOutage(maxOutage, slog.New(slog.DiscardHandler))
}

// fail reports n outage signals from calls (two alternating) that are
// not probes.
func fail(o *outage, n int) (down bool) {
	for i := range n {
		down = o.done(i%2, false, "HTTP 503")
	}
	return down
}

func TestOutageTripsOnConsecutiveSignalsOnly(t *testing.T) {
	t.Parallel()
	o := newTestOutage(time.Minute)
	if fail(o, outageThreshold+3) {
		t.Fatal("a platform that never answered was declared down")
	}
	o.done(0, false, "") // it answers
	if fail(o, outageThreshold-1) {
		t.Fatalf("down after %d signals; want %d", outageThreshold-1, outageThreshold)
	}
	o.done(0, false, "") // a success in between resets the count
	if fail(o, outageThreshold-1) {
		t.Fatal("signals before a success were still counted")
	}
	if !fail(o, 1) {
		t.Fatalf("not down after %d consecutive signals", outageThreshold)
	}

	// One call failing alone, however often, is not an outage.
	alone := newTestOutage(time.Minute)
	alone.done(0, false, "")
	for range 3 * outageThreshold {
		if alone.done("poisoned", false, "HTTP 502") {
			t.Fatal("one call's failures alone were taken for an outage")
		}
	}
	if !alone.done("another", false, "HTTP 502") {
		t.Fatal("a second call failing too did not make it an outage")
	}
}

// While down, calls wait; one probe goes after outageProbeMin, then at a
// doubling interval; the first success releases every waiter at once.
func TestOutageProbesOneAtATimeThenReleases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newTestOutage(10 * time.Minute)
		o.done(0, false, "")
		fail(o, outageThreshold)
		start := time.Now()

		var (
			mu     sync.Mutex
			probes []time.Duration
			passed []time.Duration
		)
		var wg sync.WaitGroup
		const callers = 10
		for range callers {
			wg.Go(func() {
				for {
					probe, err := o.enter(context.Background())
					if err != nil {
						t.Errorf("enter: %v", err)
						return
					}
					at := time.Since(start)
					if !probe {
						mu.Lock()
						passed = append(passed, at)
						mu.Unlock()
						return
					}
					mu.Lock()
					probes = append(probes, at)
					n := len(probes)
					mu.Unlock()
					signal := "HTTP 503"
					if n == 4 { // the platform is back for the 4th probe
						signal = ""
					}
					if o.done(0, true, signal) {
						continue // the probe failed: wait again
					}
					mu.Lock()
					passed = append(passed, at)
					mu.Unlock()
					return
				}
			})
		}
		wg.Wait()
		want := []time.Duration{1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second}
		if len(probes) != len(want) {
			t.Fatalf("probes at %v; want %v", probes, want)
		}
		for i := range want {
			if probes[i] != want[i] {
				t.Fatalf("probes at %v; want %v", probes, want)
			}
		}
		if len(passed) != callers {
			t.Fatalf("%d callers passed; want %d", len(passed), callers)
		}
		for _, at := range passed {
			if at != 15*time.Second {
				t.Fatalf("callers passed at %v; want all at 15s, when the probe succeeded", passed)
			}
		}
	})
}

// Past maxOutage, waiting calls fail with ErrPlatformUnavailable; later
// calls fail at once, except one probe per interval, so that the first
// call after the platform returns finds it up.
func TestOutageGivesUpAfterMaxOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const maxOutage = 20 * time.Second
		o := newTestOutage(maxOutage)
		o.done(0, false, "")
		fail(o, outageThreshold)
		start := time.Now()
		// A probe that never reports back keeps the others waiting.
		probe, err := o.enter(context.Background())
		if err != nil || !probe || time.Since(start) != outageProbeMin {
			t.Fatalf("first enter = %v, %v at %s; want the probe at %s", probe, err, time.Since(start), outageProbeMin)
		}
		_, err = o.enter(context.Background())
		if !errors.Is(err, ErrPlatformUnavailable) || time.Since(start) != maxOutage {
			t.Fatalf("enter = %v after %s; want ErrPlatformUnavailable after %s", err, time.Since(start), maxOutage)
		}
		o.done(0, true, "connection refused")
		// Past the limit: fail at once while the next probe is not due...
		if _, err := o.enter(context.Background()); !errors.Is(err, ErrPlatformUnavailable) || time.Since(start) != maxOutage {
			t.Fatalf("enter past the limit = %v at %s; want ErrPlatformUnavailable at once", err, time.Since(start))
		}
		// ... and let one probe through when it is.
		time.Sleep(2 * time.Second)
		if probe, err := o.enter(context.Background()); err != nil || !probe {
			t.Fatalf("enter when a probe is due = %v, %v; want the probe", probe, err)
		}
		if o.done(0, true, "") {
			t.Fatal("still down after a successful probe")
		}
		if probe, err := o.enter(context.Background()); err != nil || probe {
			t.Fatalf("enter after recovery = %v, %v; want a plain pass", probe, err)
		}
	})
}

// A probe that was not sent hands its role to the next waiter at once;
// a waiter's context ending frees it.
func TestOutageAbandonAndCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newTestOutage(time.Hour)
		o.done(0, false, "")
		fail(o, outageThreshold)
		time.Sleep(outageProbeMin)
		probe, _ := o.enter(context.Background())
		if !probe {
			t.Fatal("no probe")
		}
		got := make(chan bool, 1)
		go func() {
			p, _ := o.enter(context.Background())
			got <- p
		}()
		synctest.Wait()
		o.abandon(true)
		if p := <-got; !p {
			t.Fatal("the next waiter did not take the probe role")
		}

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := o.enter(ctx)
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("enter after cancel = %v", err)
		}
	})
}
