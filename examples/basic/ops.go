package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
)

// The subcommands.
const (
	cmdRun         = "run"
	cmdRuns        = "runs"
	cmdDeadLetters = "dead-letters"
	cmdPrune       = "prune"
)

// opConfig is what an operator's command asks for.
type opConfig struct {
	limit     int
	before    string        // runs: the page after this run
	after     string        // dead-letters: the page after this campaign id
	discard   string        // dead-letters discard ID
	olderThan time.Duration // prune
}

// isOp reports whether the command is one of the operator's.
func (c config) isOp() bool {
	return c.command == cmdRuns || c.command == cmdDeadLetters || c.command == cmdPrune
}

// Each operator command's usage.
var opUsage = map[string]string{
	cmdRuns: `Usage: basic runs [-limit N] [-before ID] [-json]

Lists the runs of the account ADSYNC_ACCOUNT_ID in DATABASE_URL, newest first:
kind (sync, or retry for -retry-failed), status, when it started, how long it
took, its counts and the error that stopped it. -before ID gives the page after
the run ID.

`,
	cmdDeadLetters: `Usage: basic dead-letters [-limit N] [-after ID] [-json]
       basic dead-letters discard ID

Lists the dead letters of the account ADSYNC_ACCOUNT_ID in DATABASE_URL: the
campaigns that still failed after their retries, by campaign id, with their
attempts, first and last failure, last error, and whether they were retired
(given up on). -retry-failed retries those not retired. -after ID gives the
page after the campaign ID. "discard ID" deletes the dead letter of campaign
ID: it is not retried any more (exit 1 when there is none).

`,
	cmdPrune: `Usage: basic prune -older-than D [-json]

Deletes the runs, of every account in DATABASE_URL, that finished more than D
ago (e.g. 720h). It never deletes a running run, an account's newest run of
each kind, nor its last completed sync run.

`,
}

// parseOp reads an operator command's flags and arguments.
func (c *config) parseOp(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("basic "+c.command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // flagError prints it for -h
	fs.BoolVar(&c.json, "json", c.json, "print one JSON object on stdout")
	switch c.command {
	case cmdRuns:
		fs.IntVar(&c.op.limit, "limit", 20, "list at most `N` runs")
		fs.StringVar(&c.op.before, "before", "", "list the runs older than the run `ID` (the next page)")
	case cmdDeadLetters:
		fs.IntVar(&c.op.limit, "limit", 50, "list at most `N` dead letters")
		fs.StringVar(&c.op.after, "after", "", "list the dead letters after the campaign `ID` (the next page)")
	case cmdPrune:
		fs.DurationVar(&c.op.olderThan, "older-than", 0, "delete the runs that finished more than `D` ago (required)")
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", c.command, flagError(err, stderr, fs, opUsage[c.command]))
	}
	rest := fs.Args()
	switch {
	case c.command == cmdDeadLetters && len(rest) > 0 && rest[0] == "discard":
		if len(rest) != 2 || rest[1] == "" {
			return fmt.Errorf("dead-letters discard: want one campaign ID, got %d arguments (-h for help)", len(rest)-1)
		}
		c.op.discard = rest[1]
	case len(rest) > 0:
		return fmt.Errorf("%s: unexpected argument %q (-h for help)", c.command, rest[0])
	}
	switch {
	case (c.command == cmdRuns || c.command == cmdDeadLetters) && c.op.limit < 1:
		return fmt.Errorf("%s: -limit: must be at least 1, got %d", c.command, c.op.limit)
	case c.command == cmdPrune && c.op.olderThan <= 0:
		return fmt.Errorf("prune: -older-than: want a positive duration such as 720h, got %s", c.op.olderThan)
	}
	return nil
}

// validateOp checks the environment an operator command needs.
func (c config) validateOp() error {
	if err := store.ValidateAccountID(c.accountID); err != nil {
		return fmt.Errorf("%s: %w", envAccountID, err)
	}
	if c.dbURL == "" {
		return fmt.Errorf("%s: needs %s: the in-memory store keeps nothing from earlier runs", c.command, envDatabase)
	}
	return nil
}

// runOp runs an operator command against the database and returns the exit
// status: 0 done, 1 the run or the dead letter named is not there, or the
// database failed the call; 2 the database could not be opened.
func runOp(ctx context.Context, cfg config, stdout io.Writer, con *console) int {
	st, closeStore, err := openPostgres(ctx, cfg, newLogger(cfg, con), false)
	if err != nil {
		con.Errorf("basic: %s: %v\n", cfg.command, err)
		return exitStartup
	}
	defer closeStore()

	var out any // the -json object
	var human func(w io.Writer)
	switch {
	case cfg.command == cmdRuns:
		runs, err := st.Runs(ctx, cfg.accountID, store.RunQuery{Before: cfg.op.before, Limit: cfg.op.limit})
		if err != nil {
			return opFailed(con, cfg, err)
		}
		out, human = runsOutput(cfg, runs)
	case cfg.command == cmdDeadLetters && cfg.op.discard != "":
		if err := st.DiscardDeadLetter(ctx, cfg.accountID, cfg.op.discard); err != nil {
			return opFailed(con, cfg, err)
		}
		out = map[string]string{"account_id": cfg.accountID, "discarded": cfg.op.discard}
		human = func(w io.Writer) {
			fmt.Fprintf(w, "basic: discarded the dead letter of campaign %q of account %q: it is not retried any more\n", cfg.op.discard, cfg.accountID)
		}
	case cfg.command == cmdDeadLetters:
		letters, err := st.DeadLetters(ctx, cfg.accountID, cfg.op.after, cfg.op.limit)
		if err != nil {
			return opFailed(con, cfg, err)
		}
		out, human = deadLettersOutput(cfg, letters)
	case cfg.command == cmdPrune:
		before := time.Now().Add(-cfg.op.olderThan).UTC().Truncate(time.Second)
		n, err := st.PruneRuns(ctx, before)
		if err != nil {
			return opFailed(con, cfg, err)
		}
		out = pruneJSON{Pruned: n, FinishedBefore: before}
		human = func(w io.Writer) {
			fmt.Fprintf(w, "basic: pruned %d runs (of every account) finished before %s (more than %s ago)\n", n, before.Format(time.RFC3339), cfg.op.olderThan)
		}
	}
	if cfg.json {
		b, err := json.Marshal(out)
		if err != nil { // cannot happen: plain data
			con.Errorf("basic: %s: encode: %v\n", cfg.command, err)
			return exitFailed
		}
		_, _ = fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	var b strings.Builder
	human(&b)
	// Tables go to stdout, where a human or a pipe wants them; the
	// messages ("basic: ...") to stderr with the rest.
	if strings.HasPrefix(b.String(), "basic: ") {
		con.Printf("%s", b.String())
	} else {
		_, _ = io.WriteString(stdout, b.String())
	}
	return exitOK
}

// opFailed prints why an operator command failed, and returns its status.
func opFailed(con *console, cfg config, err error) int {
	msg := envconfig.Redact(err.Error(), cfg.secrets())
	switch {
	case errors.Is(err, store.ErrNotFound) && cfg.op.discard != "":
		con.Errorf("basic: dead-letters discard: account %q has no dead letter of campaign %q (basic dead-letters lists them)\n", cfg.accountID, cfg.op.discard)
	case errors.Is(err, store.ErrNotFound) && cfg.op.before != "":
		con.Errorf("basic: runs: account %q has no run %q to list the runs before (basic runs lists them)\n", cfg.accountID, cfg.op.before)
	case errors.Is(err, postgres.ErrSchemaVersion):
		con.Errorf("basic: %s: %s\nbasic: a sync (basic run, with this DATABASE_URL) migrates the schema; the operator's commands only read it\n", cfg.command, msg)
	default:
		con.Errorf("basic: %s: %s\n", cfg.command, msg)
	}
	return exitFailed
}

// runJSON is a run in the -json output of basic runs.
type runJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Seen       int        `json:"seen"`
	Synced     int        `json:"synced"`
	Skipped    int        `json:"skipped"`
	Failed     int        `json:"failed"`
	Error      string     `json:"error,omitempty"`
}

// runsJSON is the -json output of basic runs.
type runsJSON struct {
	AccountID string    `json:"account_id"`
	Runs      []runJSON `json:"runs"`
	// NextBefore is the -before of the next page; "" on the last page.
	NextBefore string `json:"next_before"`
}

func runsOutput(cfg config, runs []store.Run) (runsJSON, func(io.Writer)) {
	out := runsJSON{AccountID: cfg.accountID, Runs: make([]runJSON, len(runs))}
	for i, r := range runs {
		out.Runs[i] = runJSON{ID: r.ID, Kind: string(r.Kind), Status: string(r.Status), StartedAt: r.StartedAt.UTC(),
			Seen: r.Seen, Synced: r.Synced, Skipped: r.Skipped, Failed: r.Failed, Error: envconfig.Redact(r.Error, cfg.secrets())}
		if !r.FinishedAt.IsZero() {
			at := r.FinishedAt.UTC()
			out.Runs[i].FinishedAt = &at
		}
	}
	if len(runs) == cfg.op.limit {
		out.NextBefore = runs[len(runs)-1].ID
	}
	return out, func(w io.Writer) {
		if len(runs) == 0 {
			fmt.Fprintf(w, "basic: account %q has no runs%s\n", cfg.accountID, pageNote(cfg.op.before, "before run"))
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tKIND\tSTATUS\tSTARTED\tTOOK\tSEEN\tSYNCED\tSKIPPED\tFAILED\tERROR")
		for _, r := range out.Runs {
			took := "running"
			if r.FinishedAt != nil {
				took = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Kind, r.Status, r.StartedAt.Format(time.RFC3339),
				took, r.Seen, r.Synced, r.Skipped, r.Failed, printable(r.Error))
		}
		_ = tw.Flush()
		if out.NextBefore != "" {
			fmt.Fprintf(w, "(more: basic runs -before %s)\n", out.NextBefore)
		}
	}
}

// deadLetterJSON is a dead letter in the -json output of basic
// dead-letters.
type deadLetterJSON struct {
	CampaignID    string     `json:"campaign_id"`
	RunID         string     `json:"run_id"`
	Error         string     `json:"error"`
	Attempts      int        `json:"attempts"`
	FirstFailedAt time.Time  `json:"first_failed_at"`
	LastFailedAt  time.Time  `json:"last_failed_at"`
	RetiredAt     *time.Time `json:"retired_at"`
	RetiredReason string     `json:"retired_reason,omitempty"`
}

// deadLettersJSON is the -json output of basic dead-letters.
type deadLettersJSON struct {
	AccountID   string           `json:"account_id"`
	DeadLetters []deadLetterJSON `json:"dead_letters"`
	// NextAfter is the -after of the next page; "" on the last page.
	NextAfter string `json:"next_after"`
}

func deadLettersOutput(cfg config, letters []store.DeadLetter) (deadLettersJSON, func(io.Writer)) {
	out := deadLettersJSON{AccountID: cfg.accountID, DeadLetters: make([]deadLetterJSON, len(letters))}
	for i, l := range letters {
		out.DeadLetters[i] = deadLetterJSON{CampaignID: l.CampaignID, RunID: l.RunID, Error: envconfig.Redact(l.Error, cfg.secrets()),
			Attempts: l.Attempts, FirstFailedAt: l.FirstFailedAt.UTC(), LastFailedAt: l.LastFailedAt.UTC(), RetiredReason: l.RetiredReason}
		if !l.RetiredAt.IsZero() {
			at := l.RetiredAt.UTC()
			out.DeadLetters[i].RetiredAt = &at
		}
	}
	if len(letters) == cfg.op.limit {
		out.NextAfter = letters[len(letters)-1].CampaignID
	}
	return out, func(w io.Writer) {
		if len(letters) == 0 {
			fmt.Fprintf(w, "basic: account %q has no dead letters%s\n", cfg.accountID, pageNote(cfg.op.after, "after campaign"))
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CAMPAIGN\tATTEMPTS\tFIRST FAILED\tLAST FAILED\tRETIRED\tERROR")
		for _, l := range out.DeadLetters {
			retired := "no"
			if l.RetiredAt != nil {
				retired = "yes: " + printable(l.RetiredReason)
			}
			// Campaign ids are the platform's arbitrary text: quoted.
			fmt.Fprintf(tw, "%q\t%d\t%s\t%s\t%s\t%s\n", l.CampaignID, l.Attempts, l.FirstFailedAt.Format(time.RFC3339),
				l.LastFailedAt.Format(time.RFC3339), retired, printable(l.Error))
		}
		_ = tw.Flush()
		if out.NextAfter != "" {
			fmt.Fprintf(w, "(more: basic dead-letters -after %s)\n", strconv.Quote(out.NextAfter))
		}
	}
}

// pruneJSON is the -json output of basic prune.
type pruneJSON struct {
	Pruned         int       `json:"pruned"`
	FinishedBefore time.Time `json:"finished_before"`
}

// pageNote says which page was empty.
func pageNote(cursor, what string) string {
	if cursor == "" {
		return ""
	}
	return fmt.Sprintf(" %s %q", what, cursor)
}

// printable is s, quoted when it holds anything a terminal would act on
// (control or bidi characters, a tab that would break the table).
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
