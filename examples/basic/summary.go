package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// printSummary tells a human what the run did: how it ended, its counts
// (of the account's total, when the platform said it), each failure with
// its reason, and the platform client's counters; then, when the run did
// not complete, why (once) and what to do about it.
func printSummary(con *console, rep syncer.Report, cfg config) {
	if con.JSON() {
		summaryRecords(con, rep, cfg)
		return
	}
	var b strings.Builder
	if rep.RunID == "" { // the run could not even start
		fmt.Fprintf(&b, "basic: the run did not start: %v\n", rep.Err)
		if a := advice(rep.Err, cfg); a != "" {
			fmt.Fprintf(&b, "basic: %s\n", a)
		}
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
	fmt.Fprintf(&b, "  synced       %d of %s\n", rep.Synced, ofTotal(rep))
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
	switch rep.Status {
	case syncer.StatusCompleted, syncer.StatusCompletedWithFailures:
		fmt.Fprintf(&b, "  interrupted  no\n")
	case syncer.StatusInterrupted:
		fmt.Fprintf(&b, "  interrupted  yes: %s\n", notDone(rep, cfg.dbURL != ""))
	}
	if rep.Err != nil {
		verb := "stopped"
		if rep.Status == syncer.StatusFailed {
			verb = "failed"
		}
		fmt.Fprintf(&b, "basic: the run %s: %v\n", verb, rep.Err)
		if a := advice(rep.Err, cfg); a != "" {
			fmt.Fprintf(&b, "basic: %s\n", a)
		}
	}
	con.Printf("%s", b.String())
}

// ofTotal is what the synced count is out of: the account's total when the
// platform said it, else the campaigns seen of a listing that did not
// finish.
func ofTotal(rep syncer.Report) string {
	switch {
	case rep.Retry: // no listing: the dead letters are what it works through
		return fmt.Sprintf("%d dead letters", rep.Seen)
	case rep.Total > 0:
		return fmt.Sprint(rep.Total)
	case rep.Seen > 0:
		return fmt.Sprintf("%d seen (the listing did not finish)", rep.Seen)
	}
	return "? (nothing listed)"
}

// notDone says what an interrupted run left, and what a rerun does with it.
func notDone(rep syncer.Report, persistent bool) string {
	var left string
	switch {
	case rep.Retry:
		left = fmt.Sprintf("%d dead letters not retried", rep.Pending())
	case rep.Total > 0:
		left = fmt.Sprintf("%d campaigns not done", max(rep.Total-rep.Synced-rep.Skipped-rep.Failed, 0))
	case rep.Seen > 0:
		left = fmt.Sprintf("%d campaigns seen not done, and the listing did not finish", rep.Pending())
	default:
		left = "nothing listed yet"
	}
	if !persistent {
		return left + " (the in-memory store keeps nothing: a rerun starts over)"
	}
	return left + "; run again to resume"
}

// advice says what to do about the error that stopped a run, or that kept
// it from starting: what a person on call needs next. "" when the error
// says it all.
func advice(err error, cfg config) string {
	var (
		authErr *adplatform.AuthError
		rateErr *adplatform.RateLimitError
		apiErr  *adplatform.APIError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
	)
	// With the in-memory store a rerun starts over: nothing to resume.
	resumes := ""
	if cfg.dbURL != "" {
		resumes = "; the run resumes where it stopped"
	}
	switch {
	case err == nil:
		return ""
	case errors.As(err, &authErr):
		return fmt.Sprintf("the platform refused the credentials: check %s and %s; running again will not help until they are right",
			envEmail, envPassword)
	case errors.Is(err, store.ErrAccountBusy):
		return "another run (another process, an overlapping cron) holds the account: nothing was done; run again once it has finished"
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Sprintf("the database (%s) was unavailable: run again once it answers%s", envconfig.DescribeDB(cfg.dbURL), resumes)
	case errors.As(err, &certErr):
		return fmt.Sprintf("the platform at %s presented a TLS certificate this machine does not trust: check %s; running again will not help until it is trusted",
			platformHost(cfg), envAPIURL)
	case errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("cannot reach the platform at %s: check %s and that the platform is up; run again once it answers%s",
			platformHost(cfg), envAPIURL, resumes)
	case errors.Is(err, adplatform.ErrPlatformUnavailable):
		return fmt.Sprintf("the platform at %s was down for longer than the client waits: run again later%s", platformHost(cfg), resumes)
	case errors.As(err, &rateErr):
		return "the platform asked to wait longer than the client does: run again after the time it gave" + resumes
	case errors.As(err, &apiErr) && !apiErr.Temporary():
		return fmt.Sprintf("the platform refused the %s call (HTTP %d): running again will not help until what it says is fixed", apiErr.Endpoint, apiErr.StatusCode)
	case errors.As(err, &apiErr):
		return fmt.Sprintf("the platform kept failing (HTTP %d, %d attempts): run again later%s", apiErr.StatusCode, apiErr.Attempts, resumes)
	case errors.As(err, &netErr) && netErr.Timeout():
		if cfg.timeout > 0 {
			return fmt.Sprintf("the platform did not answer within -timeout %s, attempt after attempt: raise -timeout (the reference platform's sync takes about 2s)", cfg.timeout)
		}
		return "the platform did not answer in time, attempt after attempt: run again later" + resumes
	}
	return ""
}

// platformHost is the host:port of the platform the run talked to.
func platformHost(cfg config) string {
	u, err := url.Parse(cfg.apiURL)
	if err != nil || u.Host == "" {
		return "the embedded fake"
	}
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// summaryRecords is printSummary with -log-format json: a record of the
// run's end with its figures, one per failure listed, and one of the error
// with the advice.
func summaryRecords(con *console, rep syncer.Report, cfg config) {
	if rep.RunID != "" {
		con.Record(slog.LevelInfo, "summary", "run_id", rep.RunID, "account", rep.AccountID, "status", rep.Status,
			"retry", rep.Retry, "resumed", rep.Resumed, "note", rep.Note, "duration", rep.Duration.Round(time.Millisecond),
			"total", rep.Total, "seen", rep.Seen, "synced", rep.Synced, "skipped", rep.Skipped, "failed", rep.Failed,
			"retired", rep.Retired, "http_requests", rep.HTTPRequests, "http_429", rep.HTTP429, "retries", rep.Retries,
			"token_refreshes", rep.TokenRefreshes)
	}
	for _, f := range rep.Failures {
		con.Record(slog.LevelWarn, "campaign failed", "run_id", rep.RunID, "campaign_id", f.CampaignID, "err", envconfig.Redact(f.Err.Error(), cfg.secrets()))
	}
	if rep.Err != nil {
		msg := "the run stopped"
		switch {
		case rep.RunID == "":
			msg = "the run did not start"
		case rep.Status == syncer.StatusFailed:
			msg = "the run failed"
		}
		con.Record(slog.LevelError, msg, "run_id", rep.RunID, "account", rep.AccountID, "status", rep.Status,
			"err", envconfig.Redact(rep.Err.Error(), cfg.secrets()), "advice", advice(rep.Err, cfg))
	}
}
