package adplatform

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func mustLimiter(t *testing.T, n int, window, margin time.Duration) *Limiter {
	t.Helper()
	l, err := NewLimiter(n, window, margin)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitAt calls Wait and returns the virtual time (since start) it
// returned at.
func waitAt(t *testing.T, l *Limiter, ctx context.Context, start time.Time) (time.Duration, time.Duration, error) {
	t.Helper()
	waited, err := l.Wait(ctx)
	return time.Since(start), waited, err
}

func TestNewLimiterValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n              int
		window, margin time.Duration
		ok             bool
	}{
		{10, time.Minute, time.Second, true},
		{1, time.Nanosecond, 0, true},
		{0, time.Minute, 0, false},
		{-1, time.Minute, 0, false},
		{10, 0, 0, false},
		{10, -time.Second, 0, false},
		{10, time.Second, -1, false},
		{10, time.Second, time.Second, false},
	} {
		_, err := NewLimiter(tc.n, tc.window, tc.margin)
		if (err == nil) != tc.ok {
			t.Errorf("NewLimiter(%d, %s, %s) = %v; want ok=%v", tc.n, tc.window, tc.margin, err, tc.ok)
		}
	}
}

// N sends go at once; the N+1th goes exactly at oldest + W + margin, and
// says it waited that long.
func TestLimiterRollingWindowExact(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n, w, m = 10, time.Minute, 600 * time.Millisecond
		l := mustLimiter(t, n, w, m)
		ctx := context.Background()
		start := time.Now()
		for i := range n {
			at, waited, err := waitAt(t, l, ctx, start)
			if err != nil || at != 0 || waited != 0 {
				t.Fatalf("send %d: at %s waited %s err %v; want at once", i, at, waited, err)
			}
		}
		at, waited, err := waitAt(t, l, ctx, start)
		if err != nil || at != w+m || waited != w+m {
			t.Fatalf("send %d: at %s (waited %s, err %v); want at %s", n+1, at, waited, err, w+m)
		}
	})
}

// A token bucket of burst 10 would admit the 11th request at 6s (one
// token refilled); the platform rejects it. The limiter holds it until the
// first request leaves the window.
func TestLimiterIsNotATokenBucket(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := mustLimiter(t, 10, time.Minute, 0)
		ctx := context.Background()
		start := time.Now()
		for range 10 {
			if _, err := l.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(6 * time.Second)
		if at, _, _ := waitAt(t, l, ctx, start); at != time.Minute {
			t.Fatalf("11th request at %s; want 1m0s", at)
		}
	})
}

// Staggered sends: each later one waits for its own predecessor N places
// back, not for a whole new window.
func TestLimiterSlidesPerRequest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w, m = time.Second, 10 * time.Millisecond
		l := mustLimiter(t, 3, w, m)
		ctx := context.Background()
		start := time.Now()
		for _, gap := range []time.Duration{0, 300 * time.Millisecond, 300 * time.Millisecond} {
			time.Sleep(gap)
			if _, err := l.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// Sends at 0, 300ms, 600ms: the next three go at 1.01s, 1.31s,
		// 1.61s.
		for _, want := range []time.Duration{w + m, w + m + 300*time.Millisecond, w + m + 600*time.Millisecond} {
			if at, _, _ := waitAt(t, l, ctx, start); at != want {
				t.Fatalf("send at %s; want %s", at, want)
			}
		}
	})
}

// Many concurrent waiters: never more than N admissions in any window of
// W + margin, and every slot is used as soon as it frees.
func TestLimiterConcurrentNeverExceeds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n, w, m, total = 4, time.Second, 10 * time.Millisecond, 23
		l := mustLimiter(t, n, w, m)
		start := time.Now()
		var (
			mu    sync.Mutex
			times []time.Duration
			wg    sync.WaitGroup
		)
		for range total {
			wg.Go(func() {
				if _, err := l.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				times = append(times, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(times) != total {
			t.Fatalf("%d admissions; want %d", len(times), total)
		}
		// Admissions come in batches of n, one window + margin apart.
		for i, at := range times {
			if want := time.Duration(i/n) * (w + m); at != want {
				t.Errorf("admission %d at %s; want %s", i, at, want)
			}
			if i >= n && times[i]-times[i-n] < w+m {
				t.Errorf("admissions %d and %d are %s apart: %d requests inside one window", i-n, i, times[i]-times[i-n], n+1)
			}
		}
	})
}

// The platform's word (a 429's Retry-After, Remaining: 0) holds every
// waiter, including one already sleeping for an earlier slot.
func TestLimiterBlock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := mustLimiter(t, 1, time.Second, 0)
		ctx := context.Background()
		start := time.Now()
		if _, err := l.Wait(ctx); err != nil { // t=0, next slot at 1s
			t.Fatal(err)
		}
		done := make(chan time.Duration)
		go func() {
			at, _, _ := waitAt(t, l, ctx, start)
			done <- at
		}()
		time.Sleep(200 * time.Millisecond)
		l.block(start.Add(5*time.Second), nil)
		l.block(start.Add(2*time.Second), nil) // earlier: no effect
		if at := <-done; at != 5*time.Second {
			t.Fatalf("blocked waiter admitted at %s; want 5s", at)
		}
		// A block in the past changes nothing.
		l.block(start, nil)
		if at, _, _ := waitAt(t, l, ctx, start); at != 6*time.Second {
			t.Fatalf("next admission at %s; want 6s (one window after the last)", at)
		}
	})
}

func TestLimiterCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w = time.Second
		l := mustLimiter(t, 1, w, 0)
		start := time.Now()
		if _, err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		type result struct {
			at  time.Duration
			err error
		}
		first := make(chan result)
		go func() {
			at, _, err := waitAt(t, l, ctx, start)
			first <- result{at, err}
		}()
		synctest.Wait()
		second := make(chan result)
		go func() {
			at, _, err := waitAt(t, l, context.Background(), start)
			second <- result{at, err}
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		r := <-first
		if !errors.Is(r.err, context.Canceled) || r.at != 300*time.Millisecond {
			t.Fatalf("cancelled waiter: at %s err %v; want context.Canceled at once (300ms)", r.at, r.err)
		}
		// The cancelled waiter used no slot: the second goes at 1s.
		if r := <-second; r.err != nil || r.at != w {
			t.Fatalf("second waiter at %s err %v; want 1s", r.at, r.err)
		}
		// A context already done fails at once without a slot.
		if _, err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with a done context = %v; want context.Canceled", err)
		}
		if at, _, _ := waitAt(t, l, context.Background(), start); at != 2*w {
			t.Fatalf("next admission at %s; want 2s", at)
		}
	})
}

// A wait that would outlast the deadline fails at once (like x/time/rate),
// uses no slot, and is recognisable as both ErrLimiterDeadline and
// context.DeadlineExceeded.
func TestLimiterDeadlineFailsFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w = time.Second
		l := mustLimiter(t, 2, w, 0)
		start := time.Now()
		for range 2 {
			if _, err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		at, _, err := waitAt(t, l, ctx, start)
		if !errors.Is(err, ErrLimiterDeadline) || !errors.Is(err, context.DeadlineExceeded) || at != 0 {
			t.Fatalf("Wait = %v at %s; want ErrLimiterDeadline at once", err, at)
		}
		// A deadline after the slot is fine.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel2()
		if at, _, err := waitAt(t, l, ctx2, start); err != nil || at != w {
			t.Fatalf("Wait = %v at %s; want admitted at 1s", err, at)
		}
		// Queued behind others: the prediction counts them. Slots: the
		// second at 1s (t=0 send), then 2s, 2s... With one waiter ahead
		// taking the 1s slot, a deadline of 1.5s cannot be met.
		go func() { _, _ = l.Wait(context.Background()) }()
		synctest.Wait()
		ctx3, cancel3 := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel3()
		if _, _, err := waitAt(t, l, ctx3, start); !errors.Is(err, ErrLimiterDeadline) {
			t.Fatalf("queued Wait = %v; want ErrLimiterDeadline", err)
		}
		// A block past the deadline of a waiter already sleeping ends its
		// wait at once too.
		ctx4, cancel4 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel4()
		errc := make(chan error)
		go func() {
			_, err := l.Wait(ctx4)
			errc <- err
		}()
		synctest.Wait()
		before := time.Now()
		l.block(time.Now().Add(time.Hour), nil)
		if err := <-errc; !errors.Is(err, ErrLimiterDeadline) || time.Since(before) != 0 {
			t.Fatalf("Wait after a long block = %v after %s; want ErrLimiterDeadline at once", err, time.Since(before))
		}
	})
}

// Waiters are admitted in arrival order, and a waiter leaving passes its
// turn on at once.
func TestLimiterFIFO(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w = time.Second
		l := mustLimiter(t, 1, w, 0)
		if _, err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var (
			mu    sync.Mutex
			order []int
			wg    sync.WaitGroup
		)
		ctxs := make([]context.Context, 6)
		cancels := make([]context.CancelFunc, 6)
		for i := range ctxs {
			ctxs[i], cancels[i] = context.WithCancel(context.Background())
			defer cancels[i]()
		}
		for i := range 6 {
			wg.Go(func() {
				if _, err := l.Wait(ctxs[i]); err != nil {
					return
				}
				mu.Lock()
				order = append(order, i)
				k := len(order)
				mu.Unlock()
				if got, want := time.Since(start), w*time.Duration(k); got != want {
					t.Errorf("waiter %d admitted at %s; want %s", i, got, want)
				}
			})
			synctest.Wait() // arrival order is i
		}
		cancels[0]() // the first leaves: the second takes its slot at 1s
		cancels[3]() // one in the middle leaves: nobody else moves
		wg.Wait()
		want := []int{1, 2, 4, 5}
		if len(order) != len(want) {
			t.Fatalf("admission order %v; want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("admission order %v; want %v", order, want)
			}
		}
	})
}

// admitAt admits one request and returns its slot and the virtual time
// (since start) it was admitted at.
func admitAt(t *testing.T, l *Limiter, start time.Time) (*slot, time.Duration) {
	t.Helper()
	s, err := l.admit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, time.Since(start)
}

// A slot is logged when its request is written, not when it is admitted:
// a request that reaches the wire late pushes the slots that depend on it
// later, and an admission that depends on a request not yet written waits
// for it.
func TestLimiterCountsFromTheWrite(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w = time.Second
		l := mustLimiter(t, 2, w, 0)
		start := time.Now()
		a, _ := admitAt(t, l, start)
		b, _ := admitAt(t, l, start)
		a.sent(time.Now()) // A on the wire at 0; B still on its way

		// C depends on A (two places back): one window after A's write.
		c, at := admitAt(t, l, start)
		if at != w {
			t.Fatalf("C admitted at %s; want %s", at, w)
		}
		// D depends on B, which is not written yet: it waits for it.
		done := make(chan time.Duration, 1)
		go func() {
			_, at := admitAt(t, l, start)
			done <- at
		}()
		time.Sleep(500 * time.Millisecond)
		b.sent(time.Now()) // B reaches the wire at 1.5s
		if at := <-done; at != 1500*time.Millisecond+w {
			t.Fatalf("D admitted at %s; want one window after B's write, %s", at, 1500*time.Millisecond+w)
		}
		c.sent(time.Now())
	})
}

// A slot whose request never left (the connection was refused) is given
// back: the next waiter goes at once.
func TestLimiterReleaseGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := mustLimiter(t, 1, time.Minute, 0)
		start := time.Now()
		a, _ := admitAt(t, l, start)
		done := make(chan time.Duration, 1)
		go func() {
			_, at := admitAt(t, l, start)
			done <- at
		}()
		time.Sleep(3 * time.Second)
		a.release()
		a.sent(time.Now()) // too late: a slot is settled once
		if at := <-done; at != 3*time.Second {
			t.Fatalf("next admitted at %s; want 3s, when the slot was given back", at)
		}
		if st := l.State(); len(st.Sent) != 1 {
			t.Fatalf("log %v; want only the second request", st.Sent)
		}
	})
}

// The margin starts at the minimum, widens with observed scheduling
// delay and with 429s that come anyway, decays as calm returns, and never
// exceeds a tenth of the window.
func TestLimiterMarginAdapts(t *testing.T) {
	t.Parallel()
	const w, minM = 10 * time.Second, 100 * time.Millisecond
	l := mustLimiter(t, 10, w, minM)
	if m := l.Margin(); m != minM {
		t.Fatalf("margin %s; want the minimum %s", m, minM)
	}
	l.observe(30 * time.Millisecond)
	if m := l.Margin(); m != minM+60*time.Millisecond {
		t.Fatalf("margin after a 30ms delay %s; want %s", m, minM+60*time.Millisecond)
	}
	for range 600 { // a few dozen windows of calm
		l.observe(0)
	}
	if m := l.Margin(); m >= minM+10*time.Millisecond {
		t.Fatalf("margin %s after 600 calm samples; want it back near %s", m, minM)
	}
	l.rateLimited()
	bumped := l.Margin()
	if bumped < 2*minM-time.Millisecond {
		t.Fatalf("margin after a 429 %s; want at least double the minimum", bumped)
	}
	for range 10 {
		l.rateLimited()
	}
	if m := l.Margin(); m != w/10 {
		t.Fatalf("margin after many 429s %s; want the cap %s", m, w/10)
	}
	l.observe(time.Hour)
	if m := l.Margin(); m != w/10 {
		t.Fatalf("margin %s; want the cap %s", m, w/10)
	}
	// Clean sends decay the 429 part.
	l2 := mustLimiter(t, 10, w, minM)
	l2.rateLimited()
	for range 200 {
		s, err := l2.admit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.sent(time.Now().Add(-time.Hour)) // old enough to never delay anyone
	}
	if m := l2.Margin(); m >= minM+minM/4 {
		t.Fatalf("margin %s after 200 clean sends; want it back near %s", m, minM)
	}
}

// A deadline that cuts short a wait the platform asked for (a 429's
// Retry-After) is both the deadline and the platform's *RateLimitError.
func TestLimiterDeadlineKeepsThePlatformsWord(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := mustLimiter(t, 10, time.Minute, 0)
		until := time.Now().Add(time.Hour)
		l.block(until, &RateLimitError{Endpoint: EndpointSync, RetryAfter: time.Hour, Until: until, Attempts: 1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := l.Wait(ctx)
		var rl *RateLimitError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrLimiterDeadline) || !errors.As(err, &rl) || !rl.Until.Equal(until) {
			t.Fatalf("err = %v; want the deadline and the *RateLimitError until %s", err, until)
		}
		// A wait of the limiter's own (a full window) is only the
		// deadline.
		l2 := mustLimiter(t, 1, time.Hour, 0)
		if _, err := l2.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err = l2.Wait(ctx)
		if !errors.Is(err, ErrLimiterDeadline) || errors.As(err, &rl) {
			t.Fatalf("err = %v; want the deadline alone", err)
		}
	})
}

// State hands the window over: a limiter restored from it admits exactly
// when the first one would have.
func TestLimiterStateHandsTheWindowOver(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const w = time.Minute
		first := mustLimiter(t, 3, w, 0)
		start := time.Now()
		for _, gap := range []time.Duration{0, 10 * time.Second, 10 * time.Second} {
			time.Sleep(gap)
			if _, err := first.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		until := start.Add(90 * time.Second)
		first.block(until, nil)
		st := first.State()
		if len(st.Sent) != 3 || !st.BlockedUntil.Equal(until) {
			t.Fatalf("state %+v; want 3 sends and the block", st)
		}
		// Through JSON, as it goes through a store.
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back LimiterState
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		// Without the block: the 4th request goes one window after the
		// first.
		second := mustLimiter(t, 3, w, 0)
		second.Restore(LimiterState{Sent: back.Sent})
		second.mu.Lock()
		got := second.predictLocked(time.Now(), 0).Sub(start)
		second.mu.Unlock()
		if got != w {
			t.Fatalf("restored limiter would admit at %s; want %s", got, w)
		}
		// With it: not before the platform's time.
		third := mustLimiter(t, 3, w, 0)
		third.Restore(back)
		if _, err := third.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if at := time.Since(start); at != 90*time.Second {
			t.Fatalf("restored limiter admitted at %s; want 90s (the block)", at)
		}
	})
}
