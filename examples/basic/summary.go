package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/adsync/adsync/syncer"
)

// printSummary tells a human what the run did: how it ended, its counts
// (of the account's total, when the platform said it), each failure with
// its reason, and the platform client's counters. persistent says whether
// the store outlives the process (a rerun resumes).
func printSummary(con *console, rep syncer.Report, persistent bool) {
	var b strings.Builder
	if rep.RunID == "" { // the run could not even start
		fmt.Fprintf(&b, "basic: the run did not start: %v\n", rep.Err)
		con.Printf("%s", b.String())
		return
	}
	what := "run"
	switch {
	case rep.Retry:
		what = "retry of the failed campaigns"
	case rep.Resumed:
		what = "run (resumed an unfinished one)"
	}
	fmt.Fprintf(&b, "basic: %s %s of account %q finished in %s: %s\n", what, rep.RunID, rep.AccountID,
		rep.Duration.Round(10*time.Millisecond), rep.Status)
	if rep.Note != "" {
		fmt.Fprintf(&b, "  note         %s\n", rep.Note)
	}
	of := fmt.Sprintf("%d seen", rep.Seen)
	if rep.Total > 0 {
		of = fmt.Sprint(rep.Total)
	}
	fmt.Fprintf(&b, "  synced       %d of %s\n", rep.Synced, of)
	fmt.Fprintf(&b, "  skipped      %d (synced already)\n", rep.Skipped)
	fmt.Fprintf(&b, "  failed       %d\n", rep.Failed)
	for _, f := range rep.Failures {
		// Ids are the platform's arbitrary text: quoted, so that control
		// or bidi characters cannot rewrite the terminal.
		fmt.Fprintf(&b, "    %q: %v\n", f.CampaignID, f.Err)
	}
	if more := rep.Failed - len(rep.Failures); more > 0 {
		fmt.Fprintf(&b, "    ... and %d more (kept as dead letters; -retry-failed retries them)\n", more)
	}
	if rep.Retired > 0 {
		fmt.Fprintf(&b, "  retired      %d dead letters (no longer listed, or failed too often)\n", rep.Retired)
	}
	fmt.Fprintf(&b, "  requests     %d (429s %d, retries %d, token refreshes %d)\n", rep.HTTPRequests, rep.HTTP429, rep.Retries, rep.TokenRefreshes)
	left := rep.Total - rep.Synced - rep.Skipped - rep.Failed
	if rep.Total == 0 {
		left = rep.Pending()
	}
	switch {
	case rep.Status != syncer.StatusInterrupted:
		fmt.Fprintf(&b, "  interrupted  no\n")
	case persistent:
		fmt.Fprintf(&b, "  interrupted  yes: %d campaigns not done; run again to resume\n", left)
	default:
		fmt.Fprintf(&b, "  interrupted  yes: %d campaigns not done (the in-memory store keeps nothing: a rerun starts over)\n", left)
	}
	if rep.Err != nil {
		fmt.Fprintf(&b, "basic: the run stopped: %v\n", rep.Err)
	}
	con.Printf("%s", b.String())
}
