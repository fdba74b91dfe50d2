package adplatform

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limiter admits at most Limit requests in any rolling window: the
// platform's rule, modelled exactly as a sliding log of the latest
// admission times. A request may go at the later of (the Limit-th latest
// admission + window + margin) and the time the platform said the window
// is full until (a 429's Retry-After, or a Remaining: 0 header).
//
// A token bucket of burst Limit does not model this rule: it admits 10
// requests at t=0 and an 11th at t=6s, which a 10-per-minute rolling
// window rejects.
//
// Waiters are admitted first come, first served; a waiter leaving (its
// context ended) gives its turn to the next at once. There is no polling:
// only the first waiter sleeps, exactly until its slot frees.
//
// Calls sharing one X-Client-ID must share one Limiter (they do by
// sharing one Client). A Limiter is safe for concurrent use.
type Limiter struct {
	limit  int
	window time.Duration
	margin time.Duration

	mu sync.Mutex
	// sent holds the admission times still able to delay a request,
	// oldest first; never more than limit of them.
	sent []time.Time
	// blockedUntil is when the platform said its window is full until.
	blockedUntil time.Time
	// queue holds the waiters in arrival order; queue[0] is the only one
	// with a timer.
	queue []*waiter
}

type waiter struct {
	// wake is signalled when the waiter may have to re-plan: it became
	// first, or the limiter was blocked. Buffered, so signalling never
	// blocks and is never lost.
	wake chan struct{}
}

// ErrLimiterDeadline is returned (wrapped, with the wait) by
// [Limiter.Wait] when the wait for a slot would outlast the context's
// deadline: like golang.org/x/time/rate, the limiter fails at once rather
// than sleep in vain. It wraps [context.DeadlineExceeded], so
// errors.Is(err, context.DeadlineExceeded) holds too.
var ErrLimiterDeadline = fmt.Errorf("adplatform: rate limiter: wait would exceed the context deadline: %w", context.DeadlineExceeded)

// NewLimiter returns a limiter admitting at most limit requests in any
// rolling window, each wait for a slot lengthened by margin (the jitter
// between our send and the platform's arrival: with no margin, a request
// sent exactly one window after another can arrive a hair early and be
// rejected).
func NewLimiter(limit int, window, margin time.Duration) (*Limiter, error) {
	switch {
	case limit < 1:
		return nil, fmt.Errorf("adplatform: NewLimiter: limit must be at least 1, got %d", limit)
	case window <= 0:
		return nil, fmt.Errorf("adplatform: NewLimiter: window must be positive, got %s", window)
	case margin < 0 || margin >= window:
		return nil, fmt.Errorf("adplatform: NewLimiter: margin must be in [0, window), got %s", margin)
	}
	return &Limiter{limit: limit, window: window, margin: margin}, nil
}

// Limit returns the number of requests admitted per window.
func (l *Limiter) Limit() int { return l.limit }

// Window returns the length of the rolling window.
func (l *Limiter) Window() time.Duration { return l.window }

// Wait blocks until a request may be sent, and records it as sent. It
// returns how long it waited. It returns at once with ctx's error when ctx
// ends, and with an error wrapping [ErrLimiterDeadline] when the wait is
// known to outlast ctx's deadline; in both cases no slot is used.
func (l *Limiter) Wait(ctx context.Context) (time.Duration, error) {
	if l == nil || l.limit < 1 {
		return 0, errors.New("adplatform: Limiter not made by NewLimiter")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	start := time.Now()
	deadline, hasDeadline := ctx.Deadline()

	l.mu.Lock()
	if len(l.queue) == 0 {
		if now := time.Now(); !l.nextLocked(now).After(now) {
			l.admitLocked(now)
			l.mu.Unlock()
			return 0, nil
		}
	}
	if hasDeadline {
		if at := l.predictLocked(start, len(l.queue)); at.After(deadline) {
			l.mu.Unlock()
			return 0, fmt.Errorf("%w (slot at %s, in %s)", ErrLimiterDeadline, at.Format(time.RFC3339Nano), at.Sub(start).Round(time.Millisecond))
		}
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	l.queue = append(l.queue, w)

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Invariant: l.mu is held here.
		var fire <-chan time.Time
		if l.queue[0] == w {
			now := time.Now()
			at := l.nextLocked(now)
			if !at.After(now) {
				l.admitLocked(now)
				l.queue = l.queue[1:]
				l.wakeFirstLocked()
				l.mu.Unlock()
				return now.Sub(start), nil
			}
			if hasDeadline && at.After(deadline) {
				// Blocked past the deadline while waiting.
				l.leaveLocked(w)
				l.mu.Unlock()
				return now.Sub(start), fmt.Errorf("%w (slot at %s)", ErrLimiterDeadline, at.Format(time.RFC3339Nano))
			}
			if timer == nil {
				timer = time.NewTimer(at.Sub(now))
			} else {
				timer.Reset(at.Sub(now))
			}
			fire = timer.C
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.leaveLocked(w)
			l.mu.Unlock()
			return time.Since(start), ctx.Err()
		case <-w.wake:
		case <-fire:
		}
		l.mu.Lock()
	}
}

// block records that the platform said its window is full until t: no
// request is admitted before then.
func (l *Limiter) block(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.blockedUntil) {
		l.blockedUntil = t
		l.wakeFirstLocked()
	}
}

// nextLocked is the earliest time the next request may go.
func (l *Limiter) nextLocked(now time.Time) time.Time {
	l.pruneLocked(now)
	at := l.blockedUntil
	if len(l.sent) >= l.limit {
		if t := l.sent[len(l.sent)-l.limit].Add(l.window + l.margin); t.After(at) {
			at = t
		}
	}
	return at
}

// pruneLocked forgets admissions too old to delay anyone.
func (l *Limiter) pruneLocked(now time.Time) {
	i := 0
	for i < len(l.sent) && !l.sent[i].Add(l.window+l.margin).After(now) {
		i++
	}
	// Reslicing is O(1); append reallocates now and then, which keeps the
	// amortized cost O(1) even for a limit of millions.
	l.sent = l.sent[i:]
}

func (l *Limiter) admitLocked(now time.Time) {
	if len(l.sent) == l.limit {
		l.sent = l.sent[1:]
	}
	l.sent = append(l.sent, now)
}

// predictLocked is when the waiter behind ahead others would be admitted
// if nothing changed: the log extended with their admissions.
func (l *Limiter) predictLocked(now time.Time, ahead int) time.Time {
	l.pruneLocked(now)
	planned := make([]time.Time, 0, ahead+1)
	at := now
	for range ahead + 1 {
		at = maxTime(at, l.blockedUntil)
		// The admission limit places before this one.
		if i := len(l.sent) + len(planned) - l.limit; i >= 0 {
			var t time.Time
			if i < len(l.sent) {
				t = l.sent[i]
			} else {
				t = planned[i-len(l.sent)]
			}
			at = maxTime(at, t.Add(l.window+l.margin))
		}
		planned = append(planned, at)
	}
	return at
}

// leaveLocked removes w from the queue; if it was first, the next waiter
// takes its turn.
func (l *Limiter) leaveLocked(w *waiter) {
	for i, q := range l.queue {
		if q == w {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			if i == 0 {
				l.wakeFirstLocked()
			}
			return
		}
	}
}

func (l *Limiter) wakeFirstLocked() {
	if len(l.queue) == 0 {
		return
	}
	select {
	case l.queue[0].wake <- struct{}{}:
	default:
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// isLimiterDeadline reports whether err is the limiter's fail-fast error.
func isLimiterDeadline(err error) bool { return errors.Is(err, ErrLimiterDeadline) }
