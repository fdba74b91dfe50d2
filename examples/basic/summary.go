package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/adsync/adsync/syncer"
)

// printSummary tells a human what the run did: its counts, each failure
// with its reason, the platform client's counters, and whether it was
// interrupted. runErr is the error the run returned, if any; persistent
// says whether the store outlives the process (a rerun resumes).
func printSummary(con *console, rep syncer.Report, runErr error, persistent bool) {
	var b strings.Builder
	if rep.RunID == "" { // the run could not even start
		fmt.Fprintf(&b, "basic: the run did not start: %v\n", runErr)
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
	fmt.Fprintf(&b, "basic: %s %s of account %q finished in %s\n", what, rep.RunID, rep.AccountID, rep.Duration.Round(10*time.Millisecond))
	fmt.Fprintf(&b, "  synced       %d of %d seen\n", rep.Synced, rep.Seen)
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
	fmt.Fprintf(&b, "  requests     %d (429s %d, retries %d, token refreshes %d)\n", rep.HTTPRequests, rep.HTTP429, rep.Retries, rep.TokenRefreshes)
	switch {
	case !rep.Interrupted:
		fmt.Fprintf(&b, "  interrupted  no\n")
	case persistent:
		fmt.Fprintf(&b, "  interrupted  yes: %d campaigns not finished; run again to resume\n", rep.Pending())
	default:
		fmt.Fprintf(&b, "  interrupted  yes: %d campaigns not finished (the in-memory store keeps nothing: a rerun starts over)\n", rep.Pending())
	}
	if runErr != nil {
		fmt.Fprintf(&b, "basic: the run stopped: %v\n", runErr)
	}
	con.Printf("%s", b.String())
}
