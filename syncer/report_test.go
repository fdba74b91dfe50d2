package syncer_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// The report says how the run ended, why when it did not complete, and
// the account's total as the platform gives it, so that a run stopped part
// way can say how far it got.
func TestReportStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   adplatformtest.Options
		run    func(t *testing.T, s *syncer.Syncer, st store.RunStore) (syncer.Report, error)
		status syncer.Status
		err    func(error) bool
	}{
		{"completed", adplatformtest.Options{}, runIt, syncer.StatusCompleted, isNil},
		{"completed with failures", adplatformtest.Options{SyncErrors: map[string]int{"campaign_7": 404}}, runIt,
			syncer.StatusCompletedWithFailures, isNil},
		{"interrupted by the caller", adplatformtest.Options{}, func(t *testing.T, s *syncer.Syncer, _ store.RunStore) (syncer.Report, error) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(3*time.Second, cancel)
			return s.Run(ctx)
		}, syncer.StatusInterrupted, isNil},
		{"failed: credentials refused", adplatformtest.Options{Password: "another"}, runIt, syncer.StatusFailed, func(err error) bool {
			var authErr *adplatform.AuthError
			return errors.As(err, &authErr)
		}},
		{"failed: the account is busy", adplatformtest.Options{}, func(t *testing.T, s *syncer.Syncer, st store.RunStore) (syncer.Report, error) {
			lease, err := st.Acquire(context.Background(), "acct")
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Release(context.Background())
			return s.Run(context.Background())
		}, syncer.StatusFailed, func(err error) bool { return errors.Is(err, store.ErrAccountBusy) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				opts := tc.opts
				opts.RateLimit, opts.RateWindow, opts.SyncLatency = 10, time.Second, 500*time.Millisecond
				platform := virtualPlatform(t, opts)
				client := virtualClient(t, platform, 10, time.Second, func(o *adplatform.Options) { o.PageSize = 10 })
				st := memory.New()
				rep, err := tc.run(t, newSyncer(t, client, st, syncer.Options{}), st)
				if rep.Status != tc.status || !tc.err(err) || !errors.Is(rep.Err, err) || (err == nil) != (rep.Err == nil) {
					t.Fatalf("report: %s, %v; Run: %v; want %s", rep.Status, rep.Err, err, tc.status)
				}
				switch tc.status {
				case syncer.StatusInterrupted:
					// Stopped part way: the total is the account's, not
					// what was seen so far.
					if rep.Total != 100 || rep.Seen >= 100 || rep.Synced == 0 || rep.Pending() < 0 {
						t.Errorf("interrupted: total %d, seen %d, synced %d; want the account's 100, fewer seen", rep.Total, rep.Seen, rep.Synced)
					}
				case syncer.StatusCompleted, syncer.StatusCompletedWithFailures:
					if rep.Total != 100 || rep.Seen != 100 {
						t.Errorf("total %d, seen %d; want 100 and 100", rep.Total, rep.Seen)
					}
				}
			})
		})
	}
}

func runIt(t *testing.T, s *syncer.Syncer, _ store.RunStore) (syncer.Report, error) {
	return s.Run(context.Background())
}

func isNil(err error) bool { return err == nil }
