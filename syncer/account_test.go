package syncer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// gatedPlatform is a scriptedPlatform whose sync calls wait at a gate until
// the test opens it; inFlight says when the first call reached it.
func gatedPlatform(n int) (p *scriptedPlatform, inFlight <-chan struct{}, open func()) {
	gate, reached := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p = &scriptedPlatform{campaigns: scriptedCampaigns(n), sync: func(ctx context.Context, id string) (adplatform.SyncResult, error) {
		once.Do(func() { close(reached) })
		select {
		case <-gate:
			return adplatform.SyncResult{CampaignID: id}, nil
		case <-ctx.Done():
			return adplatform.SyncResult{}, ctx.Err()
		}
	}}
	return p, reached, func() { close(gate) }
}

// While a run holds the account, another Run or RetryFailed of it — on the
// same Syncer or another — fails at once with ErrAccountBusy naming the
// account, and changes nothing; once the first is done, the account is
// free.
func TestSecondRunOfAnAccountIsBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := memory.New()
		p, inFlight, open := gatedPlatform(5)
		first := newSyncer(t, p, st, syncer.Options{AccountID: "acme"})
		done := make(chan error)
		go func() {
			_, err := first.Run(context.Background())
			done <- err
		}()
		<-inFlight

		other := newSyncer(t, p, st, syncer.Options{AccountID: "acme"})
		for name, call := range map[string]func(context.Context) (syncer.Report, error){
			"Run on the same Syncer":         first.Run,
			"RetryFailed on the same Syncer": first.RetryFailed,
			"Run on another Syncer":          other.Run,
			"RetryFailed on another Syncer":  other.RetryFailed,
		} {
			start := time.Now()
			rep, err := call(context.Background())
			if !errors.Is(err, store.ErrAccountBusy) || !strings.Contains(err.Error(), `"acme"`) {
				t.Errorf("%s: %v; want ErrAccountBusy naming the account", name, err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("%s waited %s; want at once", name, waited)
			}
			if rep.RunID != "" || rep.Synced != 0 {
				t.Errorf("%s: report %+v; want no run", name, rep)
			}
		}
		if runs, err := st.Runs(context.Background(), "acme", store.RunQuery{}); err != nil || len(runs) != 1 {
			t.Errorf("runs of the account: %d (%v); want the first run's only", len(runs), err)
		}
		if p := first.Progress(); !p.Running {
			t.Errorf("the busy calls disturbed the first run's progress: %+v", p)
		}

		open()
		if err := <-done; err != nil {
			t.Fatalf("first run: %v", err)
		}
		if rep, err := other.Run(context.Background()); err != nil || rep.Synced != 5 {
			t.Errorf("a run after the first: %+v, %v; want the account free and all 5 synced", rep, err)
		}
	})
}

// grabbable is a memory store that keeps the last lease it gave out, so
// that a test can take the account from under a run: Release it, as a
// lost connection would, and Acquire the account for someone else.
type grabbable struct {
	*memory.Store
	mu    sync.Mutex
	lease store.Lease
}

func (g *grabbable) Acquire(ctx context.Context, account string) (store.Lease, error) {
	l, err := g.Store.Acquire(ctx, account)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.lease = l
	}
	return l, err
}

// grab takes the account from the lease that holds it.
func (g *grabbable) grab(t *testing.T, account string) store.Lease {
	t.Helper()
	g.mu.Lock()
	l := g.lease
	g.mu.Unlock()
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	thief, err := g.Store.Acquire(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return thief
}

// A run whose account was taken from it (its lease lost) stops with an
// error matching ErrAccountLost, and writes nothing more: what its calls
// brought back after the loss is not stored, and its run is not finished
// by it.
func TestLostAccountStopsTheRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &grabbable{Store: memory.New()}
		// One call at a time: campaign_1 syncs before the loss, the others
		// wait at the gate until after it.
		gate := make(chan struct{})
		p := &scriptedPlatform{campaigns: scriptedCampaigns(8), sync: func(ctx context.Context, id string) (adplatform.SyncResult, error) {
			if id != campaignID(1) {
				select {
				case <-gate:
				case <-ctx.Done():
					return adplatform.SyncResult{}, ctx.Err()
				}
			}
			return adplatform.SyncResult{CampaignID: id}, nil
		}}
		s := newSyncer(t, p, st, syncer.Options{AccountID: "acme", Concurrency: 1, FlushInterval: time.Millisecond})
		done := make(chan struct{})
		var rep syncer.Report
		var err error
		go func() {
			defer close(done)
			rep, err = s.Run(context.Background())
		}()
		time.Sleep(10 * time.Millisecond) // past the writer's interval: campaign_1 is committed
		synctest.Wait()
		st.grab(t, "acme")
		close(gate)
		<-done
		if !errors.Is(err, store.ErrAccountLost) || !strings.Contains(err.Error(), `"acme"`) {
			t.Fatalf("Run: %v; want ErrAccountLost naming the account", err)
		}
		stored := syncedIDs(t, st, "acme", 8)
		if len(stored) != 1 || !stored[campaignID(1)] || rep.Synced != 1 {
			t.Errorf("stored synced: %v, report says %d; want campaign_1 only, synced before the loss", stored, rep.Synced)
		}
		runs, _ := st.Runs(context.Background(), "acme", store.RunQuery{})
		if len(runs) != 1 || runs[0].Status != store.RunRunning {
			t.Errorf("runs %+v; want the lost run left running, for its new holder", runs)
		}
	})
}
