package riversync_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/riversync"
)

// accounts is a service's account source: which accounts to sync, and how
// to reach each one's platform. Credentials come from the service's secret
// store, never from a job's args.
type accounts struct {
	platformURL string
	store       store.RunStore
	active      map[string]bool // in a service: a table, a config map
}

func (a *accounts) Active(_ context.Context, id string) (bool, error) { return a.active[id], nil }

func (a *accounts) Syncer(_ context.Context, id string) (*syncer.Syncer, error) {
	creds := adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword) // the account's secret
	client, err := adplatform.New(a.platformURL, creds, adplatform.Options{
		ClientID:  id, // one client per account: its limiter is this client id's
		RateLimit: 10, RateWindow: 500 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	return syncer.New(client, a.store, syncer.Options{AccountID: id})
}

// Wiring River in a service: migrate River's schema and adsync's, register
// the worker, start the client, and enqueue the accounts. Each account is
// synced by one process at a time, again every Options.Every, and an
// account whose process dies is taken over by another.
func Example() {
	ctx := context.Background()
	platform, err := adplatformtest.NewServer(adplatformtest.Options{ // the fake platform, time-compressed
		Campaigns: 20, RateLimit: 10, RateWindow: 500 * time.Millisecond, SyncLatency: 20 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer platform.Close()

	db, err := sql.Open("postgres", os.Getenv("DATABASE_URL")) // lib/pq: River polls (no LISTEN)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	migrator, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		log.Fatal(err)
	}
	st, err := postgres.New(sqlx.NewDb(db, "postgres"), postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	source := &accounts{platformURL: platform.URL, store: st, active: map[string]bool{"acme": true, "globex": true}}
	worker, err := riversync.NewWorker(source, riversync.Options{Every: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
		PollOnly:             true,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:              workers,
		RescueStuckJobsAfter: worker.RescueStuckJobsAfter(),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	if _, err := riversync.Enqueue(ctx, client, "acme", "globex"); err != nil { // idempotent: at every start
		log.Fatal(err)
	}

	for _, id := range []string{"acme", "globex"} {
		run, err := st.LastCompletedRun(ctx, id)
		for errors.Is(err, store.ErrNotFound) {
			time.Sleep(100 * time.Millisecond)
			run, err = st.LastCompletedRun(ctx, id)
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, %d campaigns synced\n", id, run.Status, run.Synced)
	}
}
