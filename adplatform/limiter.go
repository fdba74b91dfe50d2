package adplatform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Limiter admits at most Limit requests in any rolling window: the
// platform's rule, modelled exactly as a sliding log of the latest send
// times. A request may go at the later of (the Limit-th latest send +
// window + margin) and the time the platform said its window is full until
// (a 429's Retry-After, or a Remaining: 0 header).
//
// A token bucket of burst Limit does not model this rule: it admits 10
// requests at t=0 and an 11th at t=6s, which a 10-per-minute rolling
// window rejects.
//
// The client counts a slot from the moment its request is written to the
// connection, not from the moment it was admitted: a request admitted at
// t that reaches the wire at t+15ms (a new connection, a busy CPU) is
// logged at t+15ms, as the platform will see it. Until it is written, an
// admitted request holds its slot with an unknown time, and any admission
// that depends on that time waits for it.
//
// The margin covers what the client cannot see: the platform logging a
// request later than it was written. It starts at the minimum given to
// [NewLimiter] and adapts to what the limiter observes: scheduling delay
// (timers firing late, requests reaching the wire late on a busy machine)
// widens it, as does a 429 that comes anyway; both decay as calm returns.
// It never exceeds a tenth of the window (or the minimum, if larger).
//
// Waiters are admitted first come, first served; a waiter leaving (its
// context ended) gives its turn to the next at once. There is no polling:
// only the first waiter sleeps, exactly until its slot frees.
//
// Calls sharing one X-Client-ID must share one Limiter (they do by
// sharing one Client). A Limiter is safe for concurrent use. A [Client]
// has one (see [Client.Limiter]); used alone, [Limiter.Wait] counts a
// request as sent when it returns.
type Limiter struct {
	limit     int
	window    time.Duration
	minMargin time.Duration
	maxMargin time.Duration

	mu sync.Mutex
	// sent holds the send times still able to delay a request, oldest
	// first; never more than limit of them.
	sent []time.Time
	// pending counts admitted requests not yet written nor given back:
	// each will be logged at a time not yet known, no earlier than now.
	pending int
	// blockedUntil is when the platform said its window is full until,
	// and blockedBy what it said, when it was a 429.
	blockedUntil time.Time
	blockedBy    *RateLimitError
	// queue holds the waiters in arrival order; queue[0] is the only one
	// with a timer.
	queue []*waiter
	// jitter is a decaying maximum of observed scheduling delay; bump is
	// the margin added by 429s that came anyway, decaying per clean send.
	jitter time.Duration
	bump   time.Duration
}

type waiter struct {
	// wake is signalled when the waiter may have to re-plan: it became
	// first, a pending request was written or given back, or the limiter
	// was blocked. Buffered, so signalling never blocks and is never lost.
	wake chan struct{}
}

// ErrLimiterDeadline is returned (wrapped, with the wait) by
// [Limiter.Wait] when the wait for a slot would outlast the context's
// deadline: like golang.org/x/time/rate, the limiter fails at once rather
// than sleep in vain. It wraps [context.DeadlineExceeded], so
// errors.Is(err, context.DeadlineExceeded) holds too. When the wait is the
// platform's (a 429 asked for it), the error is also that *RateLimitError.
var ErrLimiterDeadline = fmt.Errorf("adplatform: rate limiter: wait would exceed the context deadline: %w", context.DeadlineExceeded)

// NewLimiter returns a limiter admitting at most limit requests in any
// rolling window, each wait for a slot lengthened by a margin of at least
// minMargin (see [Limiter] for how it adapts). Without a margin, a request
// sent exactly one window after another can be logged by the platform a
// hair early and be rejected.
func NewLimiter(limit int, window, minMargin time.Duration) (*Limiter, error) {
	switch {
	case limit < 1:
		return nil, fmt.Errorf("adplatform: NewLimiter: limit must be at least 1, got %d", limit)
	case window <= 0:
		return nil, fmt.Errorf("adplatform: NewLimiter: window must be positive, got %s", window)
	case minMargin < 0 || minMargin >= window:
		return nil, fmt.Errorf("adplatform: NewLimiter: margin must be in [0, window), got %s", minMargin)
	}
	return &Limiter{limit: limit, window: window, minMargin: minMargin, maxMargin: max(minMargin, window/10)}, nil
}

// Limit returns the number of requests admitted per window.
func (l *Limiter) Limit() int { return l.limit }

// Window returns the length of the rolling window.
func (l *Limiter) Window() time.Duration { return l.window }

// Margin returns the margin currently added to every wait for a slot.
func (l *Limiter) Margin() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.marginLocked()
}

// BlockedUntil returns the time the platform said its window is full
// until (zero or past when it said nothing that still holds).
func (l *Limiter) BlockedUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blockedUntil
}

// Wait blocks until a request may be sent, and records it as sent now. It
// returns how long it waited. It returns at once with ctx's error when ctx
// ends, and with an error wrapping [ErrLimiterDeadline] when the wait is
// known to outlast ctx's deadline; in both cases no slot is used.
func (l *Limiter) Wait(ctx context.Context) (time.Duration, error) {
	s, err := l.admit(ctx)
	if err != nil {
		return s.waited, err
	}
	s.sent(time.Now())
	return s.waited, nil
}

// slot is one admitted request's place in the window: it must be either
// sent (with the time its request was written) or released (the request
// was never written), exactly once.
type slot struct {
	l        *Limiter
	admitted time.Time
	waited   time.Duration
	once     sync.Once
}

// sent logs the slot's request as written at t.
func (s *slot) sent(t time.Time) {
	s.once.Do(func() {
		l := s.l
		l.mu.Lock()
		defer l.mu.Unlock()
		l.pending--
		i, _ := slices.BinarySearchFunc(l.sent, t, time.Time.Compare)
		l.sent = slices.Insert(l.sent, i, t)
		if over := len(l.sent) - l.limit; over > 0 {
			l.sent = l.sent[over:]
		}
		l.bump -= l.bump / time.Duration(8*l.limit)
		l.wakeFirstLocked()
	})
}

// release gives the slot back: its request was never written.
func (s *slot) release() {
	s.once.Do(func() {
		l := s.l
		l.mu.Lock()
		defer l.mu.Unlock()
		l.pending--
		l.wakeFirstLocked()
	})
}

// admit blocks until a request may go and holds a slot for it. On error
// the returned slot is not nil (it carries how long the call waited) but
// holds nothing.
func (l *Limiter) admit(ctx context.Context) (*slot, error) {
	start := time.Now()
	s := &slot{l: l}
	if l == nil || l.limit < 1 {
		return s, errors.New("adplatform: Limiter not made by NewLimiter")
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	deadline, hasDeadline := ctx.Deadline()

	l.mu.Lock()
	if len(l.queue) == 0 {
		if at, known := l.nextLocked(start); known && !at.After(start) {
			l.pending++
			l.mu.Unlock()
			s.admitted = start
			return s, nil
		}
	}
	if hasDeadline {
		if at := l.predictLocked(start, len(l.queue)); at.After(deadline) {
			err := l.deadlineErrorLocked(at, start)
			l.mu.Unlock()
			return s, err
		}
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	l.queue = append(l.queue, w)

	var (
		timer   *time.Timer
		timerAt time.Time
	)
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
			at, known := l.nextLocked(now)
			if known && !at.After(now) {
				if !timerAt.IsZero() && !now.Before(timerAt) {
					l.observeLocked(now.Sub(timerAt)) // how late the timer fired
				}
				l.pending++
				l.queue = l.queue[1:]
				l.wakeFirstLocked()
				l.mu.Unlock()
				s.admitted, s.waited = now, now.Sub(start)
				return s, nil
			}
			if hasDeadline && at.After(deadline) {
				// Blocked past the deadline while waiting.
				err := l.deadlineErrorLocked(at, now)
				l.leaveLocked(w)
				l.mu.Unlock()
				s.waited = now.Sub(start)
				return s, err
			}
			if known {
				timerAt = at
				if timer == nil {
					timer = time.NewTimer(at.Sub(now))
				} else {
					timer.Reset(at.Sub(now))
				}
				fire = timer.C
			} else {
				// The slot depends on a request not yet written: its
				// sent or release wakes us.
				timerAt = time.Time{}
			}
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.leaveLocked(w)
			l.mu.Unlock()
			s.waited = time.Since(start)
			return s, ctx.Err()
		case <-w.wake:
		case <-fire:
		}
		l.mu.Lock()
	}
}

// deadlineErrorLocked is the error of a wait that would end at at, after
// the context's deadline.
func (l *Limiter) deadlineErrorLocked(at, now time.Time) error {
	err := fmt.Errorf("%w (slot at %s, in %s)", ErrLimiterDeadline, at.Format(time.RFC3339Nano), at.Sub(now).Round(time.Millisecond))
	if rl := l.blockedBy; rl != nil && !l.blockedUntil.Before(at) {
		// The platform's wait is what the deadline cuts short: the caller
		// gets both.
		return &limiterDeadlineError{err: err, platform: rl}
	}
	return err
}

// limiterDeadlineError is a wait cut short by a deadline while the
// platform's 429 held the window: errors.Is finds the deadline,
// errors.As the *RateLimitError.
type limiterDeadlineError struct {
	err      error
	platform *RateLimitError
}

func (e *limiterDeadlineError) Error() string {
	return e.err.Error() + "; the platform asked to wait until " + e.platform.Until.UTC().Format(time.RFC3339)
}

func (e *limiterDeadlineError) Unwrap() []error { return []error{e.err, e.platform} }

// block records that the platform said its window is full until t, and
// why when it was a 429: no request is admitted before then.
func (l *Limiter) block(t time.Time, why *RateLimitError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.blockedUntil) {
		l.blockedUntil, l.blockedBy = t, why
		l.wakeFirstLocked()
	}
}

// rateLimited records a 429 that came although the limiter had admitted
// the request: whatever delayed the platform's log beyond the margin, the
// margin widens to cover it.
func (l *Limiter) rateLimited() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bump = min(l.maxMargin, max(2*l.bump, l.marginLocked()))
}

// observe feeds one sample of scheduling delay (how late a request
// reached the wire after admission, on a connection already open) to the
// margin: the platform's side of a busy machine suffers it too.
func (l *Limiter) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observeLocked(d)
}

// observeLocked feeds one sample of scheduling delay to the jitter
// estimate: a larger one is taken at once, smaller ones decay it slowly,
// so that the margin remembers a busy spell for a few windows.
func (l *Limiter) observeLocked(d time.Duration) {
	switch {
	case d <= 0:
		l.jitter -= l.jitter / 128
	case d > l.jitter:
		l.jitter = min(d, l.window)
	default:
		l.jitter -= (l.jitter - d) / 128
	}
}

// marginLocked is the margin now: the minimum, plus twice the observed
// jitter, plus what 429s added, capped.
func (l *Limiter) marginLocked() time.Duration {
	return min(l.maxMargin, l.minMargin+2*l.jitter+l.bump)
}

// nextLocked is the earliest time the next request may go. known is false
// when that depends on a request admitted but not yet written.
func (l *Limiter) nextLocked(now time.Time) (at time.Time, known bool) {
	l.pruneLocked(now)
	at = l.blockedUntil
	if n := len(l.sent) + l.pending; n >= l.limit {
		i := n - l.limit // the request limit places before the next one
		if i >= len(l.sent) {
			return at, false
		}
		at = maxTime(at, l.sent[i].Add(l.window+l.marginLocked()))
	}
	return at, true
}

// pruneLocked forgets sends too old to delay anyone, whatever the margin
// becomes.
func (l *Limiter) pruneLocked(now time.Time) {
	i := 0
	for i < len(l.sent) && !l.sent[i].Add(l.window+l.maxMargin).After(now) {
		i++
	}
	l.sent = l.sent[i:]
}

// predictLocked is the earliest the waiter behind ahead others could be
// admitted if nothing changed: the log extended with their admissions,
// requests not yet written counted as written now. It is a lower bound:
// a pending request written later only delays it.
func (l *Limiter) predictLocked(now time.Time, ahead int) time.Time {
	l.pruneLocked(now)
	log := slices.Clone(l.sent)
	for range l.pending {
		log = append(log, now)
	}
	margin := l.marginLocked()
	at := now
	for range ahead + 1 {
		at = maxTime(at, l.blockedUntil)
		if i := len(log) - l.limit; i >= 0 {
			at = maxTime(at, log[i].Add(l.window+margin))
		}
		log = append(log, at)
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

// LimiterState is what a limiter knows of the platform's window: enough
// for another process taking an account over to go on without spending
// slots the previous one already spent, or asking before the platform's
// reset. It encodes as JSON.
type LimiterState struct {
	// Sent are the latest send times that can still delay a request,
	// oldest first. Requests admitted but not yet written count as sent
	// when the state was taken.
	Sent []time.Time `json:"sent,omitempty"`
	// BlockedUntil is when the platform said its window is full until
	// (zero when it said nothing).
	BlockedUntil time.Time `json:"blocked_until,omitzero"`
}

// State returns what the limiter knows of the platform's window.
func (l *Limiter) State() LimiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.pruneLocked(now)
	st := LimiterState{Sent: slices.Clone(l.sent), BlockedUntil: l.blockedUntil}
	for range l.pending {
		st.Sent = append(st.Sent, now)
	}
	if over := len(st.Sent) - l.limit; over > 0 {
		st.Sent = st.Sent[over:]
	}
	return st
}

// Restore merges a state taken elsewhere (another process, a previous
// holder of the account) into the limiter: its send times join the log
// and its block holds. Nothing the limiter knows is forgotten.
func (l *Limiter) Restore(st LimiterState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	merged := append(slices.Clone(l.sent), st.Sent...)
	slices.SortFunc(merged, time.Time.Compare)
	if over := len(merged) - l.limit; over > 0 {
		merged = merged[over:]
	}
	l.sent = merged
	if st.BlockedUntil.After(l.blockedUntil) {
		l.blockedUntil, l.blockedBy = st.BlockedUntil, nil
	}
	l.wakeFirstLocked()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// isLimiterDeadline reports whether err is the limiter's fail-fast error.
func isLimiterDeadline(err error) bool { return errors.Is(err, ErrLimiterDeadline) }
