package syncer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// lastRun returns the account's newest run.
func lastRun(t *testing.T, st store.RunStore, account string) store.Run {
	t.Helper()
	runs, err := st.Runs(context.Background(), account, store.RunQuery{Limit: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of %s: %v, %v", account, runs, err)
	}
	return runs[0]
}

// On cancel, no request is sent any more: calls waiting for a rate-limit
// slot are abandoned; calls on the wire finish, and what they brought back
// is stored. The run is interrupted, and the next one resumes it.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// 5 slots per second, 3 s calls: at most 15 on the wire, so of 20
		// workers some are always waiting for a slot.
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 100, RateLimit: 5, RateWindow: time.Second, SyncLatency: 3 * time.Second})
		client := virtualClient(t, platform, 5, time.Second)
		st := memory.New()
		ctx, cancel := context.WithCancel(context.Background())
		const cancelAt = 4500 * time.Millisecond
		time.AfterFunc(cancelAt, cancel)
		start := time.Now()
		rep, err := newSyncer(t, client, st, syncer.Options{Concurrency: 20, GracePeriod: 10 * time.Second}).Run(ctx)
		if err != nil || rep.Status != syncer.StatusInterrupted || rep.Failed != 0 {
			t.Fatalf("Run: %v, %+v; want a graceful stop", err, rep)
		}
		if took := time.Since(start); took > cancelAt+3*time.Second+time.Second {
			t.Errorf("Run returned %s after the cancel; calls on the wire need 3s", took-cancelAt)
		}
		answered := 0
		for _, r := range platform.Requests() {
			if r.Endpoint != adplatform.EndpointSync {
				continue
			}
			if r.Time.Sub(start) > cancelAt {
				t.Errorf("a sync request arrived %s after the cancel", r.Time.Sub(start)-cancelAt)
			}
			if r.Status != 200 {
				t.Errorf("a sync call on the wire was cut: status %d", r.Status)
			}
			answered++
		}
		if answered == 0 || rep.Synced != answered || len(syncedIDs(t, st, "acct", 100)) != answered {
			t.Errorf("the platform answered %d syncs; the run stored %d (report %d)", answered, len(syncedIDs(t, st, "acct", 100)), rep.Synced)
		}
		if r := lastRun(t, st, "acct"); r.Status != store.RunInterrupted {
			t.Errorf("run %+v; want it interrupted", r)
		}
		next := run(t, newSyncer(t, client, st, syncer.Options{}))
		if !next.Resumed || next.Skipped != answered || next.Synced != 100-answered {
			t.Errorf("next run %+v; want it resumed, the %d stored skipped", next, answered)
		}
	})
}

// Calls on the wire longer than the grace period are cut at its end, and
// are neither synced nor failed: the next run does them.
func TestGracePeriodCutsSlowCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 30, RateLimit: -1, SyncLatency: 20 * time.Second})
		client := virtualClient(t, platform, 1000, time.Second, func(o *adplatform.Options) { o.SyncTimeout = time.Minute })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		st := memory.New()
		rep, err := newSyncer(t, client, st, syncer.Options{GracePeriod: 2 * time.Second}).Run(ctx)
		if err != nil || rep.Status != syncer.StatusInterrupted || rep.Synced != 0 || rep.Failed != 0 {
			t.Fatalf("Run: %v, %+v; want interrupted with nothing synced or failed", err, rep)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("Run took %s; want the cancel at 1s plus the 2s grace period", took)
		}
		if letters, _ := st.DeadLetters(context.Background(), "acct", "", 10); len(letters) != 0 {
			t.Errorf("dead letters %+v; calls cut by the grace period are not failures", letters)
		}
	})
}

// What the platform says about itself stops the run, never fails a
// campaign: unavailable past the client's patience, or a wait longer than
// it allows, interrupts the run (the next one resumes); refused
// credentials fail it (the next one does not resume: rerunning as it is
// cannot help).
func TestPlatformErrorsStopTheRun(t *testing.T) {
	t.Parallel()
	t.Run("unavailable", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 60, RateLimit: 10, RateWindow: time.Second, SyncLatency: 200 * time.Millisecond})
			client := virtualClient(t, platform, 10, time.Second, func(o *adplatform.Options) { o.MaxOutage = 10 * time.Second })
			st := memory.New()
			rec := &recorder{onSynced: func(n int) {
				if n == 20 {
					platform.SetOutage(adplatformtest.Outage{Status: 503})
				}
			}}
			rep, err := newSyncer(t, client, st, syncer.Options{Observer: rec}).Run(context.Background())
			if !errors.Is(err, adplatform.ErrPlatformUnavailable) || rep.Failed != 0 || rep.Status != syncer.StatusInterrupted {
				t.Fatalf("Run: %v, %+v; want it stopped by the outage, no campaign failed", err, rep)
			}
			if r := lastRun(t, st, "acct"); r.Status != store.RunInterrupted {
				t.Errorf("run %+v; want it interrupted", r)
			}
			platform.SetOutage(adplatformtest.Outage{})
			time.Sleep(time.Minute) // the next run comes later; the client's next probe is due
			next := run(t, newSyncer(t, client, st, syncer.Options{}))
			if !next.Resumed || next.Skipped != rep.Synced || next.Skipped+next.Synced != 60 {
				t.Errorf("next run %+v; want it resumed, and done", next)
			}
		})
	})
	t.Run("refused credentials", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			// The password is rotated while the run goes: the next token
			// is refused.
			platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 60, RateLimit: 10, RateWindow: time.Second,
				SyncLatency: 200 * time.Millisecond, TokenTTL: 3 * time.Second})
			var asked atomic.Int32
			creds := adplatform.CredentialsFunc(func(context.Context) (adplatform.Credentials, error) {
				password := adplatformtest.DefaultPassword
				if asked.Add(1) > 1 {
					password = "rotated"
				}
				return adplatform.Credentials{Email: adplatformtest.DefaultEmail, Password: password}, nil
			})
			client, err := adplatform.New("http://platform.invalid", creds, adplatform.Options{
				Transport: handlerTransport{platform}, RateLimit: 10, RateWindow: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			st := memory.New()
			rep, err := newSyncer(t, client, st, syncer.Options{}).Run(context.Background())
			var authErr *adplatform.AuthError
			if !errors.As(err, &authErr) || rep.Failed != 0 || rep.Synced == 0 {
				t.Fatalf("Run: %v, %+v; want the refusal, what synced before it stored, no campaign failed", err, rep)
			}
			if r := lastRun(t, st, "acct"); r.Status != store.RunFailed {
				t.Errorf("run %+v; want it failed", r)
			}
		})
	})
}
