package adplatform

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxWait stands for "longer than anyone will wait": a Retry-After too
// large for a Duration becomes this, which exceeds any MaxRateLimitWait.
const maxWait = time.Duration(math.MaxInt64)

// parseRetryAfter reads a Retry-After value: delta-seconds (fractional
// accepted, as some platforms send "1.5") or an HTTP-date. A date in the
// past means "now" (0). ok is false for anything else.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// parseSeconds reads a non-negative decimal number of seconds, digits with
// an optional fraction: nothing else (no sign, exponent, "Inf" or "NaN",
// which strconv.ParseFloat would take). Values too large for a Duration
// are maxWait.
func parseSeconds(v string) (time.Duration, bool) {
	intPart, frac, hasDot := strings.Cut(v, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f*float64(time.Second) >= float64(math.MaxInt64) {
		// ParseFloat only fails on range here: a number this large is
		// still a (very long) wait.
		return maxWait, true
	}
	return time.Duration(math.Ceil(f * float64(time.Second))), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// epochThreshold tells a Reset header's two conventions apart: a value
// above it (2001-09-09 as Unix seconds) is a moment, below it a delay.
const epochThreshold = 1e9

// rateLimitFull reads the X-RateLimit-*, RateLimit-* and structured
// RateLimit headers. When they say no request is left in the window, it
// returns when the window frees: sent + reset (reset in delta-seconds), or
// the epoch second reset names when it is that large.
func rateLimitFull(h http.Header, sent time.Time) (until time.Time, full bool) {
	remaining, reset := h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset")
	if remaining == "" {
		remaining, reset = h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset")
	}
	if remaining == "" {
		// IETF draft: "RateLimit: limit=10, remaining=0, reset=20", or
		// the later `"policy";r=0;t=20`.
		for _, field := range strings.FieldsFunc(h.Get("RateLimit"), func(r rune) bool { return r == ',' || r == ';' }) {
			k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "remaining", "r":
				remaining = strings.TrimSpace(v)
			case "reset", "t":
				reset = strings.TrimSpace(v)
			}
		}
	}
	if strings.TrimSpace(remaining) != "0" {
		return time.Time{}, false
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(reset), 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
		return time.Time{}, false
	}
	if secs > epochThreshold {
		if secs > math.MaxInt64/float64(time.Second) {
			return time.Time{}, false
		}
		return time.Unix(0, int64(secs*float64(time.Second))), true
	}
	return sent.Add(time.Duration(math.Ceil(secs * float64(time.Second)))), true
}
