package adplatform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrPlatformUnavailable is matched (errors.Is) by the error of a call
// that gave up because the platform was down for longer than
// Options.MaxOutage. It is nobody's fault but the platform's: a caller
// stops and tries again later, and no campaign should be marked failed
// for it.
var ErrPlatformUnavailable = errors.New("adplatform: platform unavailable")

// Outage tuning. The probe interval doubles from outageProbeMin up to
// outageProbeMax while the platform stays down: about one request a
// second at first, one every half minute in a long maintenance window.
const (
	outageThreshold = 5
	outageProbeMin  = time.Second
	outageProbeMax  = 15 * time.Second
)

// outage knows whether the platform is down, across every call of a
// client, so that an outage costs a probe now and then instead of every
// worker's retries. It is a small state machine:
//
//   - up: calls send freely. outageThreshold consecutive outage signals
//     (502, 503, 504, refused or reset connections), with no success in
//     between and for at least two different requests (endpoint and
//     path), mean the platform is down. One request failing alone, however
//     often and from however many calls (a campaign the platform chokes
//     on, retried by the next run on the same client), is that request's
//     problem, never an outage: it must not hold every other call, and it
//     fails on its own retries.
//   - down: calls wait in enter. One at a time is let through as a probe,
//     the first after outageProbeMin, then at a doubling interval. The
//     first success (any answer that is not an outage signal, from a probe
//     or from a call that was already on the wire) brings it back up and
//     releases every waiter.
//
// A platform that never answered this client is not declared down: a
// wrong URL or a platform down since before the client started fails
// calls after their own retries, in seconds, rather than keep them
// waiting for minutes.
//
// Calls that wait are not failing: a caller's retries are not spent on an
// outage. Only an outage longer than maxOutage makes waiting calls fail
// with ErrPlatformUnavailable; from then on a call fails at once unless
// it can be the next probe, so that the first call after the platform
// returns finds it up.
//
// It is a waiting breaker, not a failing one: gobreaker and its kind fail
// calls fast while open, which here would turn a maintenance window into
// failed campaigns.
type outage struct {
	maxOutage time.Duration
	log       *slog.Logger

	mu        sync.Mutex
	answered  bool         // the platform answered at least once
	failures  int          // consecutive outage signals while up
	requests  map[any]bool // the requests (endpoint and path) those signals came from
	down      bool
	since     time.Time // when it went down
	interval  time.Duration
	nextProbe time.Time
	probing   bool   // a probe is out
	last      string // the latest outage signal, for errors and logs
	// changed is closed, and replaced, whenever a waiter may have to
	// re-plan.
	changed chan struct{}
}

func newOutage(maxOutage time.Duration, log *slog.Logger) *outage {
	return &outage{maxOutage: maxOutage, log: log, changed: make(chan struct{})}
}

// enter returns when a request may be sent: at once while the platform is
// up; while it is down, when this call is let through as the probe
// (probe true: report its outcome with done or abandon). It fails with
// ctx's error, or with an error wrapping ErrPlatformUnavailable once the
// outage outlasted maxOutage.
func (o *outage) enter(ctx context.Context) (probe bool, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	o.mu.Lock()
	for {
		if !o.down {
			o.mu.Unlock()
			return false, nil
		}
		now := time.Now()
		if !o.probing && !now.Before(o.nextProbe) {
			o.probing = true
			o.mu.Unlock()
			return true, nil
		}
		giveUp := o.since.Add(o.maxOutage)
		if !now.Before(giveUp) {
			err := o.errorLocked(now)
			o.mu.Unlock()
			return false, err
		}
		wake := giveUp
		if !o.probing && o.nextProbe.Before(wake) {
			wake = o.nextProbe
		}
		changed := o.changed
		o.mu.Unlock()

		if timer == nil {
			timer = time.NewTimer(wake.Sub(now))
		} else {
			timer.Reset(wake.Sub(now))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-changed:
		case <-timer.C:
		}
		o.mu.Lock()
	}
}

func (o *outage) errorLocked(now time.Time) error {
	return fmt.Errorf("%w: down for %s (since %s), last: %s", ErrPlatformUnavailable,
		now.Sub(o.since).Round(time.Second), o.since.UTC().Format(time.RFC3339), o.last)
}

// done reports the outcome of an attempt at request (any comparable key
// naming the request: the transport's is its endpoint and path): signal
// is the outage signal it met ("HTTP 503", "connection refused"), or ""
// for any other outcome. It reports whether the platform
// is down now: the caller then waits in enter again rather than count the
// failure as its own.
func (o *outage) done(request any, probe bool, signal string) (down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if probe {
		o.probing = false
	}
	now := time.Now()
	if signal == "" {
		o.answered = true
		o.failures = 0
		clear(o.requests)
		if o.down {
			o.down = false
			o.log.Info("adplatform: the platform answers again", "down_for", now.Sub(o.since).Round(time.Millisecond).String())
			o.broadcastLocked()
		}
		return false
	}
	o.last = signal
	switch {
	case !o.down:
		o.failures++
		if o.requests == nil {
			o.requests = map[any]bool{}
		}
		o.requests[request] = true
		if o.failures < outageThreshold || len(o.requests) < 2 || !o.answered {
			return false
		}
		clear(o.requests)
		o.down, o.since, o.interval = true, now, outageProbeMin
		o.nextProbe = now.Add(o.interval)
		o.log.Warn("adplatform: the platform looks down; pausing calls, probing now and then",
			"consecutive_failures", o.failures, "last", signal)
		o.broadcastLocked()
	case probe:
		o.interval = min(2*o.interval, outageProbeMax)
		o.nextProbe = now.Add(o.interval)
		o.log.Info("adplatform: the platform is still down", "down_for", now.Sub(o.since).Round(time.Millisecond).String(),
			"next_probe_in", o.interval.String(), "last", signal)
		o.broadcastLocked()
	}
	return true
}

// abandon gives the probe role back unused: the probe was not sent.
func (o *outage) abandon(probe bool) {
	if !probe {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.probing = false
	o.broadcastLocked()
}

func (o *outage) broadcastLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}
