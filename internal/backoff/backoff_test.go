package backoff

import (
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  time.Duration
		attempt int
		want    time.Duration
	}{
		{100 * time.Millisecond, 5 * time.Second, -1, 100 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 0, 100 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 3, 800 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 6, 5 * time.Second},
		{100 * time.Millisecond, 5 * time.Second, 62, 5 * time.Second},
		{time.Hour, 2 * time.Hour, 40, 2 * time.Hour}, // lo<<40 overflows
		{0, time.Second, 3, 0},
	} {
		if got := Ceiling(tc.lo, tc.hi, tc.attempt); got != tc.want {
			t.Errorf("Ceiling(%v, %v, %d) = %v; want %v", tc.lo, tc.hi, tc.attempt, got, tc.want)
		}
	}
}

func TestJitteredStaysUnderTheCeilingAndSpreads(t *testing.T) {
	const lo, hi = 10 * time.Millisecond, time.Second
	for attempt := range 10 {
		ceiling := Ceiling(lo, hi, attempt)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := Jittered(lo, hi, attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("Jittered(attempt %d) = %v; want within [0, %v]", attempt, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("attempt %d: %d distinct waits in 200; want them spread (full jitter)", attempt, len(seen))
		}
	}
	if d := Jittered(0, hi, 3); d != 0 {
		t.Errorf("Jittered with lo 0 = %v; want 0", d)
	}
}
