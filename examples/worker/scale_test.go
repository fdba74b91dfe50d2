package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/exectest"
	"github.com/adsync/adsync/store"
)

// The scale scenario (issue 11, item 5): scaleAccounts accounts of
// scaleCampaigns campaigns each, scaleProcs worker processes of scaleSlots
// accounts at once each, against one fake platform of scaleRate per client
// id, in a process of its own; one worker is SIGKILLed part way.
const (
	scaleAccounts  = 100
	scaleProcs     = 4
	scaleSlots     = 12
	scaleCampaigns = 10
	scaleLimit     = 10
	scaleWindow    = 20 * time.Second
	scaleLatency   = 100 * time.Millisecond
	// The clients' least margin on every wait for a slot. A loaded machine
	// (a load average of 10 on 2 cores, or both cores busy) runs the fake's
	// handler up to 160 ms after a client wrote the request, and a run's
	// first request, on a new connection, waits for the fake to accept it:
	// inside CI once 300 ms, so that the request that opened the next
	// window reached the fake inside the first, a 429, with a 250 ms
	// margin. The margin is paid at every window boundary, so the ratio to
	// the floor grows by margin / window, and by the scheduling delay the
	// client adds to it on a busy machine: on 8 s windows a run under CI's
	// load took 1.058× its floor (250 ms plus 200 ms observed); 500 ms on
	// 20 s windows costs 2.5%.
	scaleMargin = 500 * time.Millisecond
	// A run's pace against its floor, checked in two parts. The median run
	// pays the margin and little else: at most scaleMedianRatio (1.025
	// measured, quiet, inside CI, and with both cores busy). A run's own
	// ratio also holds what the machine's scheduling delay costs it, which
	// the client adds to its margin on purpose (twice the delay it
	// observes): with two `yes` beside the race-instrumented suite, one run
	// in 88 took 1.063×. So a single run is held to scaleWorstRatio, which
	// no load seen here comes near, and which still fails a run that loses
	// a quarter of a window: a 429 or an extra wait for a slot costs one.
	scaleMedianRatio = 1.05
	scaleWorstRatio  = 1.25
	// A run makes 11 requests (1 list, 10 syncs), so its floor is one
	// window and a sync call, 20.1 s; a job is stopped after 40 s (none is)
	// and rescued 42 s after it started.
	scaleJobTimeout = 40 * time.Second
	scaleGrace      = time.Second
	// The workers start this far apart, as replicas do: the first jobs of
	// all four, started in one instant, would align their windows and burst
	// together.
	scaleStagger = time.Second
	// The worker is killed once the platform has seen this share of the
	// requests the scenario makes: part way, with runs in flight.
	scaleKillAt = 0.3
)

var (
	scaleBuild        sync.Once
	scaleWorkerBin    string
	scaleFakeBin      string
	scaleBuildErr     error
	scaleBuildElapsed time.Duration
)

// scaleBinaries builds the worker and the fake for the scale scenario
// without the race detector, whatever the tests have: the scenario measures
// pace on a shared two-core machine, which instrumented binaries would not
// keep (the worker's other tests run it with -race).
func scaleBinaries(tb testing.TB) (worker, fake string) {
	tb.Helper()
	scaleBuild.Do(func() {
		start := time.Now()
		dir := filepath.Join(binDir, "norace")
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".", "./internal/scalefake")
		if out, err := cmd.CombinedOutput(); err != nil {
			scaleBuildErr = fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
			return
		}
		scaleWorkerBin, scaleFakeBin = filepath.Join(dir, "worker"), filepath.Join(dir, "scalefake")
		scaleBuildElapsed = time.Since(start)
	})
	if scaleBuildErr != nil {
		tb.Fatal(scaleBuildErr)
	}
	return scaleWorkerBin, scaleFakeBin
}

// fakeRequest is one entry of scalefake's log (its Request).
type fakeRequest struct {
	Arrived   int64  `json:"arrived"`
	Ended     int64  `json:"ended"`
	ClientID  string `json:"client_id"`
	UserAgent string `json:"user_agent"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
}

func (r fakeRequest) at() time.Time { return time.Unix(0, r.Arrived) }

func fakeLog(tb testing.TB, url string) []fakeRequest {
	tb.Helper()
	resp, err := http.Get(url + "/_requests")
	if err != nil {
		tb.Fatalf("fake's log: %v", err)
	}
	defer resp.Body.Close()
	var log []fakeRequest
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		tb.Fatalf("fake's log: %v", err)
	}
	return log
}

// scaleResult is what one scenario measured.
type scaleResult struct {
	wall time.Duration // first worker started → every account completed
	// untouched is the first worker's start → the last answer to the
	// accounts the kill did not touch (n of them): the pace without a crash.
	untouched  time.Duration
	nUntouched int
	requests   int
	http429    int
	takenOver  []string           // accounts the killed worker had in flight
	takeovers  []time.Duration    // for each: the kill → the new owner's first request
	ratios     map[string]float64 // platform side, per account not taken over
	worstRatio float64
	// storeRatios are the runs as the store recorded them (start to end)
	// against the same floors, sorted.
	storeRatios []float64
	worst       string
	resynced    int // campaigns synced on the platform twice (in flight at the kill)
	overlaps    []string
}

// runScale runs the scenario and checks what issue 11 asks; it returns the
// figures.
func runScale(tb testing.TB) scaleResult {
	tb.Helper()
	workerBin, fakeBin := scaleBinaries(tb)
	dbURL, st := testDB(tb)
	// The reference's 503 on every 5th list call, across client ids, is
	// left out: it costs a fifth of the runs a retry backoff (250 ms or
	// more) that no rate window accounts for; adplatform's and syncer's
	// tests cover it.
	fake := exectest.Start(tb, fakeBin, nil, "-rate", fmt.Sprintf("%d/%s", scaleLimit, scaleWindow),
		"-campaigns", fmt.Sprint(scaleCampaigns), "-sync-latency", scaleLatency.String(), "-fail-every-nth-list", "-1")
	fakeURL := fake.WaitStdout(tb, regexp.MustCompile(`listening on (http://\S+)`), 30*time.Second)[1]

	accounts := make([]string, scaleAccounts)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-%03d", i)
	}
	env := []string{
		"DATABASE_URL=" + dbURL, "AD_PLATFORM_API_URL=" + fakeURL,
		"AD_PLATFORM_EMAIL=" + adplatformtest.DefaultEmail, "AD_PLATFORM_PASSWORD=" + adplatformtest.DefaultPassword,
	}
	start := time.Now()
	procs := make([]*exectest.Proc, scaleProcs)
	for i := range procs {
		if i > 0 {
			time.Sleep(scaleStagger)
		}
		procs[i] = exectest.Start(tb, workerBin, env,
			"-accounts", strings.Join(accounts, ","), "-every", "1h", "-workers", fmt.Sprint(scaleSlots),
			"-rate", fmt.Sprintf("%d/%s", scaleLimit, scaleWindow), "-rate-margin", scaleMargin.String(), "-poll-interval", "100ms",
			"-job-timeout", scaleJobTimeout.String(), "-grace-period", scaleGrace.String(),
			"-log-level", "warn", "-name", fmt.Sprintf("w%d", i))
	}

	// Kill w0 part way; pick it among the non-leaders, so that the
	// takeover does not also wait for River to elect a leader (up to 15 s
	// more: see riversync's Timeouts and takeover).
	expected := scaleAccounts * (scaleCampaigns + 1)
	var killAt time.Time
	victim := -1
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for victim < 0 {
		if time.Now().After(deadline) {
			tb.Fatal("the platform never saw enough requests to kill a worker part way")
		}
		time.Sleep(200 * time.Millisecond)
		if float64(len(fakeLog(tb, fakeURL))) < scaleKillAt*float64(expected) {
			continue
		}
		var leader string
		if err := db.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&leader); err != nil {
			tb.Logf("no River leader yet: %v", err)
			continue
		}
		for i := range procs {
			if fmt.Sprintf("w%d", i) != leader {
				victim = i
				break
			}
		}
		procs[victim].Signal(tb, syscall.SIGKILL)
		killAt = time.Now()
	}
	victimUA := fmt.Sprintf("adsync-worker/w%d", victim)

	// Every account completes a run, whichever process runs it.
	for _, id := range accounts {
		for {
			_, err := st.LastCompletedRun(context.Background(), id)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("account %s never completed a run: %v", id, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	res := scaleResult{wall: time.Since(start), ratios: map[string]float64{}}
	for i, p := range procs {
		if i == victim {
			continue
		}
		p.Signal(tb, syscall.SIGTERM)
		if code := p.Wait(tb, time.Minute); code != exitOK {
			tb.Errorf("worker w%d: exit %d after SIGTERM", i, code)
		}
	}

	// Every campaign of every account stored with its synced_at.
	rows, err := db.Query(`SELECT account_id, count(*) FILTER (WHERE synced_at IS NOT NULL) FROM campaigns GROUP BY account_id`)
	if err != nil {
		tb.Fatal(err)
	}
	synced := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			tb.Fatal(err)
		}
		synced[id] = n
	}
	rows.Close()
	for _, id := range accounts {
		if synced[id] != scaleCampaigns {
			tb.Errorf("account %s: %d campaigns stored with synced_at, want %d", id, synced[id], scaleCampaigns)
		}
	}

	// The accounts the killed worker had: River's rescuer made their jobs
	// available again, and recorded it on them.
	rescued := map[string]bool{}
	rrows, err := db.Query(`SELECT args->>'account_id' FROM river_job WHERE cardinality(errors) > 0`)
	if err != nil {
		tb.Fatal(err)
	}
	for rrows.Next() {
		var id string
		if err := rrows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		rescued[id] = true
	}
	rrows.Close()

	// What the platform saw, per client id (each account's id).
	byAccount := map[string][]fakeRequest{}
	for _, r := range fakeLog(tb, fakeURL) {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue // the token endpoint: not rate-limited
		}
		byAccount[r.ClientID] = append(byAccount[r.ClientID], r)
		res.requests++
		if r.Status == http.StatusTooManyRequests {
			res.http429++
		}
	}
	for _, id := range accounts {
		reqs := byAccount[id]
		sort.Slice(reqs, func(i, j int) bool { return reqs[i].Arrived < reqs[j].Arrived })
		n429 := 0
		okSyncs := map[string]int{}
		for i, r := range reqs {
			if r.Status == http.StatusTooManyRequests {
				n429++
			}
			if r.Status == http.StatusOK && strings.HasSuffix(r.Path, "/sync") {
				okSyncs[r.Path]++
			}
			// No two processes in one window: where the sender changes,
			// a window has passed since the other's last request.
			if i > 0 && r.UserAgent != reqs[i-1].UserAgent {
				if gap := r.at().Sub(reqs[i-1].at()); gap < scaleWindow {
					res.overlaps = append(res.overlaps, fmt.Sprintf("%s: %s then %s %s later", id, reqs[i-1].UserAgent, r.UserAgent, gap))
				}
			}
		}
		if n429 > 0 {
			tb.Errorf("client id %s: %d 429s, want none:%s", id, n429, describe(reqs, reqs[0].at()))
		}
		for _, n := range okSyncs {
			res.resynced += n - 1
		}
		if len(reqs) == 0 {
			tb.Errorf("account %s: no request reached the platform", id)
			continue
		}
		if rescued[id] {
			res.takenOver = append(res.takenOver, id)
			for _, r := range reqs {
				if r.UserAgent != victimUA && r.at().After(killAt) {
					res.takeovers = append(res.takeovers, r.at().Sub(killAt))
					break
				}
			}
			continue // resumed: its run waited for the rescue
		}
		// The run, from its first request to its last answer, against the
		// rolling-window floor of the requests it made.
		windows := (len(reqs) + scaleLimit - 1) / scaleLimit
		floor := time.Duration(windows-1)*scaleWindow + scaleLatency
		var last int64
		for _, r := range reqs {
			last = max(last, r.Ended)
		}
		span := time.Unix(0, last).Sub(reqs[0].at())
		res.untouched = max(res.untouched, time.Unix(0, last).Sub(start))
		res.nUntouched++
		ratio := span.Seconds() / floor.Seconds()
		res.ratios[id] = ratio
		if ratio > res.worstRatio {
			res.worstRatio, res.worst = ratio, id
		}
		if ratio > scaleWorstRatio {
			tb.Errorf("account %s: its requests spanned %s, %.3f× the floor %s of %d requests, want at most %.2f:%s", id, span, ratio, floor, len(reqs), scaleWorstRatio, describe(reqs, reqs[0].at()))
		}
		// The run as the store recorded it: its start, the token and the
		// database included.
		runs, err := st.Runs(context.Background(), id, store.RunQuery{Limit: 10})
		if err != nil || len(runs) != 1 {
			tb.Errorf("account %s: runs %+v (%v), want one", id, runs, err)
			continue
		}
		res.storeRatios = append(res.storeRatios, runs[0].FinishedAt.Sub(runs[0].StartedAt).Seconds()/floor.Seconds())
	}
	if med := res.medianRatio(); med > scaleMedianRatio {
		tb.Errorf("the median run spanned %.3f× its floor, want at most %.2f", med, scaleMedianRatio)
	}
	for _, o := range res.overlaps {
		tb.Errorf("requests of one account from two processes in one window: %s", o)
	}
	if len(res.takenOver) == 0 {
		tb.Errorf("the killed worker w%d had no account in flight: the kill came too late", victim)
	}
	if len(res.takeovers) != len(res.takenOver) {
		tb.Errorf("%d accounts taken over, %d with a request after the kill", len(res.takenOver), len(res.takeovers))
	}
	// What the killed worker had synced on the platform but not yet
	// committed (a batch is committed every 200 ms) is synced again, and
	// nothing else: at most its calls in flight and one batch's worth.
	if limit := len(res.takenOver) * (10 + scaleLimit); res.resynced > limit {
		tb.Errorf("%d campaigns synced twice, more than the killed worker can have had in flight (%d)", res.resynced, limit)
	}
	slices.Sort(res.takeovers)
	slices.Sort(res.storeRatios)
	return res
}

// describe lists requests for a failure message, each relative to t0.
func describe(reqs []fakeRequest, t0 time.Time) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "\n\t%s %s +%dms (%dms) %d", r.UserAgent, r.Path, r.at().Sub(t0).Milliseconds(), (r.Ended-r.Arrived)/1e6, r.Status)
	}
	return b.String()
}

// medianRatio is the median of the runs' ratios to their floors.
func (r scaleResult) medianRatio() float64 {
	ratios := slices.Sorted(maps.Values(r.ratios))
	if len(ratios) == 0 {
		return 0
	}
	return ratios[len(ratios)/2]
}

func (r scaleResult) log(tb testing.TB) {
	tb.Helper()
	med := r.medianRatio()
	var worstTakeover time.Duration
	if len(r.takeovers) > 0 {
		worstTakeover = r.takeovers[len(r.takeovers)-1]
	}
	storeMed, storeWorst := 0.0, 0.0
	if n := len(r.storeRatios); n > 0 {
		storeMed, storeWorst = r.storeRatios[n/2], r.storeRatios[n-1]
	}
	var firstTakeover time.Duration
	if len(r.takeovers) > 0 {
		firstTakeover = r.takeovers[0]
	}
	tb.Logf("scale: %d accounts, %d processes × %d: every account completed in %s (%.3f accounts/s/process; the %d the kill did not touch in %s: %.3f accounts/s/process); %d /api requests, %d 429s; "+
		"requests span / floor median %.3f, worst %.3f (%s); store's run / floor median %.3f, worst %.3f; "+
		"%d accounts taken over, the first %s and the last %s after the kill; %d campaigns synced twice (in flight at the kill); build %s",
		scaleAccounts, scaleProcs, scaleSlots, r.wall.Round(time.Millisecond), float64(scaleAccounts)/r.wall.Seconds()/scaleProcs,
		r.nUntouched, r.untouched.Round(time.Millisecond), float64(r.nUntouched)/r.untouched.Seconds()/scaleProcs,
		r.requests, r.http429, med, r.worstRatio, r.worst, storeMed, storeWorst,
		len(r.takenOver), firstTakeover.Round(time.Millisecond), worstTakeover.Round(time.Millisecond), r.resynced,
		scaleBuildElapsed.Round(time.Second))
}

// TestScale is issue 11's scale claim: 100 accounts, 4 worker processes,
// one SIGKILLed part way, against a fake platform with 20 s windows running
// as a process of its own; see runScale for what it checks. It is not
// parallel: it measures pace, and runs alone in its package (the other
// tests wait for it).
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("the scale scenario takes about two minutes: skipped under -short")
	}
	runScale(t).log(t)
}

// BenchmarkScale runs the scale scenario and reports accounts synced per
// second per process (4 processes, one killed part way; the takeover
// governs it), the same for the accounts the kill did not touch (the pace
// without a crash; 10 campaigns at
// 10 requests per 20 s: a run's floor is 20.1 s), the takeover time (the kill
// to the new owner's first request, for the last account taken over), and
// the worst run against its rolling-window floor. Each iteration takes about
// two minutes:
//
//	go test -run '^$' -bench Scale -benchtime 1x ./examples/worker
func BenchmarkScale(b *testing.B) {
	scaleBinaries(b) // not timed
	var perProc, untouched, takeover, ratio, requests float64
	for b.Loop() {
		r := runScale(b)
		perProc += float64(scaleAccounts) / r.wall.Seconds() / scaleProcs
		untouched += float64(r.nUntouched) / r.untouched.Seconds() / scaleProcs
		if n := len(r.takeovers); n > 0 {
			takeover += r.takeovers[n-1].Seconds()
		}
		ratio += r.worstRatio
		requests += float64(r.requests)
		r.log(b)
	}
	n := float64(b.N)
	b.ReportMetric(perProc/n, "accounts/s/process")
	b.ReportMetric(untouched/n, "untouched-accounts/s/process")
	b.ReportMetric(takeover/n, "takeover-s")
	b.ReportMetric(ratio/n, "worst-ratio")
	b.ReportMetric(requests/n, "requests")
}
