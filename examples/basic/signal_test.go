package main

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// The first SIGINT stops the run gracefully: calls on the wire may finish
// (here they would take 20 s), so the example keeps running. A second
// SIGINT quits at once, with 130.
func TestSecondSignalQuitsAtOnce(t *testing.T) {
	t.Parallel()
	fake, base := startPlatformProc(t, "-rate", "100/1s", "-sync-latency", "20s", "-stats-interval", "100ms")
	p := startBasic(t, platformEnv(base, adplatformtest.DefaultPassword), "-json", "-rate", "100/1s")
	// The platform holds the sync calls: they are on the wire. (Once the
	// one list call is done, whatever is in flight is a sync.)
	fake.WaitStderr(t, regexp.MustCompile(`list [1-9]\d* \(429: \d+\), sync \d+ \(429: \d+\); tokens issued \d+; in flight (10|[1-9]);`), 30*time.Second)

	p.Signal(t, syscall.SIGINT)
	p.WaitStderr(t, regexp.MustCompile(`basic: interrupted: stopping`), 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if p.Exited() {
		t.Fatalf("the example exited (status %d) on the first SIGINT, while its calls were on the wire: not a graceful stop", p.ExitCode())
	}

	second := time.Now()
	p.Signal(t, syscall.SIGINT)
	if code := p.Wait(t, 10*time.Second); code != exitInterrupted {
		t.Fatalf("exit status %d after the second SIGINT, want 130", code)
	}
	if d := time.Since(second); d > 5*time.Second {
		t.Errorf("the second SIGINT took %s to end the example, want at once", d)
	}
	if !strings.Contains(p.Stderr(), "interrupted again: quitting now") {
		t.Errorf("stderr does not say it quit:\n%s", p.Stderr())
	}
}

// SIGTERM stops the run gracefully, like SIGINT: 130, and the report.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	p := startBasic(t, nil, "-json", "-rate", "10/1s")
	p.WaitStderr(t, regexp.MustCompile(`basic: syncing account`), 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, runTimeout); code != exitInterrupted {
		t.Fatalf("exit status %d after SIGTERM, want 130", code)
	}
	if r := decodeReport(t, p.Stdout()); !r.Interrupted || r.Synced == 0 || r.Synced == 100 {
		t.Errorf("report %+v, want an interrupted run that synced some", r)
	}
	if !strings.Contains(p.Stderr(), "the in-memory store keeps nothing") {
		t.Errorf("the summary does not say a rerun starts over with the memory store:\n%s", p.Stderr())
	}
}

// A run interrupted while the listing is part way (pages of 10, paced with
// the syncs): the report's total is the account's, from the platform, and
// the summary counts against it ("N of 100"), not against the campaigns
// seen so far.
func TestInterruptedPartlyListed(t *testing.T) {
	t.Parallel()
	env := startPlatform(t, "-rate", "10/1s", "-sync-latency", "50ms", "-fail-every-nth-list", "0")
	p := startBasic(t, env, "-json", "-rate", "10/1s", "-page-size", "10")
	p.WaitStderr(t, regexp.MustCompile(`progress: synced [1-9]\d*/`), 30*time.Second)
	p.Signal(t, syscall.SIGINT)
	if code := p.Wait(t, runTimeout); code != exitInterrupted {
		t.Fatalf("exit status %d after SIGINT, want 130", code)
	}
	r := decodeReport(t, p.Stdout())
	if r.Status != "interrupted" || r.Total != 100 || r.Seen >= 100 || r.Synced == 0 {
		t.Fatalf("report %+v, want interrupted with the listing part way, total 100", r)
	}
	for _, want := range []string{
		fmt.Sprintf("  synced       %d of 100\n", r.Synced),
		fmt.Sprintf("  interrupted  yes: %d campaigns not done (the in-memory store keeps nothing: a rerun starts over)\n", 100-r.Synced-r.Skipped-r.Failed),
	} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("the summary does not hold %q:\n%s", want, p.Stderr())
		}
	}
}
