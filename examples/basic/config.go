package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/examples/internal/ratelimit"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// The environment variables the example reads.
const (
	envAPIURL    = envconfig.APIURL
	envEmail     = envconfig.Email
	envPassword  = envconfig.Password
	envClientID  = "AD_PLATFORM_CLIENT_ID"
	envDatabase  = envconfig.Database
	envAccountID = "ADSYNC_ACCOUNT_ID"
)

// defaultAccountID keys the campaigns in the store when ADSYNC_ACCOUNT_ID
// is unset.
const defaultAccountID = "default"

// config is what the environment and the flags ask for, validated. It holds
// the password and the database URL: it is never printed whole.
type config struct {
	// From the environment. apiURL "" means the embedded fake platform,
	// dbURL "" the in-memory store.
	apiURL, email, password, clientID string
	dbURL                             string
	accountID                         string

	// command is the subcommand: "" or "run" for a sync, else one of the
	// operator's commands, whose arguments are in op.
	command string
	op      opConfig

	// From the flags. rateSet says whether -rate was given: with the
	// embedded fake, the default is the fake's compressed rate.
	rate    ratelimit.Rate
	rateSet bool
	// rateMargin is adplatform.Options.RateMargin; 0 is the client's
	// default, or with the embedded fake embeddedMargin.
	rateMargin  time.Duration
	concurrency int
	pageSize    int
	timeout     time.Duration
	fresh       bool
	retryFailed bool
	// skipSyncedWithin is syncer.Options.SkipSyncedWithin.
	skipSyncedWithin time.Duration
	json             bool
	progress         bool
	logLevel         slog.Level
	logFormat        string
}

// secrets are the values no output may show: the platform's password and
// the database URL's.
func (c config) secrets() []string { return envconfig.Secrets(c.password, c.dbURL) }

const usageHeader = `Usage: basic [flags] [run [flags]]
       basic [flags] runs [-limit N] [-before ID] [-json]
       basic [flags] dead-letters [-limit N] [-after ID] [-json]
       basic [flags] dead-letters discard ID
       basic [flags] prune -older-than D [-json]

Syncs one account's campaigns from the ad platform into a database: lists
every campaign, calls the platform's sync for each, stores each one, and
reports. A run that is interrupted (Ctrl-C, or killed) is resumed by the next
run with the same database, which skips what was already synced.

With nothing set, it runs on embedded defaults: a fake platform, time-
compressed so that the run takes about 20 s, and an in-memory store.

runs, dead-letters and prune are the operator's view of the database
(DATABASE_URL, ADSYNC_ACCOUNT_ID): the account's runs, newest first; its dead
letters (the campaigns that still failed after their retries); discarding one
(it is not retried any more); deleting the runs of every account finished
more than D ago (never the newest run of a kind, nor the last completed one).
basic COMMAND -h tells more.

Environment:
  AD_PLATFORM_API_URL    the platform's base URL; unset: the embedded fake
  AD_PLATFORM_EMAIL      the account's email (required with AD_PLATFORM_API_URL)
  AD_PLATFORM_PASSWORD   the account's password (required with AD_PLATFORM_API_URL;
                         never printed)
  AD_PLATFORM_CLIENT_ID  the X-Client-ID that keys the platform's rate limit
                         (default: derived from the email, stable per account)
  DATABASE_URL           a PostgreSQL URL (its search_path picks the schema);
                         unset: an in-memory store, gone at exit
  ADSYNC_ACCOUNT_ID      the account's key in the database (default "default")

Exit status:
  0    every campaign synced (status completed)
  1    some campaigns failed (status completed_with_failures: -retry-failed
       retries them), or the run stopped on its own before the end (status
       interrupted: the platform unreachable, down or not answering past the
       client's patience, the database past its budget; running again resumes),
       or it failed on what the platform answered (status failed: a 4xx, a
       listing it cannot read; running again as it is cannot help)
  2    a configuration or start-up error (flags, environment, database), or
       the platform refused the credentials (status failed: running again
       cannot help)
  3    the account is busy: another run holds it; nothing was done
  130  interrupted by SIGINT or SIGTERM (a second signal quits at once)
runs, dead-letters and prune: 0 done; 1 the run or dead letter named is not
there, or the database failed the call; 2 a usage error, no DATABASE_URL, or
a database that cannot be opened.

Flags:
`

// parseConfig reads the flags, then the environment through getenv. -h
// prints the usage on stderr and returns flag.ErrHelp; any other error
// names the flag or the variable at fault, says why in one line, and never
// holds a secret. Every limit of the libraries is checked here, before
// anything starts.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{rate: ratelimit.Rate{N: 10, Window: time.Minute}}
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	// The flag package prints a parse error followed by the whole usage,
	// which pushes the reason off screen: it prints nothing, and the
	// caller prints the error and a hint. -h prints the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on any error: flagError prints it for -h
	fs.Var(&c.rate, "rate", "the platform's rate limit, `N/DURATION` requests in any rolling window, e.g. 10/3s;\nwith the embedded fake, its compressed rate "+envconfig.FakeRate().String()+" unless set, and the fake's limit too")
	fs.DurationVar(&c.rateMargin, "rate-margin", 0, "the least time `D` added to every wait for a rate-limit slot, to cover the platform\nlogging requests later than they were sent (a busy platform, a long network path);\n0: the client's default, 1% of the window (at least 25ms), widened as it observes delay;\nwith the embedded fake, a tenth of the window unless set: the fake shares this process's CPU")
	fs.IntVar(&c.concurrency, "concurrency", 10, "sync calls in flight at once")
	fs.IntVar(&c.pageSize, "page-size", 100, "campaigns asked for per list call")
	fs.DurationVar(&c.timeout, "timeout", 0, "timeout of one attempt of a list or sync call\n(default: the client's, 10s for a list, 15s for a sync)")
	fs.BoolVar(&c.fresh, "fresh", false, "start a new run even if the last one is unfinished, instead of resuming it")
	fs.BoolVar(&c.retryFailed, "retry-failed", false, "only re-sync the campaigns that failed before (the dead letters)")
	fs.DurationVar(&c.skipSyncedWithin, "skip-synced-within", 0, "skip the campaigns synced successfully less than `D` ago (0: sync them all)")
	fs.BoolVar(&c.json, "json", false, "print the report as one JSON object on stdout (everything else goes to stderr)")
	fs.BoolVar(&c.progress, "progress", true, "show the run's progress on stderr")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelWarn, "`level` of the logs on stderr: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "`format` of the logs: text or json")
	if err := fs.Parse(args); err != nil {
		return c, flagError(err, stderr, fs, usageHeader)
	}
	if fs.NArg() > 0 {
		c.command = fs.Arg(0)
		rest := fs.Args()[1:]
		switch c.command {
		case cmdRun: // the default, named: its flags may follow it
			if err := fs.Parse(rest); err != nil {
				return c, flagError(err, stderr, fs, usageHeader)
			}
			if fs.NArg() > 0 {
				return c, fmt.Errorf("run: unexpected argument %q (flags only; -h for help)", fs.Arg(0))
			}
		case cmdRuns, cmdDeadLetters, cmdPrune:
			if err := c.parseOp(rest, stderr); err != nil {
				return c, err
			}
		default:
			return c, fmt.Errorf("unexpected argument %q (a command is one of run, runs, dead-letters, prune; -h for help)", c.command)
		}
	}
	fs.Visit(func(f *flag.Flag) { c.rateSet = c.rateSet || f.Name == "rate" })

	c.apiURL, c.email, c.password = getenv(envAPIURL), getenv(envEmail), getenv(envPassword)
	c.clientID, c.dbURL, c.accountID = getenv(envClientID), getenv(envDatabase), getenv(envAccountID)
	if c.accountID == "" {
		c.accountID = defaultAccountID
	}
	if c.isOp() {
		return c, c.validateOp()
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	return c, c.checkOptions()
}

// flagError is the error of a flag set's Parse: for -h, the usage printed
// on stderr and flag.ErrHelp; else the flag package's one-line reason with
// a hint.
func flagError(err error, stderr io.Writer, fs *flag.FlagSet, usage string) error {
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stderr)
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		return err
	}
	return fmt.Errorf("%v (-h for help)", err)
}

// validate checks what the libraries cannot name the way the user wrote it.
func (c config) validate() error {
	switch {
	case c.concurrency < 1:
		return fmt.Errorf("-concurrency: must be at least 1, got %d", c.concurrency)
	case c.pageSize < 1:
		return fmt.Errorf("-page-size: must be at least 1, got %d", c.pageSize)
	case c.timeout < 0:
		return fmt.Errorf("-timeout: must not be negative, got %s", c.timeout)
	case c.skipSyncedWithin < 0:
		return fmt.Errorf("-skip-synced-within: must not be negative, got %s", c.skipSyncedWithin)
	case c.fresh && c.retryFailed:
		return errors.New("-fresh and -retry-failed do not go together: -retry-failed starts no run, it retries the failed campaigns")
	case c.logFormat != "text" && c.logFormat != "json":
		return fmt.Errorf("-log-format: want text or json, got %q", c.logFormat)
	}
	if err := store.ValidateAccountID(c.accountID); err != nil {
		return fmt.Errorf("%s: %w", envAccountID, err)
	}
	return envconfig.CheckPlatform(c.apiURL, c.email, c.password)
}

// effectiveRate is the rate the client is given: -rate, or with the
// embedded fake the fake's unless -rate is set.
func (c config) effectiveRate() ratelimit.Rate {
	if c.apiURL == "" && !c.rateSet {
		return envconfig.FakeRate()
	}
	return c.rate
}

// clientOptions are the platform client's options the flags set.
func (c config) clientOptions(rate ratelimit.Rate, log *slog.Logger) adplatform.Options {
	margin := c.rateMargin
	if margin == 0 && c.apiURL == "" {
		margin = envconfig.FakeMargin(rate)
	}
	return adplatform.Options{
		ClientID:    c.clientID,
		PageSize:    c.pageSize,
		RateLimit:   rate.N,
		RateWindow:  rate.Window,
		RateMargin:  margin,
		ListTimeout: c.timeout,
		SyncTimeout: c.timeout,
		Logger:      log,
	}
}

// syncerOptions are the syncer's options the flags set.
func (c config) syncerOptions(log *slog.Logger) syncer.Options {
	return syncer.Options{
		AccountID:        c.accountID,
		Concurrency:      c.concurrency,
		Fresh:            c.fresh,
		SkipSyncedWithin: c.skipSyncedWithin,
		Logger:           log,
	}
}

// platformFlags and syncerFlags name the flag or the variable that sets
// each library option the flags set.
var (
	platformFlags = map[string]string{
		"PageSize":    "-page-size",
		"RateLimit":   "-rate",
		"RateWindow":  "-rate",
		"RateMargin":  "-rate-margin",
		"ListTimeout": "-timeout",
		"SyncTimeout": "-timeout",
		"ClientID":    envClientID,
	}
	syncerFlags = map[string]string{
		"Concurrency":      "-concurrency",
		"SkipSyncedWithin": "-skip-synced-within",
		"AccountID":        envAccountID,
	}
)

// checkOptions has the libraries check their options before anything
// starts (a database opened, the embedded fake started): a client on a
// placeholder URL and a syncer on an in-memory store, neither of which
// does anything until called. An error names the flag, not the library's
// field; the limits stay the libraries' own.
func (c config) checkOptions() error {
	client, err := adplatform.New("http://127.0.0.1", adplatform.StaticCredentials("check@example.com", "check"), c.clientOptions(c.effectiveRate(), nil))
	if err == nil {
		client.CloseIdleConnections()
		_, err = syncer.New(client, memory.New(), c.syncerOptions(nil))
	}
	var pe *adplatform.OptionError
	var se *syncer.OptionError
	switch {
	case errors.As(err, &pe) && platformFlags[pe.Field] != "":
		return fmt.Errorf("%s: %w", platformFlags[pe.Field], pe.Err)
	case errors.As(err, &se) && syncerFlags[se.Field] != "":
		return fmt.Errorf("%s: %w", syncerFlags[se.Field], se.Err)
	}
	return err
}
