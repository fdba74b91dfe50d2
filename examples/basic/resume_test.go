package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGINT mid-run: the run stops gracefully (exit 130, the report says
// interrupted, what was synced is stored), and a rerun with the same
// DATABASE_URL resumes it, skipping exactly what was synced.
func TestInterruptThenResume(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	env := []string{envDatabase + "=" + dbURL}

	// The embedded fake at 10 requests/s: 101 requests take 10 s, time to
	// interrupt in the middle.
	first := startBasic(t, env, "-json", "-rate", "10/1s")
	waitSynced(t, schema, defaultAccountID, 15, 30*time.Second)
	first.Signal(t, syscall.SIGINT)
	if code := first.Wait(t, runTimeout); code != exitInterrupted {
		t.Fatalf("exit status %d after SIGINT, want 130", code)
	}
	r1 := decodeReport(t, first.Stdout())
	if !r1.Interrupted || r1.Status != "interrupted" || r1.Total != 100 || r1.Synced < 15 || r1.Synced >= 100 || r1.Failed != 0 {
		t.Fatalf("first report %+v, want interrupted with 15-99 synced", r1)
	}
	if !strings.Contains(first.Stderr(), "interrupted  yes") || !strings.Contains(first.Stderr(), "run again to resume") ||
		!strings.Contains(first.Stderr(), fmt.Sprintf("synced       %d of 100\n", r1.Synced)) {
		t.Errorf("the summary does not say the run was interrupted:\n%s", first.Stderr())
	}
	stored := syncedRows(t, schema, defaultAccountID)
	if len(stored) != r1.Synced {
		t.Fatalf("%d campaigns stored synced, the report says %d", len(stored), r1.Synced)
	}

	second := runBasic(t, env, "-json", "-rate", "100/1s", "-concurrency", "25")
	if code := second.ExitCode(); code != exitOK {
		t.Fatalf("rerun: exit status %d, want 0", code)
	}
	r2 := decodeReport(t, second.Stdout())
	if !r2.Resumed || r2.RunID != r1.RunID || r2.Skipped != r1.Synced || r2.Synced != 100-r1.Synced || r2.Failed != 0 || r2.Interrupted {
		t.Fatalf("rerun report %+v, want run %s resumed, %d skipped, %d synced", r2, r1.RunID, r1.Synced, 100-r1.Synced)
	}
	assertResumed(t, stored, syncedRows(t, schema, defaultAccountID), 100)

}

// -fresh starts a new run even though the last one is unfinished: nothing
// is skipped.
func TestFreshIgnoresUnfinishedRun(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	env := []string{envDatabase + "=" + dbURL}
	first := startBasic(t, env, "-json", "-rate", "10/1s")
	waitSynced(t, schema, defaultAccountID, 5, 30*time.Second)
	first.Signal(t, syscall.SIGINT)
	if code := first.Wait(t, runTimeout); code != exitInterrupted {
		t.Fatalf("exit status %d after SIGINT, want 130", code)
	}
	r1 := decodeReport(t, first.Stdout())

	second := runBasic(t, env, "-json", "-rate", "100/1s", "-concurrency", "25", "-fresh")
	r2 := decodeReport(t, second.Stdout())
	if second.ExitCode() != exitOK || r2.Resumed || r2.RunID == r1.RunID || r2.Skipped != 0 || r2.Synced != 100 {
		t.Fatalf("-fresh run: exit %d, report %+v; want 0, a new run syncing all 100", second.ExitCode(), r2)
	}
}

// SIGKILL mid-run, against PostgreSQL and the fake platform as a process
// of its own that outlives the example: the rerun resumes, and does not
// sync again any campaign that was recorded synced.
func TestKillThenResume(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	env := append(startPlatform(t, "-rate", "20/1s", "-sync-latency", "100ms"), envDatabase+"="+dbURL, envAccountID+"=acme")

	first := startBasic(t, env, "-json", "-rate", "20/1s")
	waitSynced(t, schema, "acme", 20, 30*time.Second)
	first.Signal(t, syscall.SIGKILL)
	first.Wait(t, 10*time.Second)
	if out := first.Stdout(); out != "" {
		t.Fatalf("a killed run printed a report: %s", out)
	}
	stored := syncedRows(t, schema, "acme")
	if len(stored) >= 100 {
		t.Fatalf("the run finished before it was killed: %d synced", len(stored))
	}

	second := runBasic(t, env, "-json", "-rate", "20/1s")
	if code := second.ExitCode(); code != exitOK {
		t.Fatalf("rerun: exit status %d, want 0", code)
	}
	r := decodeReport(t, second.Stdout())
	if !r.Resumed || r.Skipped != len(stored) || r.Synced != 100-len(stored) || r.Failed != 0 {
		t.Fatalf("rerun report %+v, want resumed, %d skipped, %d synced", r, len(stored), 100-len(stored))
	}
	assertResumed(t, stored, syncedRows(t, schema, "acme"), 100)

	var status string
	if err := schema.DB.Get(&status, `SELECT status FROM runs WHERE account_id = 'acme' ORDER BY seq DESC LIMIT 1`); err != nil || status != "completed" {
		t.Errorf("the run's status is %q (%v), want completed", status, err)
	}
}

// assertResumed checks that after a resumed run every campaign is synced,
// and that those synced before it kept their sync time: none was synced
// twice.
func assertResumed(t *testing.T, before, after map[string]time.Time, total int) {
	t.Helper()
	if len(after) != total {
		t.Errorf("%d campaigns stored synced, want %d", len(after), total)
	}
	for id, at := range before {
		if !after[id].Equal(at) {
			t.Errorf("campaign %s was synced again: synced_at %s, then %s", id, at, after[id])
		}
	}
}

// Against the fake platform as a process and PostgreSQL, listing by pages
// of 10 (two of them answered 503 and retried, as on the reference), every
// campaign is stored, exactly.
func TestEveryCampaignStored(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	env := append(startPlatform(t, "-rate", "60/1s", "-sync-latency", "20ms"), envDatabase+"="+dbURL)
	// The fake's log of a request lags its writing by what a loaded CI
	// machine delays either process: a tenth of the window covers it, so
	// that "no 429" is checked, not left to luck.
	p := runBasic(t, env, "-json", "-rate", "60/1s", "-rate-margin", "100ms", "-page-size", "10")
	if code := p.ExitCode(); code != exitOK {
		t.Fatalf("exit status %d, want 0", code)
	}
	r := decodeReport(t, p.Stdout())
	if r.Seen != 100 || r.Synced != 100 || r.Failed != 0 || r.Retries < 2 || r.HTTP429 != 0 {
		t.Errorf("report %+v, want 100 seen and synced, the two 503s of the listing retried, no 429", r)
	}
	var rows []struct {
		ID     string `db:"id"`
		Name   string `db:"name"`
		Status string `db:"status"`
		Budget string `db:"budget"`
		Synced bool   `db:"synced"`
	}
	if err := schema.DB.Select(&rows, `SELECT id, name, status, budget::text AS budget, synced_at IS NOT NULL AS synced
		FROM campaigns WHERE account_id = 'default' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 100 {
		t.Fatalf("%d campaigns stored, want 100", len(rows))
	}
	seen := map[int]bool{}
	for _, row := range rows {
		// The fake's campaign k: "Campaign k", active, budget 1000+100k.
		var k int
		if _, err := fmt.Sscanf(row.ID, "campaign_%d", &k); err != nil || k < 1 || k > 100 || seen[k] || row.ID != fmt.Sprintf("campaign_%d", k) {
			t.Errorf("unexpected campaign %q stored", row.ID)
			continue
		}
		seen[k] = true
		wantName, wantBudget := fmt.Sprintf("Campaign %d", k), fmt.Sprint(1000+100*k)
		if row.Name != wantName || row.Status != "active" || row.Budget != wantBudget || !row.Synced {
			t.Errorf("campaign %s stored as %+v, want name %q, active, budget %s, synced", row.ID, row, wantName, wantBudget)
		}
	}
}

// -retry-failed re-syncs only the campaigns that failed before, from the
// dead letters the database kept.
func TestRetryFailed(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	db := envDatabase + "=" + dbURL

	broken := append(startPlatform(t, "-campaigns", "30", "-rate", "100/1s", "-sync-latency", "10ms",
		"-sync-error", "campaign_3=400", "-sync-error", "campaign_30=422"), db)
	p := runBasic(t, broken, "-json", "-rate", "100/1s")
	if r := decodeReport(t, p.Stdout()); p.ExitCode() != exitFailed || r.Failed != 2 || r.Synced != 28 {
		t.Fatalf("first run: exit %d, report %+v; want 1, 28 synced and 2 failed", p.ExitCode(), r)
	}

	mended := append(startPlatform(t, "-campaigns", "30", "-rate", "100/1s", "-sync-latency", "10ms"), db)
	p = runBasic(t, mended, "-json", "-rate", "100/1s", "-retry-failed")
	if code := p.ExitCode(); code != exitOK {
		t.Fatalf("-retry-failed: exit status %d, want 0", code)
	}
	if r := decodeReport(t, p.Stdout()); r.Seen != 2 || r.Synced != 2 || r.Failed != 0 {
		t.Fatalf("-retry-failed report %+v, want the 2 failed campaigns seen and synced", r)
	}
	if !strings.Contains(p.Stderr(), "  synced       2 of 2 dead letters\n") {
		t.Errorf("the summary does not count against the dead letters:\n%s", p.Stderr())
	}
	if n := len(syncedRows(t, schema, defaultAccountID)); n != 30 {
		t.Errorf("%d campaigns stored synced, want 30", n)
	}
	var letters int
	if err := schema.DB.Get(&letters, `SELECT count(*) FROM dead_letters`); err != nil || letters != 0 {
		t.Errorf("%d dead letters left (%v), want none", letters, err)
	}
}

// A second run of an account that a run holds (an overlapping cron, a
// second replica) exits 3 at once, saying the account is busy, and does
// nothing; the first goes on and completes.
func TestAccountBusy(t *testing.T) {
	t.Parallel()
	schema, dbURL, _ := pgURL(t)
	env := append(startPlatform(t, "-campaigns", "30", "-rate", "100/1s", "-sync-latency", "300ms"), envDatabase+"="+dbURL, envAccountID+"=acme")
	first := startBasic(t, env, "-json", "-rate", "100/1s", "-concurrency", "2")
	waitSynced(t, schema, "acme", 1, 30*time.Second)

	second := runBasic(t, env, "-json", "-rate", "100/1s")
	if code := second.ExitCode(); code != exitBusy {
		t.Errorf("second run: exit status %d, want 3", code)
	}
	if r := decodeReport(t, second.Stdout()); r.Status != "failed" || !strings.Contains(r.Error, "busy") || r.RunID != "" {
		t.Errorf("second run's report %+v, want no run, failed: the account busy", r)
	}
	if !strings.Contains(second.Stderr(), `account "acme" is busy`) {
		t.Errorf("the second run does not say the account is busy:\n%s", second.Stderr())
	}
	if code := first.Wait(t, runTimeout); code != exitOK {
		t.Errorf("first run: exit status %d, want 0", code)
	}
	if n := len(syncedRows(t, schema, "acme")); n != 30 {
		t.Errorf("%d campaigns synced, want 30", n)
	}
}

// -skip-synced-within D: a second run within D of the first skips every
// campaign the first synced, and calls no sync.
func TestSkipSyncedWithin(t *testing.T) {
	t.Parallel()
	_, dbURL, _ := pgURL(t)
	env := append(startPlatform(t, "-campaigns", "30", "-rate", "100/1s", "-sync-latency", "10ms"), envDatabase+"="+dbURL)
	first := runBasic(t, env, "-json", "-rate", "100/1s", "-skip-synced-within", "1h")
	if r := decodeReport(t, first.Stdout()); first.ExitCode() != exitOK || r.Synced != 30 || r.Skipped != 0 {
		t.Fatalf("first run: exit %d, report %+v; want 0, 30 synced", first.ExitCode(), r)
	}
	second := runBasic(t, env, "-json", "-rate", "100/1s", "-skip-synced-within", "1h")
	r := decodeReport(t, second.Stdout())
	if second.ExitCode() != exitOK || r.Resumed || r.Synced != 0 || r.Skipped != 30 || r.Status != "completed" {
		t.Fatalf("second run: exit %d, report %+v; want 0, a new run skipping all 30", second.ExitCode(), r)
	}
	if r.HTTPRequests > 3 { // a token, a list call, perhaps its retry: no sync
		t.Errorf("second run sent %d requests, want no sync call", r.HTTPRequests)
	}
}
