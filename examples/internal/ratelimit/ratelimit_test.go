package ratelimit

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Rate
		wantErr string // a fragment of the error; "" for success
	}{
		{in: "10/1m", want: Rate{10, time.Minute}},
		{in: "10/2s", want: Rate{10, 2 * time.Second}},
		{in: " 10/3s ", want: Rate{10, 3 * time.Second}},
		{in: "100/1m30s", want: Rate{100, 90 * time.Second}},
		{in: "5/500ms", want: Rate{5, 500 * time.Millisecond}},
		{in: "1/1h", want: Rate{1, time.Hour}},
		{in: "10/s", want: Rate{10, time.Second}},
		{in: "10/m", want: Rate{10, time.Minute}},
		{in: "10/100ms", want: Rate{10, MinWindow}},
		{in: "", wantErr: "want N/DURATION"},
		{in: "10", wantErr: "want N/DURATION"},
		{in: "10 per minute", wantErr: "want N/DURATION"},
		{in: "/1m", wantErr: "the N of N/DURATION must be a whole number"},
		{in: "ten/1m", wantErr: "must be a whole number"},
		{in: "1.5/1m", wantErr: "must be a whole number"},
		{in: "99999999999999999999/1m", wantErr: "must be a whole number"},
		{in: "0/1m", wantErr: "at least 1"},
		{in: "-3/1m", wantErr: "at least 1"},
		{in: "10/", wantErr: "the DURATION of N/DURATION must be a duration"},
		{in: "10/minute", wantErr: "must be a duration"},
		{in: "10/1m/2", wantErr: "must be a duration"},
		{in: "10/0s", wantErr: "at least 100ms"},
		{in: "10/-1m", wantErr: "at least 100ms"},
		{in: "10/99ms", wantErr: "at least 100ms"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Parse(%q): %v", tt.in, err)
		case tt.wantErr == "" && got != tt.want:
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		case tt.wantErr != "" && err == nil:
			t.Errorf("Parse(%q) = %+v, want an error containing %q", tt.in, got, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("Parse(%q): error %q, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

// String must write what Parse reads back, and write it short.
func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate Rate
		want string
	}{
		{Rate{10, time.Minute}, "10/1m"},
		{Rate{10, 2 * time.Second}, "10/2s"},
		{Rate{10, 10 * time.Second}, "10/10s"},
		{Rate{10, 20 * time.Minute}, "10/20m"},
		{Rate{3, 90 * time.Second}, "3/1m30s"},
		{Rate{1, time.Hour}, "1/1h"},
		{Rate{1, 10 * time.Hour}, "1/10h"},
		{Rate{1, 90 * time.Minute}, "1/1h30m"},
		{Rate{7, 1500 * time.Millisecond}, "7/1.5s"},
		{Rate{7, 250 * time.Millisecond}, "7/250ms"},
	}
	for _, tt := range tests {
		if got := tt.rate.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.rate, got, tt.want)
		}
		back, err := Parse(tt.rate.String())
		if err != nil || back != tt.rate {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.rate.String(), back, err, tt.rate)
		}
	}
}

// As a flag.Value, a bad value is refused with the flag package's usual
// message and leaves the default in place.
func TestFlagValue(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rate := Rate{10, time.Minute}
	fs.Var(&rate, "rate", "the platform's limit")
	if err := fs.Parse([]string{"-rate", "10/0s"}); err == nil || !strings.Contains(err.Error(), `invalid value "10/0s" for flag -rate`) {
		t.Fatalf("Parse(-rate 10/0s) = %v, want an invalid value error", err)
	}
	if rate != (Rate{10, time.Minute}) {
		t.Fatalf("after a refused value, rate = %+v, want the default", rate)
	}
	if err := fs.Parse([]string{"-rate", "20/3s"}); err != nil {
		t.Fatal(err)
	}
	if rate != (Rate{20, 3 * time.Second}) {
		t.Fatalf("rate = %+v, want 20/3s", rate)
	}
}
