package syncer_test

import (
	"context"
	"errors"
	"sync"
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

// tracer is an Observer that also observes each run's platform calls, as
// an OpenTelemetry adapter would to parent each call's span on its run's.
type tracer struct {
	syncer.NopObserver
	mu      sync.Mutex
	started []string                // runs, in RunStarted order
	calls   map[string]*callCounter // run id → its calls
}

type callCounter struct {
	adplatform.NopObserver
	mu          sync.Mutex
	open        map[uint64]bool
	started     int
	done        int
	unpaired    int
	afterFinish int
	finished    bool
}

func (c *callCounter) RequestStarted(i adplatform.RequestInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	c.open[i.ID] = true
	if c.finished {
		c.afterFinish++
	}
}

func (c *callCounter) RequestDone(i adplatform.RequestInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done++
	if !c.open[i.ID] {
		c.unpaired++
	}
	delete(c.open, i.ID)
}

func (tr *tracer) RunStarted(info syncer.RunInfo) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.started = append(tr.started, info.RunID)
}

func (tr *tracer) PlatformObserver(info syncer.RunInfo) adplatform.Observer {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.started) == 0 || tr.started[len(tr.started)-1] != info.RunID {
		panic("PlatformObserver before its RunStarted")
	}
	c := &callCounter{open: map[uint64]bool{}}
	tr.calls[info.RunID] = c
	return c
}

func (tr *tracer) RunFinished(rep syncer.Report) {
	tr.mu.Lock()
	c := tr.calls[rep.RunID]
	tr.mu.Unlock()
	c.mu.Lock()
	c.finished = true
	c.mu.Unlock()
}

// An Observer with PlatformObserver gets, once per run right after
// RunStarted, the chance to observe that run's platform calls: every
// attempt of the run, paired, and none of another run's.
func TestPlatformObserverProvider(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 30, RateLimit: 10, RateWindow: time.Second,
			SyncLatency: 100 * time.Millisecond, SyncErrors: map[string]int{"campaign_4": 503}})
		client := virtualClient(t, platform, 10, time.Second)
		tr := &tracer{calls: map[string]*callCounter{}}
		var _ syncer.PlatformObserverProvider = tr
		st := memory.New()
		first := run(t, newSyncer(t, client, st, syncer.Options{Observer: tr}))
		second, err := newSyncer(t, client, st, syncer.Options{Observer: tr}).RetryFailed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, rep := range []syncer.Report{first, second} {
			c := tr.calls[rep.RunID]
			if c == nil {
				t.Fatalf("run %s: PlatformObserver was not asked", rep.RunID)
			}
			if c.started != int(rep.HTTPRequests) || c.done != c.started || c.unpaired != 0 || len(c.open) != 0 || c.afterFinish != 0 {
				t.Errorf("run %s: observed %d started, %d done (%d unpaired, %d open, %d after the run); the report counts %d",
					rep.RunID, c.started, c.done, c.unpaired, len(c.open), c.afterFinish, rep.HTTPRequests)
			}
		}
		total := platform.Stats()
		sent := 0
		for _, e := range total.Endpoints {
			sent += e.Requests
		}
		if got := tr.calls[first.RunID].started + tr.calls[second.RunID].started; got != sent {
			t.Errorf("the runs' observers saw %d attempts; the platform received %d", got, sent)
		}
	})
}
