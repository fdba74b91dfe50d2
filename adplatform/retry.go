package adplatform

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/adsync/adsync/internal/backoff"
)

// retryableStatuses are the statuses a call retries after a backoff, up
// to Options.MaxRetries times: they say the platform (or the gateway in
// front of it) failed this once. A 429 is retried too, but after the wait
// it asks for; every other status is final. The package documentation
// lists these same statuses, and a test keeps the two in step.
var retryableStatuses = []int{
	http.StatusRequestTimeout,      // 408
	http.StatusInternalServerError, // 500
	http.StatusBadGateway,          // 502
	http.StatusServiceUnavailable,  // 503
	http.StatusGatewayTimeout,      // 504
}

// DefaultRetryPolicy is the retry policy of a [Client] (a
// go-retryablehttp CheckRetry), exported so that an Options.CheckRetry of
// your own can defer to it. It retries:
//
//   - a failure without a response that may pass (a timeout, a refused or
//     reset connection, a body cut short), but not one that cannot (a
//     certificate error, an unknown host, a body that is well-formed but
//     breaks the contract);
//   - 408, 500, 502, 503 and 504;
//   - a 429 on an API endpoint, unless the platform asks to wait longer
//     than Options.MaxRateLimitWait (the wait itself happens in the
//     limiter);
//   - a 401 on an API endpoint once per call, with a new token.
//
// It never retries once ctx is done. It makes no decision of its own
// about how often: go-retryablehttp bounds the attempts by
// Options.MaxRetries. Whatever the policy, the client sends no retry once
// the call's admission context (see [WithAdmission]) is done.
func DefaultRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	cl := callFrom(ctx)
	if err != nil {
		var perm *permanentError
		if errors.As(err, &perm) || isLimiterDeadline(err) || errors.Is(err, ErrPlatformUnavailable) {
			return false, nil
		}
		_, retry := transientReason(err)
		return retry, nil
	}
	api := cl == nil || cl.endpoint != EndpointAuth
	switch status := resp.StatusCode; {
	case status >= 200 && status < 300:
		return false, nil
	case status == http.StatusTooManyRequests && api:
		if until, ok := blockedUntil(cl); ok && time.Until(until) > maxRateLimitWait(cl) {
			return false, nil // the client stays closed until then
		}
		return true, nil
	case status == http.StatusUnauthorized && api && cl != nil:
		if cl.reauthed {
			return false, nil
		}
		cl.reauthed = true
		return true, nil
	case slices.Contains(retryableStatuses, status):
		// A Retry-After that outlasts the caller's deadline is not slept
		// in vain: the call fails now, with this answer as its cause.
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && cl != nil {
			if dl, has := ctx.Deadline(); has && time.Now().Add(minDuration(d, cl.client.cfg.backoffMax)).After(dl) {
				return false, nil
			}
		}
		return true, nil
	case status == http.StatusTooManyRequests:
		// The token endpoint is not rate-limited: a 429 there is a
		// passing failure of whatever stands in front of it.
		return true, nil
	}
	return false, nil
}

func blockedUntil(cl *call) (time.Time, bool) {
	if cl == nil || cl.client == nil {
		return time.Time{}, false
	}
	return cl.client.cfg.limiter.BlockedUntil(), true
}

func maxRateLimitWait(cl *call) time.Duration { return cl.client.cfg.maxRateLimitWait }

// DefaultBackoff is the backoff of a [Client] (a go-retryablehttp
// Backoff), exported so that an Options.Backoff of your own can defer to
// it: "full jitter", a wait drawn uniformly from [0, min(max,
// min·2^attempt)], so that calls failing together do not retry together.
// A Retry-After header on the response is honoured up to max. After a 429
// it is 0: the client's limiter holds the next attempt until the wait the
// platform asked for is over, for every call at once.
func DefaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if resp.StatusCode == http.StatusTooManyRequests && !isAuthResponse(resp) {
			return 0
		}
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return minDuration(d, max)
		}
	}
	return backoff.Jittered(min, max, attempt)
}

func isAuthResponse(resp *http.Response) bool {
	if resp.Request == nil {
		return false
	}
	cl := callFrom(resp.Request.Context())
	return cl != nil && cl.endpoint == EndpointAuth
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// checkRetry wraps the configured policy: no retry once admission ended,
// and a retry decision is remembered, for the Retrying event the next
// attempt reports.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, perr := c.cfg.checkRetry(ctx, resp, err)
	if cl := callFrom(ctx); cl != nil && retry {
		if cl.isStopping() {
			cl.stoppedRetry = true
			return false, nil
		}
		cl.retryWhy = lastFailure(resp, err)
	}
	return retry, perr
}

// requestHook runs before every attempt (go-retryablehttp's
// RequestLogHook): before a retry it reports the retry, with the wait
// that preceded it.
func (c *Client) requestHook(_ retryablehttp.Logger, req *http.Request, retry int) {
	cl := callFrom(req.Context())
	if retry == 0 || cl == nil {
		return
	}
	c.stats.retries.Add(1)
	var wait time.Duration
	if !cl.lastEnd.IsZero() {
		wait = time.Since(cl.lastEnd)
	}
	info := RetryInfo{Endpoint: cl.endpoint, Attempt: cl.attempts, Status: cl.lastStatus, Reason: cl.retryWhy, Wait: wait}
	cl.obs.Retrying(info)
	c.cfg.logger.Info("adplatform: retrying", "endpoint", cl.endpoint, "attempt", cl.attempts+1,
		"reason", cl.retryWhy, "after", wait.Round(time.Millisecond).String())
}
