// Command worker is the process an operator runs on each replica to sync
// many ad accounts with adsync on River: every replica runs the same
// command against the same PostgreSQL, each account is synced by one of
// them at a time, again every -every, and the accounts of a replica that
// dies are taken over by the others.
//
//	DATABASE_URL=postgres://user@db:5432/adsync?sslmode=disable \
//	AD_PLATFORM_API_URL=https://api.example.com AD_PLATFORM_EMAIL=... AD_PLATFORM_PASSWORD=... \
//	go run ./examples/worker -accounts acme,globex,initech -every 1h -rate 10/1m -metrics-addr :9090
//
// Without AD_PLATFORM_API_URL it embeds a fake platform, time-compressed as
// examples/basic's (a window of 2 s instead of a minute): a demo, in which
// each process has a platform of its own. -h lists the variables and flags.
//
// At start it applies River's migrations and adsync's, under one
// PostgreSQL advisory lock, so that replicas starting together take turns
// (both are idempotent). It then enqueues one job per account (River's
// unique jobs make that a no-op for accounts that have one), again every
// -reconcile, and works jobs until SIGINT or SIGTERM: River's soft stop (-soft-stop), then the runs'
// grace period (-grace-period); what was stopped is resumed at once by
// another replica. With -once it exits 0 as soon as every listed account
// has completed a sync since it started, whichever replica ran it.
//
// With -metrics-addr it serves the OpenTelemetry metrics of syncer/otelsync
// as Prometheus's /metrics, and /healthz: 200 when every listed account has
// a completed run within -healthy-within (2×-every by default), 503
// otherwise, with a JSON body saying which account is not and why.
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/syncer/otelsync"
	"github.com/adsync/adsync/syncer/riversync"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitStartup = 2
	exitForced  = 130
)

func main() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stderr, signals))
}

// run is the whole program but for the process's exit. The first signal
// stops the worker gracefully; the second quits at once.
func run(parent context.Context, args []string, getenv func(string) string, stderr io.Writer, signals <-chan os.Signal) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return exitStartup
	}
	con := newConsole(cfg, stderr)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() {
		select {
		case <-signals:
		case <-ctx.Done():
			return
		}
		con.Printf(slog.LevelInfo, "stopping: running syncs finish or stop gracefully and are resumed elsewhere (signal again to quit at once)")
		cancel()
		<-signals
		con.Printf(slog.LevelWarn, "signalled again: quitting now")
		os.Exit(exitForced)
	}()
	w := &worker{cfg: cfg, log: newLogger(cfg, stderr), con: con, stderr: stderr}
	defer w.close()
	if err := w.start(ctx); err != nil {
		con.Printf(slog.LevelError, "%s", envconfig.Redact(err.Error(), cfg.secrets()))
		return exitStartup
	}
	return w.serve(ctx)
}

// worker is the running process's parts, closed in reverse.
type worker struct {
	cfg    config
	log    *slog.Logger
	con    *console
	stderr io.Writer

	db      *sql.DB
	st      *postgres.Store
	client  *river.Client[*sql.Tx]
	stopped bool // River was stopped
	closers []func()
}

func (w *worker) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// start opens the database, migrates it, and starts River, the metrics
// server and the platform (or the embedded fake).
func (w *worker) start(ctx context.Context) error {
	cfg := w.cfg
	where := envconfig.DescribeDB(cfg.dbURL)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a database that does not answer must not hang the start
	defer cancel()
	db, err := sql.Open("postgres", cfg.dbURL)
	if err != nil {
		return fmt.Errorf("%s: %w", envDatabase, err)
	}
	w.db = db
	w.closers = append(w.closers, func() { _ = db.Close() })
	if err := db.PingContext(startCtx); err != nil {
		return fmt.Errorf("connect to %s: %w", where, err)
	}
	st, err := postgres.New(sqlx.NewDb(db, "postgres"), postgres.Options{Logger: w.log})
	if err != nil {
		return err
	}
	w.st = st
	if err := migrate(startCtx, db, st, w.log); err != nil {
		return fmt.Errorf("migrate %s: %w", where, err)
	}
	w.con.Printf(slog.LevelInfo, "%s migrated (River's and adsync's schemas)", where)

	var tel *otelsync.Telemetry
	if cfg.metricsAddr != "" {
		var handler http.Handler
		tel, handler, err = newTelemetry(cfg, st)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		w.closers = append(w.closers, func() { _ = srv.Close() })
		w.con.Printf(slog.LevelInfo, "serving /metrics and /healthz on http://%s", ln.Addr())
	}

	platform, err := w.platform()
	if err != nil {
		return err
	}
	source := &accounts{
		platform: platform, store: st, tel: tel, log: w.log,
		userAgent: "adsync-worker/" + cfg.name, concurrency: cfg.concurrency, gracePeriod: cfg.gracePeriod,
		active: map[string]bool{},
	}
	for _, a := range cfg.accounts {
		source.active[a] = true
	}
	sw, err := riversync.NewWorker(source, riversync.Options{
		Every: cfg.every, Timeout: cfg.jobTimeout, GracePeriod: cfg.gracePeriod, Logger: w.log,
	})
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, sw)
	riverLevel := max(cfg.logLevel, slog.LevelWarn) // River's info lines are its own business
	client, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
		ID:                   cfg.name,
		PollOnly:             true, // lib/pq: no LISTEN/NOTIFY
		FetchPollInterval:    cfg.pollInterval,
		FetchCooldown:        min(100*time.Millisecond, cfg.pollInterval),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.workers}},
		Workers:              workers,
		JobTimeout:           cfg.jobTimeout,
		RescueStuckJobsAfter: sw.RescueStuckJobsAfter(),
		SoftStopTimeout:      cfg.softStop,
		Logger:               slog.New(newHandler(cfg, w.stderr, riverLevel)),
	})
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	// Not ctx: a signal stops River through Stop, soft first.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("river: start: %w", err)
	}
	w.client = client
	n, err := riversync.Enqueue(startCtx, client, cfg.accounts...)
	if err != nil {
		w.stop()
		return err
	}
	w.con.Printf(slog.LevelInfo, "%s: %d accounts (%d newly queued), %d at once, every %s, rate %s, job timeout %s (takeover after a crash: about %s)",
		cfg.name, len(cfg.accounts), n, cfg.workers, cfg.every, platform.rate, cfg.jobTimeout, sw.RescueStuckJobsAfter()+45*time.Second)
	return nil
}

// serve works jobs until ctx ends (a signal), River fails, or with -once
// every account has completed a sync, then stops.
func (w *worker) serve(ctx context.Context) int {
	// The loops below end before River stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done <-chan struct{}
	if w.cfg.once {
		ch := make(chan struct{})
		done = ch
		go func() {
			if w.waitCompleted(ctx, time.Now()) {
				close(ch)
			}
		}()
	}
	if w.cfg.reconcile > 0 {
		go w.reconcile(ctx)
	}
	code := exitOK
	select {
	case <-ctx.Done():
	case <-done:
		w.con.Printf(slog.LevelInfo, "-once: every account has completed a sync since the start")
	case <-w.client.Stopped():
		w.con.Printf(slog.LevelError, "River stopped on its own")
		code = exitFailed
	}
	cancel()
	w.stop()
	return code
}

// reconcile enqueues the accounts every -reconcile until ctx ends: an
// account whose job a replica with another -accounts cancelled gets one
// again.
func (w *worker) reconcile(ctx context.Context) {
	tick := time.NewTicker(w.cfg.reconcile)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := riversync.Enqueue(ctx, w.client, w.cfg.accounts...)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Warn("worker: reconcile: enqueue the accounts", "error", err)
		case n > 0:
			w.log.Info("worker: reconcile: accounts had no job: enqueued", "count", n)
		}
	}
}

// stop stops River: running jobs may go on for -soft-stop, then are
// cancelled, and their runs stop within -grace-period.
func (w *worker) stop() {
	if w.client == nil || w.stopped {
		return
	}
	w.stopped = true
	var err error
	if w.cfg.softStop == 0 {
		err = w.client.StopAndCancel(context.Background())
	} else {
		err = w.client.Stop(context.Background())
	}
	if err != nil {
		w.log.Error("worker: stop", "error", err)
	}
	w.con.Printf(slog.LevelInfo, "stopped")
}

// waitCompleted makes the accounts' jobs due now and polls the store until
// every account has a run completed after since, and reports whether they
// all have (false: ctx ended). It makes the jobs of the accounts still
// pending due again every few seconds: River records a job's end a moment
// after its run ends, so a run that ended just before since may have had
// its job running at the first try, and then scheduled for -every later.
func (w *worker) waitCompleted(ctx context.Context, since time.Time) bool {
	pending := append([]string(nil), w.cfg.accounts...)
	poll := min(w.cfg.pollInterval, time.Second)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var nudged time.Time
	for {
		if time.Since(nudged) >= 3*time.Second {
			if err := riversync.SyncNow(ctx, w.client, pending...); err != nil && ctx.Err() == nil {
				w.log.Warn("worker: -once: cannot make the accounts due now", "error", err)
			}
			nudged = time.Now()
		}
		rest := pending[:0]
		for _, id := range pending {
			run, err := w.st.LastCompletedRun(ctx, id)
			if err != nil || run.FinishedAt.Before(since) {
				if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
					w.log.Warn("worker: -once: last completed run", "account", id, "error", err)
				}
				rest = append(rest, id)
			}
		}
		pending = rest
		if len(pending) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// migrate applies River's migrations and adsync's under one advisory lock,
// keyed by the schema: replicas starting at once take turns, and the later
// ones find nothing to do.
func migrate(ctx context.Context, db *sql.DB, st *postgres.Store, log *slog.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	const key = `hashtext('adsync examples/worker migrate ' || current_schema())`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		// A session lock: if this fails, closing the connection frees it.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := migrateRiver(ctx, db, log); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("adsync: %w", err)
	}
	return nil
}

// newLogger makes the logger of the clients, the store, the syncers and
// the worker: -log-level and -log-format, on stderr.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	return slog.New(newHandler(cfg, w, cfg.logLevel))
}

func newHandler(cfg config, w io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
