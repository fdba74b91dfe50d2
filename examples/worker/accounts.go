package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/examples/internal/ratelimit"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/otelsync"
)

// platform is where the accounts' clients connect, and with what.
type platform struct {
	url, email, password string
	rate                 ratelimit.Rate
	margin               time.Duration // 0: the client's default
}

// fakeRate is the embedded fake's rate limit (examples/basic's), and the
// clients' default with it.
func fakeRate() ratelimit.Rate { return envconfig.FakeRate() }

// platform returns the platform AD_PLATFORM_API_URL names, or starts the
// embedded fake.
func (w *worker) platform() (platform, error) {
	cfg := w.cfg
	if cfg.apiURL != "" {
		w.con.Printf(slog.LevelInfo, "platform %s (password set), client rate %s per account", cfg.apiURL, cfg.rate)
		return platform{url: cfg.apiURL, email: cfg.email, password: cfg.password, rate: cfg.rate, margin: cfg.rateMargin}, nil
	}
	rate, margin := cfg.rate, cfg.rateMargin
	if !cfg.rateSet {
		rate = fakeRate()
	}
	if margin == 0 {
		margin = envconfig.FakeMargin(rate) // the fake runs in this process: see FakeMargin
	}
	fake, err := adplatformtest.NewServer(adplatformtest.Options{RateLimit: rate.N, RateWindow: rate.Window, SyncLatency: envconfig.FakeSyncLatency})
	if err != nil {
		return platform{}, fmt.Errorf("embedded fake platform: %w", err)
	}
	w.closers = append(w.closers, fake.Close)
	w.con.Printf(slog.LevelInfo, "no %s: using an embedded fake platform at %s (this process's own), %s per client id, sync latency %s",
		envAPIURL, fake.URL, rate, envconfig.FakeSyncLatency)
	return platform{url: fake.URL, email: adplatformtest.DefaultEmail, password: adplatformtest.DefaultPassword, rate: rate, margin: margin}, nil
}

// accounts is the worker's riversync.Factory: the accounts of -accounts,
// each with the one credential set and its id as its client id.
type accounts struct {
	platform    platform
	store       store.RunStore
	tel         *otelsync.Telemetry // nil: no metrics
	log         *slog.Logger
	userAgent   string
	concurrency int
	gracePeriod time.Duration
	active      map[string]bool // read only once built
}

// Active reports whether id is one of -accounts.
func (a *accounts) Active(_ context.Context, id string) (bool, error) { return a.active[id], nil }

// Syncer makes the account's client, with the account's id as its client id,
// and its syncer.
func (a *accounts) Syncer(_ context.Context, id string) (*syncer.Syncer, error) {
	opts := adplatform.Options{
		ClientID:   id,
		RateLimit:  a.platform.rate.N,
		RateWindow: a.platform.rate.Window,
		RateMargin: a.platform.margin,
		UserAgent:  a.userAgent,
		Logger:     a.log,
	}
	var obs syncer.Observer
	if a.tel != nil {
		opts.Observer = a.tel.Platform(id)
		obs = a.tel.Syncer()
	}
	client, err := adplatform.New(a.platform.url, adplatform.StaticCredentials(a.platform.email, a.platform.password), opts)
	if err != nil {
		return nil, err
	}
	return syncer.New(client, a.store, syncer.Options{
		AccountID:   id,
		Concurrency: a.concurrency,
		GracePeriod: a.gracePeriod,
		Logger:      a.log,
		Observer:    obs,
	})
}

// migrateRiver applies River's migrations to the connection's schema.
func migrateRiver(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	m, err := rivermigrate.New(riverdatabasesql.New(db), &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}
