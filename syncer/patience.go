package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/adsync/adsync/internal/backoff"
	"github.com/adsync/adsync/store"
)

// The backoff between attempts at a store call: from a tenth of a second,
// doubling, capped at five seconds, drawn uniformly below that ceiling
// (full jitter), so that the run notices soon that the database is back
// without hammering it meanwhile.
const (
	storeBackoffMin = 100 * time.Millisecond
	storeBackoffMax = 5 * time.Second
)

// patience is the run's one retry layer for the store. A lease makes one
// attempt per call, so that this is the only loop: a call that fails with
// store.ErrUnavailable is made again after a capped, jittered backoff,
// each attempt under its own timeout, until it succeeds, fails for
// another reason, or the database has been unavailable for longer than
// the budget.
type patience struct {
	attemptTimeout time.Duration
	budget         time.Duration
	log            *slog.Logger
}

func (e *execution) patience() patience {
	return patience{attemptTimeout: e.s.opts.StoreAttemptTimeout, budget: e.s.opts.StoreRetryBudget, log: e.log}
}

// do runs op patiently. It returns nil, op's last error when it is not
// one that may pass (a *store.BatchError, store.ErrAccountLost, a cancelled
// ctx), or an *unavailableError once the budget is spent.
func (p patience) do(ctx context.Context, op func(context.Context) error) error {
	var since time.Time // the first failure
	for attempt := 0; ; attempt++ {
		err := p.once(ctx, op)
		if err == nil || ctx.Err() != nil || !mayPass(err) {
			return err
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		down := now.Sub(since)
		if down >= p.budget {
			return &unavailableError{down: down, budget: p.budget, err: err}
		}
		// The last attempt is made when the budget ends.
		wait := min(backoff.Jittered(storeBackoffMin, storeBackoffMax, attempt), p.budget-down)
		p.log.Warn("the database is unavailable; retrying", "attempt", attempt+1, "wait", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("stopped while the database was unavailable: %w", err)
		case <-t.C:
		}
	}
}

// mayPass reports whether a store call's failure may pass if it is made
// again: the store says so (store.ErrUnavailable), or the attempt ran out
// of time (a store that does not classify its own deadline).
func mayPass(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// once makes one attempt at op, under the attempt timeout.
func (p patience) once(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.attemptTimeout)
	defer cancel()
	return op(ctx)
}

// unavailableError stops a run whose database stayed unavailable past the
// budget. It matches store.ErrUnavailable, and wraps the last failure.
type unavailableError struct {
	down, budget time.Duration
	err          error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("the database was unavailable for %s (Options.StoreRetryBudget is %s): "+
		"the run stops, interrupted; run again to resume it: %v", e.down.Round(time.Millisecond), e.budget, e.err)
}

func (e *unavailableError) Unwrap() []error { return []error{store.ErrUnavailable, e.err} }
