package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The first ten minutes of a new user: the example with nothing set at all
// runs on the embedded fake and the memory store, says so, shows progress,
// syncs every campaign in 15-30 s (the fake's window is 2 s: 101 requests
// need 10 windows), and exits 0.
func TestDefaultRun(t *testing.T) {
	t.Parallel()
	p := runBasic(t, nil)
	elapsed := time.Since(p.Started)
	t.Logf("the default run took %s", elapsed.Round(time.Millisecond))
	if code := p.ExitCode(); code != exitOK {
		t.Fatalf("exit status %d, want 0", code)
	}
	stderr := p.Stderr()
	for _, want := range []string{
		"no AD_PLATFORM_API_URL: using the embedded fake platform",
		"time-compressed: 10 requests/2s",
		"client rate set to 10/2s",
		"no DATABASE_URL: using an in-memory store",
		": completed\n",
		"synced       100 of 100\n",
		"failed       0",
		"(429s 0,",
		"interrupted  no",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not hold %q", want)
		}
	}
	progress := regexp.MustCompile(`(?m)^progress: synced (\d+)/100, failed 0, skipped 0, in flight \d+, [\d.]+ campaigns/s, ETA \S+$`)
	if n := len(progress.FindAllString(stderr, -1)); n < 3 {
		t.Errorf("%d progress lines on stderr, want a few (one every 3s)", n)
	}
	if p.Stdout() != "" {
		t.Errorf("stdout without -json: %q, want nothing", p.Stdout())
	}
	// The fake allows 10 requests per 2 s: 101 take 10 full windows.
	if elapsed < 15*time.Second {
		t.Errorf("the run took %s: faster than the fake's rate limit allows; is it time-compressed as it says?", elapsed)
	}
	if elapsed > runTimeout {
		t.Errorf("the run took %s, want under a minute", elapsed)
	}
}

// -json: stdout is exactly one JSON object, the report, whatever else is
// said on stderr (debug logs included).
func TestJSONReport(t *testing.T) {
	t.Parallel()
	p := runBasic(t, nil, "-json", "-rate", "50/1s", "-concurrency", "25", "-log-level", "debug")
	if code := p.ExitCode(); code != exitOK {
		t.Fatalf("exit status %d, want 0", code)
	}
	r := decodeReport(t, p.Stdout())
	if r.Seen != 100 || r.Total != 100 || r.Synced != 100 || r.Failed != 0 || r.Skipped != 0 || r.Status != "completed" || r.Resumed || len(r.Failures) != 0 {
		t.Errorf("report %+v, want 100 seen and synced, nothing else", r)
	}
	if r.HTTP429 != 0 || r.HTTPRequests < 101 {
		t.Errorf("report: %d requests, %d 429s; want at least 101 and none", r.HTTPRequests, r.HTTP429)
	}
	if !strings.Contains(p.Stderr(), "level=DEBUG") {
		t.Errorf("no debug log on stderr with -log-level debug")
	}
}
