package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// How a run stops: which errors stop it rather than fail a campaign, what
// they say, and whether the next run resumes it.

// stopsTheRun reports whether a call's error is the platform's, not the
// campaign's: refused credentials, the platform unavailable (an outage
// longer than the client waits), or a rate limit wait longer than the
// client allows.
func stopsTheRun(err error) bool {
	var authErr *adplatform.AuthError
	var limitErr *adplatform.RateLimitError
	return errors.As(err, &authErr) || errors.As(err, &limitErr) ||
		errors.Is(err, adplatform.ErrPlatformUnavailable) || errors.Is(err, adplatform.ErrLimiterDeadline)
}

// platformStop is the error that stops a run because of what the platform
// said while doing what: it says what happens next.
func platformStop(what string, err error) error {
	var limitErr *adplatform.RateLimitError
	var authErr *adplatform.AuthError
	switch {
	case errors.As(err, &limitErr) && !limitErr.Until.IsZero():
		return fmt.Errorf("syncer: %s: the platform asked to wait until %s: the run stops, and nothing is sent before then; run again after it: %w",
			what, limitErr.Until.UTC().Format(time.RFC3339), err)
	case errors.Is(err, adplatform.ErrPlatformUnavailable):
		return fmt.Errorf("syncer: %s: the platform is unavailable: the run stops; run again to resume it: %w", what, err)
	case errors.As(err, &authErr):
		return fmt.Errorf("syncer: %s: the platform refused the credentials: %w", what, err)
	}
	return fmt.Errorf("syncer: %s: %w", what, err)
}

// permanent reports whether the error that stopped a run is one that
// running again, as it is, cannot help: the credentials were refused, the
// account was taken by another holder, or the listing failed for good (a
// 4xx, a body that breaks the contract). The run is then failed, not
// interrupted: the next run does not resume it.
func permanent(err error) bool {
	var authErr *adplatform.AuthError
	var apiErr *adplatform.APIError
	var decodeErr *adplatform.DecodeError
	switch {
	case errors.As(err, &authErr), errors.Is(err, store.ErrAccountLost):
		return true
	case errors.As(err, &apiErr):
		return !apiErr.Temporary() && apiErr.StatusCode != 429
	case errors.As(err, &decodeErr):
		return !errors.Is(err, adplatform.ErrMalformedResponse)
	}
	return false
}

// stoppedStatus is the Status of a run stopped by err (nil: the caller
// cancelled it), or that could not start.
func stoppedStatus(err error) Status {
	if err != nil && (permanent(err) || errors.Is(err, store.ErrAccountBusy)) {
		return StatusFailed
	}
	return StatusInterrupted
}

// cancelAfter calls cancel d after ctx is done, unless the returned stop
// is called first.
func cancelAfter(ctx context.Context, d time.Duration, cancel context.CancelFunc) (stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	stopWatching := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(d, cancel)
		}
	})
	return func() {
		stopWatching()
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
	}
}
