// Package backoff is adsync's one backoff: capped exponential with full
// jitter, shared by the platform client's retries (adplatform.DefaultBackoff),
// the syncer's patience with the store, and the PostgreSQL store's own
// retries, so that every retry loop of the module waits the same way.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Ceiling is lo·2^attempt, capped at hi (attempt 0 is the first retry). A
// negative attempt counts as 0; lo ≤ 0 gives 0.
func Ceiling(lo, hi time.Duration, attempt int) time.Duration {
	if lo <= 0 {
		return 0
	}
	if attempt < 0 {
		attempt = 0
	}
	if attempt >= 62 || lo<<attempt>>attempt != lo || lo<<attempt > hi {
		return hi
	}
	return lo << attempt
}

// Jittered is the wait before retry number attempt+1: drawn uniformly from
// [0, Ceiling(lo, hi, attempt)] ("full jitter"), so that callers that
// failed together do not retry together.
func Jittered(lo, hi time.Duration, attempt int) time.Duration {
	c := Ceiling(lo, hi, attempt)
	if c <= 0 {
		return 0
	}
	return rand.N(c + 1)
}
