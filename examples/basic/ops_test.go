package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// opRuns is the -json output of basic runs, decoded.
type opRuns struct {
	AccountID string `json:"account_id"`
	Runs      []struct {
		ID         string     `json:"id"`
		Kind       string     `json:"kind"`
		Status     string     `json:"status"`
		StartedAt  time.Time  `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
		Synced     int        `json:"synced"`
		Failed     int        `json:"failed"`
	} `json:"runs"`
	NextBefore string `json:"next_before"`
}

// opLetters is the -json output of basic dead-letters, decoded.
type opLetters struct {
	AccountID   string `json:"account_id"`
	DeadLetters []struct {
		CampaignID string     `json:"campaign_id"`
		RunID      string     `json:"run_id"`
		Error      string     `json:"error"`
		Attempts   int        `json:"attempts"`
		RetiredAt  *time.Time `json:"retired_at"`
	} `json:"dead_letters"`
	NextAfter string `json:"next_after"`
}

// decodeOne checks that stdout is exactly one JSON object and decodes it
// into v.
func decodeOne(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(v); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object of the expected shape (%v):\n%s", err, stdout)
	}
}

// The operator's view against PostgreSQL: runs, dead-letters, discard and
// prune, human and -json, after real runs of the example.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	schema, dbURL, dbPassword := pgURL(t)
	db := envDatabase + "=" + dbURL
	acct := envAccountID + "=acme"
	env := append(startPlatform(t, "-campaigns", "20", "-rate", "100/1s", "-sync-latency", "10ms",
		"-sync-error", "campaign_3=400", "-sync-error", "campaign_7=422"), db, acct)
	ops := []string{db, acct} // the operator's commands need no platform

	// Two sync runs and a retry, each leaving campaigns 3 and 7 failed.
	var reports []report
	for _, args := range [][]string{{}, {}, {"-retry-failed"}} {
		p := runBasic(t, env, append([]string{"-json", "-rate", "100/1s"}, args...)...)
		if p.ExitCode() != exitFailed {
			t.Fatalf("basic %v: exit %d, want 1 (two campaigns fail)", args, p.ExitCode())
		}
		reports = append(reports, decodeReport(t, p.Stdout()))
	}

	t.Run("runs", func(t *testing.T) {
		p := runBasic(t, ops, "runs")
		if p.ExitCode() != exitOK {
			t.Fatalf("exit %d, want 0", p.ExitCode())
		}
		lines := strings.Split(strings.TrimSuffix(p.Stdout(), "\n"), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "RUN ") || !strings.HasPrefix(lines[1], reports[2].RunID+" ") ||
			!strings.HasPrefix(lines[3], reports[0].RunID+" ") {
			t.Fatalf("basic runs printed\n%s\nwant a header and the 3 runs, newest first", p.Stdout())
		}
		// Aligned: each column starts at the same place on every line.
		col := strings.Index(lines[0], "STATUS")
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l[col:], "completed ") {
				t.Errorf("the STATUS column is not aligned:\n%s", p.Stdout())
			}
		}
		if !strings.Contains(lines[1], " retry ") || !strings.Contains(lines[2], " sync ") {
			t.Errorf("kinds: want retry then sync:\n%s", p.Stdout())
		}
	})

	t.Run("runs -json, paged", func(t *testing.T) {
		var page1, page2 opRuns
		p := runBasic(t, ops, "-json", "runs", "-limit", "2")
		decodeOne(t, p.Stdout(), &page1)
		if p.ExitCode() != exitOK || page1.AccountID != "acme" || len(page1.Runs) != 2 || page1.Runs[0].ID != reports[2].RunID ||
			page1.Runs[0].Kind != "retry" || page1.Runs[1].Kind != "sync" || page1.Runs[1].Status != "completed" ||
			page1.Runs[1].FinishedAt == nil || page1.Runs[1].Synced != 18 || page1.Runs[1].Failed != 2 || page1.NextBefore != page1.Runs[1].ID {
			t.Fatalf("page 1: exit %d, %+v", p.ExitCode(), page1)
		}
		p = runBasic(t, ops, "runs", "-json", "-limit", "2", "-before", page1.NextBefore)
		decodeOne(t, p.Stdout(), &page2)
		if len(page2.Runs) != 1 || page2.Runs[0].ID != reports[0].RunID || page2.NextBefore != "" {
			t.Fatalf("page 2: %+v, want the first run, and no next page", page2)
		}
	})

	t.Run("runs before a missing run", func(t *testing.T) {
		p := runBasic(t, ops, "runs", "-before", "NOSUCHRUN")
		if want := `basic: runs: account "acme" has no run "NOSUCHRUN" to list the runs before (basic runs lists them)` + "\n"; p.ExitCode() != exitFailed || p.Stderr() != want {
			t.Errorf("exit %d, stderr %q; want 1, %q", p.ExitCode(), p.Stderr(), want)
		}
	})

	t.Run("dead-letters", func(t *testing.T) {
		p := runBasic(t, ops, "dead-letters")
		out := p.Stdout()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if p.ExitCode() != exitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "CAMPAIGN ") ||
			!strings.HasPrefix(lines[1], `"campaign_3" `) || !strings.HasPrefix(lines[2], `"campaign_7" `) {
			t.Fatalf("exit %d, stdout\n%s\nwant a header and campaigns 3 and 7", p.ExitCode(), out)
		}
		col := strings.Index(lines[0], "ATTEMPTS")
		if !strings.HasPrefix(lines[1][col:], "3 ") || !strings.Contains(lines[1], "400") || !strings.Contains(lines[2], "422") {
			t.Errorf("want 3 attempts each (two runs and a retry) and the statuses, aligned:\n%s", out)
		}
	})

	t.Run("dead-letters -json, paged", func(t *testing.T) {
		var page1, page2 opLetters
		decodeOne(t, runBasic(t, ops, "dead-letters", "-json", "-limit", "1").Stdout(), &page1)
		if len(page1.DeadLetters) != 1 || page1.DeadLetters[0].CampaignID != "campaign_3" || page1.DeadLetters[0].Attempts != 3 ||
			page1.DeadLetters[0].RunID != reports[2].RunID || !strings.Contains(page1.DeadLetters[0].Error, "400") ||
			page1.DeadLetters[0].RetiredAt != nil || page1.NextAfter != "campaign_3" {
			t.Fatalf("page 1: %+v", page1)
		}
		decodeOne(t, runBasic(t, ops, "dead-letters", "-json", "-limit", "1", "-after", page1.NextAfter).Stdout(), &page2)
		if len(page2.DeadLetters) != 1 || page2.DeadLetters[0].CampaignID != "campaign_7" {
			t.Fatalf("page 2: %+v", page2)
		}
	})

	t.Run("discard", func(t *testing.T) {
		p := runBasic(t, ops, "dead-letters", "discard", "campaign_3")
		if want := `basic: discarded the dead letter of campaign "campaign_3" of account "acme": it is not retried any more` + "\n"; p.ExitCode() != exitOK || p.Stderr() != want {
			t.Errorf("exit %d, stderr %q; want 0, %q", p.ExitCode(), p.Stderr(), want)
		}
		p = runBasic(t, ops, "dead-letters", "discard", "campaign_3")
		if want := `basic: dead-letters discard: account "acme" has no dead letter of campaign "campaign_3" (basic dead-letters lists them)` + "\n"; p.ExitCode() != exitFailed || p.Stderr() != want {
			t.Errorf("discard again: exit %d, stderr %q; want 1, %q", p.ExitCode(), p.Stderr(), want)
		}
		var left opLetters
		decodeOne(t, runBasic(t, ops, "-json", "dead-letters").Stdout(), &left)
		if len(left.DeadLetters) != 1 || left.DeadLetters[0].CampaignID != "campaign_7" {
			t.Errorf("after the discard: %+v, want campaign_7 alone", left)
		}
	})

	t.Run("prune", func(t *testing.T) {
		p := runBasic(t, ops, "prune", "-older-than", "1h", "-json")
		var got pruneJSON
		decodeOne(t, p.Stdout(), &got)
		if p.ExitCode() != exitOK || got.Pruned != 0 || time.Since(got.FinishedBefore) < 59*time.Minute {
			t.Fatalf("prune of runs an hour old, right after the runs: exit %d, %+v; want 0 pruned", p.ExitCode(), got)
		}
		if _, err := schema.DB.Exec(`UPDATE runs SET started_at = started_at - interval '2 days', finished_at = finished_at - interval '2 days'`); err != nil {
			t.Fatal(err)
		}
		// The first sync run goes; the last sync run (the last completed)
		// and the only retry run stay.
		p = runBasic(t, ops, "prune", "-older-than", "24h")
		if p.ExitCode() != exitOK || !strings.HasPrefix(p.Stderr(), "basic: pruned 1 runs (of every account) finished before ") {
			t.Fatalf("exit %d, stderr %q; want 1 pruned", p.ExitCode(), p.Stderr())
		}
		var runs opRuns
		decodeOne(t, runBasic(t, ops, "runs", "-json").Stdout(), &runs)
		if len(runs.Runs) != 2 || runs.Runs[0].ID != reports[2].RunID || runs.Runs[1].ID != reports[1].RunID {
			t.Errorf("runs after the prune: %+v, want the retry and the second sync", runs)
		}
	})

	t.Run("a database never synced", func(t *testing.T) {
		fresh, empty, _ := pgURL(t)
		p := runBasic(t, []string{envDatabase + "=" + empty}, "runs")
		if p.ExitCode() != exitFailed || !strings.Contains(p.Stderr(), "basic: runs: postgres: the database schema is not at this adsync's version") ||
			!strings.HasSuffix(p.Stderr(), "basic: a sync (basic run, with this DATABASE_URL) migrates the schema; the operator's commands only read it\n") {
			t.Errorf("exit %d, stderr %q; want 1, the schema not migrated, and how to migrate it", p.ExitCode(), p.Stderr())
		}
		var tables int
		if err := fresh.DB.Get(&tables, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, fresh.Name); err != nil || tables != 0 {
			t.Errorf("%d tables in the schema (%v): the operator's command must not migrate", tables, err)
		}
	})

	t.Run("no secret", func(t *testing.T) {
		for _, args := range [][]string{{"runs"}, {"-json", "runs"}, {"dead-letters"}, {"dead-letters", "-json"}, {"runs", "-before", "x"}} {
			p := runBasic(t, ops, args...)
			assertNoSecret(t, strings.Join(args, " "), p.Stdout()+p.Stderr(), dbPassword)
		}
	})
}
