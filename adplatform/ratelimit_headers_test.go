package adplatform

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 12, 11, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"60", time.Minute, true},
		{" 120 ", 2 * time.Minute, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"0.3", 300 * time.Millisecond, true},
		{"0.0000000001", 1, true}, // rounded up, never down to "now"
		{"007", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"99999999999999999999999", maxWait, true}, // too long to wait for, never negative
		{"1" + strings.Repeat("0", 400), maxWait, true},
		{"Wed, 11 Dec 2024 10:30:30 GMT", 30 * time.Second, true}, // IMF-fixdate, future
		{"Wednesday, 11-Dec-24 10:31:00 GMT", time.Minute, true},  // RFC 850
		{"Wed Dec 11 10:30:05 2024", 5 * time.Second, true},       // ANSI C asctime
		{"Wed, 11 Dec 2024 10:29:00 GMT", 0, true},                // past: now
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{"1e3", 0, false},
		{"Inf", 0, false},
		{"NaN", 0, false},
		{"0x10", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1,5", 0, false},
		{"5 seconds", 0, false},
		{"tomorrow", 0, false},
		{"Wed, 32 Dec 2024 10:30:30 GMT", 0, false},
		{"2024-12-11T10:31:00Z", 0, false}, // RFC 3339 is not an HTTP-date
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "60", "1.5", "Wed, 11 Dec 2024 10:30:30 GMT", "-1", "1e9", "99999999999999999999", "Inf", ""} {
		f.Add(s)
	}
	now := time.Date(2024, 12, 11, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %s: negative", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %s, false: a wait with ok false", s, d)
		}
		// Delta-seconds are digits with an optional fraction, nothing else.
		if _, isSeconds := parseSeconds(strings.TrimSpace(s)); isSeconds && strings.ContainsAny(s, "eE+-xXnN_") {
			t.Fatalf("parseSeconds accepted %q", s)
		}
	})
}

func TestRateLimitFull(t *testing.T) {
	t.Parallel()
	sent := time.Date(2024, 12, 11, 10, 30, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Time
		full   bool
	}{
		{"none", h(), time.Time{}, false},
		{"x-ratelimit left", h("X-RateLimit-Remaining", "3", "X-RateLimit-Reset", "20"), time.Time{}, false},
		{"x-ratelimit full", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "20"), sent.Add(20 * time.Second), true},
		{"ratelimit full", h("RateLimit-Remaining", "0", "RateLimit-Reset", "7"), sent.Add(7 * time.Second), true},
		{"fractional reset", h("RateLimit-Remaining", "0", "RateLimit-Reset", "0.25"), sent.Add(250 * time.Millisecond), true},
		{"epoch reset", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1733913060"), time.Unix(1733913060, 0), true},
		{"structured", h("RateLimit", "limit=10, remaining=0, reset=20"), sent.Add(20 * time.Second), true},
		{"structured left", h("RateLimit", "limit=10, remaining=4, reset=20"), time.Time{}, false},
		{"structured draft-8", h("RateLimit", `"default";r=0;t=30`), sent.Add(30 * time.Second), true},
		{"x- wins over the others", h("X-RateLimit-Remaining", "5", "RateLimit-Remaining", "0", "RateLimit-Reset", "9"), time.Time{}, false},
		{"full without reset", h("X-RateLimit-Remaining", "0"), time.Time{}, false},
		{"garbage reset", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "soon"), time.Time{}, false},
		{"negative reset", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "-5"), time.Time{}, false},
		{"NaN reset", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "NaN"), time.Time{}, false},
		{"absurd epoch", h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1e300"), time.Time{}, false},
	} {
		got, full := rateLimitFull(tc.header, sent)
		if full != tc.full || !got.Equal(tc.want) {
			t.Errorf("%s: rateLimitFull = %s, %v; want %s, %v", tc.name, got, full, tc.want, tc.full)
		}
	}
}
