// Command basic is adsync's example: it syncs one account's campaigns from
// the ad platform into a database, showing its progress, and reports.
//
// With nothing set it runs on embedded defaults, a fake platform
// (time-compressed: the run takes about 20 s instead of 10 minutes) and an
// in-memory store:
//
//	go run ./examples/basic
//
// Against a real platform and PostgreSQL:
//
//	AD_PLATFORM_API_URL=https://api.example.com AD_PLATFORM_EMAIL=... AD_PLATFORM_PASSWORD=... \
//	DATABASE_URL=postgres://... ADSYNC_ACCOUNT_ID=acme go run ./examples/basic -rate 10/1m
//
// ADSYNC_ACCOUNT_ID keys the account's campaigns and runs in the database;
// it defaults to "default". -h lists the variables and the flags.
//
// The operator's view of the database: "basic runs" lists the account's
// runs, "basic dead-letters" its dead letters, "basic dead-letters discard
// ID" deletes one, "basic prune -older-than D" deletes old runs; each with
// -json. "basic run" is the sync, the default.
//
// It is thin on purpose: flags and environment, wiring of adplatform, a
// store and syncer, and printing. Progress and logs go to stderr; with
// -json, stdout carries exactly one JSON object, the run's report.
//
// Exit status: 0 every campaign synced; 1 some campaigns failed (listed in
// the report), or the run stopped on its own after it started (status
// interrupted: the platform or the database gone past the libraries'
// patience; running again resumes it); 2 a configuration or start-up
// error, refused credentials included (running again cannot help); 3 the
// account is busy: another run (another process, an overlapping cron)
// holds it, and nothing was done; 130 interrupted by SIGINT or SIGTERM.
// The first signal stops the run
// gracefully (calls on the wire finish and are stored, the run is recorded
// interrupted, and the next run resumes it); a second one quits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/examples/internal/ratelimit"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/syncer"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitStartup     = 2
	exitBusy        = 3
	exitInterrupted = 130
)

func main() {
	con := newConsole(os.Stderr)

	// The first signal cancels the run's context: a graceful stop. The
	// second quits at once.
	ctx, cancel := context.WithCancel(context.Background())
	var interrupted atomic.Bool
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		interrupted.Store(true)
		con.Printf("\nbasic: interrupted: stopping; calls on the wire finish and are saved (signal again to quit at once)\n")
		cancel()
		<-signals
		con.Printf("basic: interrupted again: quitting now\n")
		os.Exit(exitInterrupted)
	}()

	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, con)
	if interrupted.Load() {
		code = exitInterrupted
	}
	os.Exit(code)
}

// run is the whole program but for signals and the process's exit.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, con *console) int {
	cfg, err := parseConfig(args, getenv, con)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if cfg.logFormat == "json" || err != nil && asksJSONLogs(args) { // the error too
		con.useJSON()
	}
	if err != nil {
		con.Errorf("basic: %v\n", err)
		return exitStartup
	}
	if cfg.isOp() {
		return runOp(ctx, cfg, stdout, con)
	}
	log := newLogger(cfg, con)

	// The store first: a database that cannot be opened is the likeliest
	// start-up error, and it needs no platform.
	st, closeStore, err := openStore(ctx, cfg, log, con)
	if err != nil {
		con.Errorf("basic: %v\n", err)
		return exitStartup
	}
	defer closeStore()

	client, closePlatform, err := openPlatform(cfg, log, con)
	if err != nil {
		con.Errorf("basic: %v\n", err)
		return exitStartup
	}
	defer closePlatform()

	s, err := syncer.New(client, st, cfg.syncerOptions(log))
	if err != nil {
		con.Errorf("basic: %v\n", err)
		return exitStartup
	}
	con.Printf("basic: syncing account %q, concurrency %d, page size %d\n", cfg.accountID, cfg.concurrency, cfg.pageSize)

	stopProgress := func() {}
	if cfg.progress {
		stopProgress = showProgress(s, con)
	}
	var rep syncer.Report
	if cfg.retryFailed {
		rep, err = s.RetryFailed(ctx)
	} else {
		rep, err = s.Run(ctx)
	}
	stopProgress()

	printSummary(con, rep, cfg)
	if cfg.json {
		out, jerr := encodeReport(rep, cfg.secrets()...)
		if jerr != nil { // cannot happen: the report is plain data
			con.Errorf("basic: encode the report: %v\n", jerr)
			return exitFailed
		}
		_, _ = fmt.Fprintf(stdout, "%s\n", out)
	}
	return exitCode(rep, err)
}

// asksJSONLogs reports whether args ask for -log-format json, for an error
// the flag package met before it read that flag.
func asksJSONLogs(args []string) bool {
	for i, a := range args {
		switch strings.TrimPrefix(a, "-") {
		case "-log-format=json", "log-format=json":
			return true
		case "-log-format", "log-format":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		}
	}
	return false
}

// exitCode says how the run ended. A signal is main's business.
func exitCode(rep syncer.Report, runErr error) int {
	var authErr *adplatform.AuthError
	switch {
	case errors.As(runErr, &authErr):
		return exitStartup // refused credentials are a configuration error
	case errors.Is(runErr, store.ErrAccountBusy):
		return exitBusy
	case runErr != nil, rep.Status != syncer.StatusCompleted:
		return exitFailed
	}
	return exitOK
}

// openPlatform returns the client of the platform AD_PLATFORM_API_URL
// names, or of the embedded fake it starts. The returned function closes
// the client's idle connections and stops the fake.
func openPlatform(cfg config, log *slog.Logger, con *console) (*adplatform.Client, func(), error) {
	apiURL, email, password, rate := cfg.apiURL, cfg.email, cfg.password, cfg.effectiveRate()
	closeFake := func() {}
	if cfg.apiURL == "" {
		fake, err := startFake(rate)
		if err != nil {
			return nil, nil, err
		}
		closeFake = fake.Close
		apiURL, email, password = fake.URL, adplatformtest.DefaultEmail, adplatformtest.DefaultPassword
		_, window, _ := strings.Cut(rate.String(), "/")
		reference := ratelimit.Rate{N: adplatformtest.DefaultRateLimit, Window: adplatformtest.DefaultRateWindow}
		con.Printf("basic: no %s: using the embedded fake platform at %s, time-compressed: %d requests/%s (the reference: %s), "+
			"sync latency %s (the reference: %s), %d campaigns, a 503 on every %dth list call; client rate set to %s, margin %s\n",
			envAPIURL, fake.URL, rate.N, window, reference, envconfig.FakeSyncLatency, adplatformtest.DefaultSyncLatency,
			adplatformtest.DefaultCampaigns, adplatformtest.DefaultFailEveryNthList, rate, cfg.clientOptions(rate, nil).RateMargin)
		if cfg.email != "" || cfg.password != "" {
			con.Printf("basic: %s and %s are ignored: the embedded fake accepts only its public test account\n", envEmail, envPassword)
		}
	}
	client, err := adplatform.New(apiURL, adplatform.StaticCredentials(email, password), cfg.clientOptions(rate, log))
	if err != nil {
		closeFake()
		return nil, nil, err
	}
	if cfg.apiURL != "" { // printed once adplatform.New accepted it: no credentials, no query in it
		con.Printf("basic: platform %s, account %s (password set), client rate set to %s\n", apiURL, email, rate)
	}
	closePlatform := func() {
		client.CloseIdleConnections()
		closeFake()
	}
	return client, closePlatform, nil
}

// openStore opens the store DATABASE_URL names, migrated, or an in-memory
// one. The returned function closes it.
func openStore(ctx context.Context, cfg config, log *slog.Logger, con *console) (store.RunStore, func(), error) {
	if cfg.dbURL == "" {
		con.Printf("basic: no %s: using an in-memory store (nothing is kept after exit: an interrupted run cannot be resumed)\n", envDatabase)
		if cfg.retryFailed {
			con.Printf("basic: -retry-failed with the in-memory store: there are no failed campaigns from earlier runs to retry\n")
		}
		return memory.New(), func() {}, nil
	}
	pg, closeStore, err := openPostgres(ctx, cfg, log, true)
	if err != nil {
		return nil, nil, err
	}
	con.Printf("basic: using %s\n", envconfig.DescribeDB(cfg.dbURL))
	return pg, closeStore, nil
}

// openPostgres opens the database DATABASE_URL names, and migrates it if
// migrate: a sync does, the operator's commands only read what syncs
// wrote (and say to migrate when the schema is old). The returned function
// closes it.
func openPostgres(ctx context.Context, cfg config, log *slog.Logger, migrate bool) (*postgres.Store, func(), error) {
	where := envconfig.DescribeDB(cfg.dbURL)
	// A database that does not answer must not hang the start.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pg, err := postgres.Open(ctx, cfg.dbURL, postgres.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("open the database (%s): %w", where, err)
	}
	if migrate {
		if err := pg.Migrate(ctx); err != nil {
			_ = pg.Close()
			return nil, nil, fmt.Errorf("migrate the database (%s): %w", where, err)
		}
	}
	return pg, func() { _ = pg.Close() }, nil
}

// newLogger makes the logger of the client, the store and the syncer:
// -log-level and -log-format, on stderr.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel, ReplaceAttr: durationsAsText}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
