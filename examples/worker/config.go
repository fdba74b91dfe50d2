package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/examples/internal/ratelimit"
	"github.com/adsync/adsync/store"
)

// The environment variables the worker reads: examples/basic's.
const (
	envDatabase = envconfig.Database
	envAPIURL   = envconfig.APIURL
	envEmail    = envconfig.Email
	envPassword = envconfig.Password
)

// config is what the environment and the flags ask for, validated. It holds
// the password and the database URL: it is never printed whole.
type config struct {
	dbURL                   string
	apiURL, email, password string
	accounts                []string
	every                   time.Duration
	workers                 int
	rate                    ratelimit.Rate
	rateSet                 bool
	rateMargin              time.Duration
	once                    bool
	logLevel                slog.Level
	logFormat               string
	metricsAddr             string
	healthyWithin           time.Duration
	jobTimeout, gracePeriod time.Duration
	softStop, pollInterval  time.Duration
	reconcile               time.Duration
	name                    string
	concurrency             int
}

const usageHeader = `Usage: worker [flags]

Syncs many ad accounts on a schedule, from as many processes (replicas) as
you run against one PostgreSQL: each account is synced by one process at a
time, again every -every, and a process that dies has its accounts taken
over by the others. Jobs are River's (github.com/riverqueue/river).

Environment:
  DATABASE_URL          a PostgreSQL URL (required: River's jobs and adsync's
                        tables live there; its search_path picks the schema)
  AD_PLATFORM_API_URL   the platform's base URL; unset: an embedded fake,
                        time-compressed (a demo: each process has its own)
  AD_PLATFORM_EMAIL     the accounts' email (required with AD_PLATFORM_API_URL)
  AD_PLATFORM_PASSWORD  their password (required with AD_PLATFORM_API_URL;
                        never printed)

Each account id of -accounts is also its X-Client-ID, the key of the
platform's rate limit. A replica cancels the job of an account missing from
its -accounts (it was removed); while replicas disagree, during a rolling
change, those that have it enqueue it again every -reconcile. The first SIGINT or SIGTERM stops gracefully (River's
soft stop, then the runs' grace period: what is stopped is resumed by
another process at once); a second one quits at once.

Exit status: 0 stopped by a signal, or -once done; 1 a failure after the
start (the database lost, River failing); 2 a configuration or start-up
error.

Flags:
`

// parseConfig reads the flags, then the environment through getenv. -h
// prints the usage and returns flag.ErrHelp; any other error names the flag
// or the variable at fault, and never holds a secret.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{rate: ratelimit.Rate{N: 10, Window: time.Minute}}
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	var accounts string
	fs.StringVar(&accounts, "accounts", "acme,globex,initech", "the accounts to sync, `a,b,c`; each id is also the account's client id")
	fs.DurationVar(&c.every, "every", time.Hour, "pause between the end of an account's run and its next one (0: sync once)")
	fs.IntVar(&c.workers, "workers", 10, "accounts this process syncs at once (River's MaxWorkers)")
	fs.Var(&c.rate, "rate", "the platform's rate limit per account, `N/DURATION` requests in any rolling window;\nwith the embedded fake, its compressed rate "+fakeRate().String()+" unless set")
	fs.DurationVar(&c.rateMargin, "rate-margin", 0, "least margin the clients add to every wait for a rate-limit slot (default: the client's, 1% of the window, at least 25ms;\nwith the embedded fake, a tenth of the window: it runs in this process)")
	fs.BoolVar(&c.once, "once", false, "enqueue the accounts, work until each has completed a sync (whichever process ran it), then exit 0")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "`level` of the logs on stderr: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "`format` of the logs: text or json")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics (Prometheus) and /healthz on this `address`, e.g. :9090 (default: none)")
	fs.DurationVar(&c.healthyWithin, "healthy-within", 0, "/healthz is 200 when every account completed a run this recently (default 2×-every)")
	fs.DurationVar(&c.jobTimeout, "job-timeout", time.Hour, "longest run of one account before it is stopped and resumed; with -grace-period it sets the takeover time of a dead process's accounts")
	fs.DurationVar(&c.gracePeriod, "grace-period", 30*time.Second, "how long calls on the wire may finish when a run is stopped")
	fs.DurationVar(&c.softStop, "soft-stop", 10*time.Second, "on SIGINT/SIGTERM, how long running syncs may go on before they are stopped (then -grace-period)")
	fs.DurationVar(&c.pollInterval, "poll-interval", time.Second, "how often River looks for jobs (lib/pq: no LISTEN/NOTIFY)")
	fs.DurationVar(&c.reconcile, "reconcile", time.Minute, "how often the accounts are enqueued again (those with a job are left alone): what repairs\nan account whose job a replica with an older -accounts cancelled (0: only at start)")
	fs.IntVar(&c.concurrency, "concurrency", 10, "sync calls in flight at once per account")
	fs.StringVar(&c.name, "name", fmt.Sprintf("%s-%d", host, os.Getpid()), "this process's `name`: River's client id and part of the User-Agent")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags only; -h for help)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { c.rateSet = c.rateSet || f.Name == "rate" })
	for _, a := range strings.Split(accounts, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.accounts = append(c.accounts, a)
		}
	}
	if c.healthyWithin == 0 {
		c.healthyWithin = 2 * c.every
	}
	c.dbURL, c.apiURL, c.email, c.password = getenv(envDatabase), getenv(envAPIURL), getenv(envEmail), getenv(envPassword)
	return c, c.validate()
}

// validate checks what the libraries cannot name the way the user wrote it.
func (c config) validate() error {
	switch {
	case len(c.accounts) == 0:
		return errors.New("-accounts: no account given")
	case c.every < 0:
		return fmt.Errorf("-every: must not be negative, got %s", c.every)
	case c.workers < 1:
		return fmt.Errorf("-workers: must be at least 1, got %d", c.workers)
	case c.concurrency < 1:
		return fmt.Errorf("-concurrency: must be at least 1, got %d", c.concurrency)
	case c.jobTimeout <= 0:
		return fmt.Errorf("-job-timeout: must be positive, got %s", c.jobTimeout)
	case c.gracePeriod <= 0:
		return fmt.Errorf("-grace-period: must be positive, got %s", c.gracePeriod)
	case c.softStop < 0:
		return fmt.Errorf("-soft-stop: must not be negative, got %s", c.softStop)
	case c.reconcile < 0:
		return fmt.Errorf("-reconcile: must not be negative, got %s", c.reconcile)
	case c.rateMargin < 0:
		return fmt.Errorf("-rate-margin: must not be negative, got %s", c.rateMargin)
	case c.pollInterval <= 0:
		return fmt.Errorf("-poll-interval: must be positive, got %s", c.pollInterval)
	case c.healthyWithin < 0:
		return fmt.Errorf("-healthy-within: must not be negative, got %s", c.healthyWithin)
	case c.healthyWithin == 0 && c.metricsAddr != "":
		return errors.New("-healthy-within: needed with -every 0 and -metrics-addr: how recent must a completed run be?")
	case c.logFormat != "text" && c.logFormat != "json":
		return fmt.Errorf("-log-format: want text or json, got %q", c.logFormat)
	case c.name == "" || strings.ContainsAny(c.name, "\r\n"):
		return errors.New("-name: must be a non-empty line")
	}
	seen := map[string]bool{}
	for _, a := range c.accounts {
		if err := store.ValidateAccountID(a); err != nil {
			return fmt.Errorf("-accounts: %q: %w", a, err)
		}
		if seen[a] {
			return fmt.Errorf("-accounts: %q given twice", a)
		}
		seen[a] = true
	}
	if c.dbURL == "" {
		return fmt.Errorf("%s not set: the worker keeps River's jobs and the campaigns in PostgreSQL (e.g. postgres://user@host:5432/db?sslmode=disable)", envDatabase)
	}
	return envconfig.CheckPlatform(c.apiURL, c.email, c.password)
}

// secrets are the values no output may show: the platform's password and
// the database URL's.
func (c config) secrets() []string { return envconfig.Secrets(c.password, c.dbURL) }
