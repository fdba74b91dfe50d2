// Package ratelimit parses the -rate flag both example binaries take:
// a platform's rate limit written N/DURATION, such as 10/1m (the reference
// platform's 10 requests in any rolling minute) or 10/2s.
//
// It lives under examples/internal because only the binaries need it: the
// library takes the limit as numbers (adplatform.Options.RateLimit and
// RateWindow, adplatformtest.Options.RateLimit and RateWindow).
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinWindow is the shortest window accepted. The client adds a margin of
// at least 10ms to every wait for a slot; a window not well above that
// describes no real platform.
const MinWindow = 100 * time.Millisecond

// Rate is N requests in any rolling Window. It implements flag.Value, so
// that a binary can declare flag.Var(&rate, "rate", ...) with a default
// already in it.
type Rate struct {
	N      int
	Window time.Duration
}

// Parse reads a rate written N/DURATION: N a whole number of requests, at
// least 1, and DURATION a Go duration ("1m", "2s", "1m30s", "500ms") of at
// least MinWindow, or a bare unit ("s", "m", "h") meaning one of it.
func Parse(s string) (Rate, error) {
	count, window, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, errors.New("want N/DURATION, e.g. 10/1m or 10/2s")
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return Rate{}, fmt.Errorf("the N of N/DURATION must be a whole number, got %q", count)
	}
	if n < 1 {
		return Rate{}, fmt.Errorf("the N of N/DURATION must be at least 1, got %d", n)
	}
	switch window {
	case "s", "m", "h": // "10/s": per second
		window = "1" + window
	}
	d, err := time.ParseDuration(window)
	if err != nil {
		return Rate{}, fmt.Errorf("the DURATION of N/DURATION must be a duration such as 1m, 2s or 500ms, got %q", window)
	}
	if d < MinWindow {
		return Rate{}, fmt.Errorf("the DURATION of N/DURATION must be at least %s, got %s", MinWindow, d)
	}
	return Rate{N: n, Window: d}, nil
}

// String writes the rate as Parse reads it, with the window short:
// "10/1m", "10/2s", "5/1h30m".
func (r Rate) String() string {
	w := r.Window.String()
	// Duration.String writes 1m as "1m0s" and 1h as "1h0m0s".
	if strings.HasSuffix(w, "m0s") {
		w = strings.TrimSuffix(w, "0s")
	}
	if strings.HasSuffix(w, "h0m") {
		w = strings.TrimSuffix(w, "0m")
	}
	return fmt.Sprintf("%d/%s", r.N, w)
}

// Set parses s into r, for flag.Value.
func (r *Rate) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
