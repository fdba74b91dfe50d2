package syncer_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// The tests run the reference platform's behaviour time-compressed: 10
// requests per 200 ms instead of per minute, and a 20 ms sync call. Most
// run in a testing/synctest bubble, on fake time (newPlatform, newClient):
// every time they measure is exact, whatever the machine's load. Those
// against PostgreSQL run on the clock, against the fake as a server
// (startPlatform, serverClient), and assert nothing a loaded machine
// breaks.
const (
	testLimit  = 10
	testWindow = 200 * time.Millisecond
)

// compressed sets what opts leaves zero to the tests' time compression.
func compressed(opts adplatformtest.Options) adplatformtest.Options {
	opts.RateLimit = cmp.Or(opts.RateLimit, testLimit)
	opts.RateWindow = cmp.Or(opts.RateWindow, testWindow)
	opts.SyncLatency = cmp.Or(opts.SyncLatency, 20*time.Millisecond)
	return opts
}

// clientOptions are a client's options paced for the test window, with
// short backoffs; tweak adjusts them.
func clientOptions(tweak ...func(*adplatform.Options)) adplatform.Options {
	opts := adplatform.Options{
		RateLimit:   testLimit,
		RateWindow:  testWindow,
		BackoffMin:  2 * time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
		ListTimeout: 2 * time.Second,
		SyncTimeout: 2 * time.Second,
		AuthTimeout: 2 * time.Second,
	}
	for _, f := range tweak {
		f(&opts)
	}
	return opts
}

// newPlatform starts the fake in this process, for a test in a synctest
// bubble, with the test's time compression for what opts leaves zero.
func newPlatform(t testing.TB, opts adplatformtest.Options) *adplatformtest.Platform {
	t.Helper()
	return virtualPlatform(t, compressed(opts))
}

// newClient returns a client of p, reached in process, paced for the test
// window; tweak adjusts its options.
func newClient(t testing.TB, p *adplatformtest.Platform, tweak ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	opts := clientOptions(tweak...)
	opts.Transport = handlerTransport{p}
	return mustClient(t, "http://platform.invalid", opts)
}

// startPlatform starts the fake as a server on loopback, with the test's
// time compression for what opts leaves zero.
func startPlatform(t testing.TB, opts adplatformtest.Options) *adplatformtest.Server {
	t.Helper()
	return adplatformtest.Start(t, compressed(opts))
}

// serverClient returns a client of srv paced for the test window; tweak
// adjusts its options.
func serverClient(t testing.TB, srv *adplatformtest.Server, tweak ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	return mustClient(t, srv.URL, clientOptions(tweak...))
}

func mustClient(t testing.TB, baseURL string, opts adplatform.Options) *adplatform.Client {
	t.Helper()
	c, err := adplatform.New(baseURL, adplatform.StaticCredentials(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword), opts)
	if err != nil {
		t.Fatalf("adplatform.New: %v", err)
	}
	return c
}

// newSyncer returns a syncer for account "acct" unless opts names another.
func newSyncer(t testing.TB, p syncer.Platform, st store.RunStore, opts syncer.Options) *syncer.Syncer {
	t.Helper()
	if opts.AccountID == "" {
		opts.AccountID = "acct"
	}
	s, err := syncer.New(p, st, opts)
	if err != nil {
		t.Fatalf("syncer.New: %v", err)
	}
	return s
}

// run runs s and fails the test on an error.
func run(t testing.TB, s *syncer.Syncer) syncer.Report {
	t.Helper()
	rep, err := s.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v (report %+v)", err, rep)
	}
	return rep
}

// checkAllSynced asserts that the report and the store show every one of
// n campaigns synced exactly once on the platform, with no 429: on fake
// time, where the pace is exact.
func checkAllSynced(t testing.TB, rep syncer.Report, p *adplatformtest.Platform, st store.Store, account string, n int) {
	t.Helper()
	stats := p.Stats()
	if rep.HTTP429 != 0 || stats.RateLimited != 0 {
		t.Errorf("earned 429s: report %d, platform %d", rep.HTTP429, stats.RateLimited)
	}
	for id, got := range stats.MaxAcceptedInWindow {
		if got > testLimit {
			t.Errorf("platform saw %d requests of client %s in one window, limit %d", got, id, testLimit)
		}
	}
	checkAllStored(t, rep, p, st, account, n)
}

// checkAllStored is checkAllSynced without the claims on pace, which a
// test on the clock of a loaded machine cannot make.
func checkAllStored(t testing.TB, rep syncer.Report, p *adplatformtest.Platform, st store.Store, account string, n int) {
	t.Helper()
	if rep.Seen != n || rep.Synced != n || rep.Failed != 0 || rep.Status != syncer.StatusCompleted || rep.Err != nil {
		t.Errorf("report: seen %d synced %d failed %d, %s (%v); want %d synced, no failure, completed (failures %v)",
			rep.Seen, rep.Synced, rep.Failed, rep.Status, rep.Err, n, rep.Failures)
	}
	stats := p.Stats()
	for i := 1; i <= n; i++ {
		id := campaignID(i)
		if calls := stats.Syncs[id].Calls; calls != 1 {
			t.Errorf("%s: %d sync calls, want 1", id, calls)
		}
		c, err := st.Get(context.Background(), account, id)
		if err != nil {
			t.Errorf("%s not stored: %v", id, err)
			continue
		}
		if c.SyncedAt.IsZero() {
			t.Errorf("%s stored without SyncedAt", id)
		}
	}
}

func campaignID(i int) string { return "campaign_" + itoa(i) }

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// upsertOnly is a store that implements only store.Store: the kind a
// user writes, used through memory.WithBookkeeping.
type upsertOnly struct{ st *memory.Store }

func (u upsertOnly) Upsert(ctx context.Context, account string, cs []store.Campaign) error {
	return u.st.Upsert(ctx, account, cs)
}

func (u upsertOnly) Get(ctx context.Context, account, id string) (store.Campaign, error) {
	return u.st.Get(ctx, account, id)
}

// scriptedPlatform is a Platform whose listing and sync answers a test
// scripts, for failures the fake does not produce. It lists its campaigns
// in pages of pageSize (default: one page).
type scriptedPlatform struct {
	campaigns []adplatform.Campaign
	pageSize  int
	listErr   error // yielded after the campaigns, if set
	sync      func(ctx context.Context, id string) (adplatform.SyncResult, error)
}

func (p *scriptedPlatform) Pages(ctx context.Context) iter.Seq2[adplatform.Page, error] {
	return func(yield func(adplatform.Page, error) bool) {
		size := p.pageSize
		if size == 0 {
			size = max(len(p.campaigns), 1)
		}
		for i := 0; i < len(p.campaigns); i += size {
			page := adplatform.Page{Number: i/size + 1, Limit: size, Total: len(p.campaigns), HasMore: i+size < len(p.campaigns)}
			for _, c := range p.campaigns[i:min(i+size, len(p.campaigns))] {
				raw, err := json.Marshal(c)
				if err != nil {
					panic(err)
				}
				page.Records = append(page.Records, adplatform.Record{Campaign: c, Raw: raw})
			}
			if !yield(page, nil) {
				return
			}
		}
		if p.listErr != nil {
			yield(adplatform.Page{}, p.listErr)
		}
	}
}

func (p *scriptedPlatform) SyncCampaign(ctx context.Context, id string) (adplatform.SyncResult, error) {
	if p.sync != nil {
		return p.sync(ctx, id)
	}
	return adplatform.SyncResult{CampaignID: id}, nil
}

func scriptedCampaigns(n int) []adplatform.Campaign {
	cs := make([]adplatform.Campaign, n)
	for i := range cs {
		cs[i] = adplatform.Campaign{ID: campaignID(i + 1), Name: "Campaign " + itoa(i+1), Status: "active", Budget: "100.50"}
	}
	return cs
}

// recorder is an Observer that counts events.
type recorder struct {
	syncer.NopObserver
	mu                       sync.Mutex
	started, finished, pages int
	synced, skipped, failed  []string
	onSynced                 func(n int)
	onStored                 func(id string)
}

func (r *recorder) RunStarted(syncer.RunInfo) { r.mu.Lock(); r.started++; r.mu.Unlock() }
func (r *recorder) RunFinished(syncer.Report) { r.mu.Lock(); r.finished++; r.mu.Unlock() }
func (r *recorder) PageListed(adplatform.PageInfo) {
	r.mu.Lock()
	r.pages++
	r.mu.Unlock()
}
func (r *recorder) CampaignSkipped(id string) {
	r.mu.Lock()
	r.skipped = append(r.skipped, id)
	r.mu.Unlock()
}
func (r *recorder) CampaignFailed(id string, _ error) {
	r.mu.Lock()
	r.failed = append(r.failed, id)
	r.mu.Unlock()
}
func (r *recorder) CampaignSynced(id string) {
	r.mu.Lock()
	r.synced = append(r.synced, id)
	n, f, g := len(r.synced), r.onSynced, r.onStored
	r.mu.Unlock()
	if f != nil {
		f(n)
	}
	if g != nil {
		g(id)
	}
}
