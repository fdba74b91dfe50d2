package syncer_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// Memory is O(page size + concurrency + batch), not O(campaigns): syncing
// 100,000 campaigns needs no more live heap than syncing 10,000.
//
// The fake platform runs in a child process, so that its own state (the
// campaigns it serves, its counters) is not in this process's heap, and the
// store discards what it is given: what is measured is the client, the
// syncer and its pipeline.
func TestMemoryIsBoundedByPageNotCampaigns(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 110,000 campaigns")
	}
	small := peakHeapWhileSyncing(t, 10_000)
	large := peakHeapWhileSyncing(t, 100_000)
	t.Logf("peak live heap: %.1f MiB for 10,000 campaigns, %.1f MiB for 100,000", mib(small), mib(large))
	// Ten times the campaigns; allow 25% (and 2 MiB) of noise, not 10x.
	if float64(large) > 1.25*float64(small)+2<<20 {
		t.Errorf("peak heap grew from %.1f to %.1f MiB with 10x the campaigns", mib(small), mib(large))
	}
}

func peakHeapWhileSyncing(t *testing.T, n int) uint64 {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childRole+"=platform", childPlatform+"="+itoa(n))
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child platform: %v", err)
	}
	client, err := adplatform.New(strings.TrimSpace(url), adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword),
		adplatform.Options{RateLimit: 1_000_000, RateWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var stored atomic.Int64
	s, err := syncer.New(client, memory.WithBookkeeping(discardStore{&stored}), syncer.Options{AccountID: "acct", Concurrency: 32})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	base := liveHeap()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.GC() // live heap, not garbage waiting for collection
				if h := liveHeap(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	rep, err := s.Run(context.Background())
	close(stop)
	<-sampled
	if err != nil || rep.Synced != n || stored.Load() != int64(n) {
		t.Fatalf("synced %d of %d (stored %d): %v", rep.Synced, n, stored.Load(), err)
	}
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// discardStore counts what it is given and keeps nothing.
type discardStore struct{ n *atomic.Int64 }

func (d discardStore) Upsert(_ context.Context, _ string, cs []store.Campaign) error {
	d.n.Add(int64(len(cs)))
	return nil
}

func (d discardStore) Get(_ context.Context, _, id string) (store.Campaign, error) {
	return store.Campaign{}, store.ErrNotFound
}
