package adplatformtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
)

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts Options
		want string // the field's name, and what is wrong
	}{
		{Options{Campaigns: -2}, "Options.Campaigns: must not be negative but -1"},
		{Options{Campaigns: 3, CampaignList: []adplatform.Campaign{}}, "Options.Campaigns: must be 0 with a CampaignList"},
		{Options{CampaignList: []adplatform.Campaign{{ID: "", Budget: "1"}}}, "Options.CampaignList: campaign 0: empty id"},
		{Options{CampaignList: []adplatform.Campaign{{ID: "a", Budget: "1"}, {ID: "a", Budget: "1"}}}, "Options.CampaignList: campaigns 0 and 1 have the same id"},
		{Options{CampaignList: []adplatform.Campaign{{ID: "\xff", Budget: "1"}}}, "Options.CampaignList: campaign 0: id is not valid UTF-8"},
		{Options{CampaignList: []adplatform.Campaign{{ID: "a", Budget: "1,5"}}}, "Options.CampaignList: campaign 0"},
		{Options{RawRecords: map[int]json.RawMessage{-1: json.RawMessage(`{}`)}}, "Options.RawRecords: index -1 is not a campaign's"},
		{Options{RawRecords: map[int]json.RawMessage{0: json.RawMessage(`{"id":`)}}, "Options.RawRecords: record 0 is not valid JSON"},
		{Options{RawRecords: map[int]json.RawMessage{100: json.RawMessage(`{}`)}}, "Options.RawRecords: index 100 is not a campaign's (100 campaigns)"},
		{Options{Campaigns: -1, RawRecords: map[int]json.RawMessage{0: json.RawMessage(`{}`)}}, "Options.RawRecords: index 0 is not a campaign's (0 campaigns)"},
		{Options{Email: "a:b"}, "Options.Email: must not contain ':'"},
		{Options{RateLimit: -3}, "Options.RateLimit: must not be negative but -1"},
		{Options{RateWindow: -time.Second}, "Options.RateWindow: must not be negative"},
		{Options{AuthLatency: -1}, "Options.AuthLatency: must not be negative"},
		{Options{ListLatency: -1}, "Options.ListLatency: must not be negative"},
		{Options{SyncLatency: -2}, "Options.SyncLatency: must not be negative but -1"},
		{Options{TokenTTL: -time.Second}, "Options.TokenTTL: must not be negative"},
		{Options{FailEveryNthList: -5}, "Options.FailEveryNthList: must not be negative but -1"},
		{Options{Faults: Faults{Hang: 1.5}}, "Options.Faults.Hang: must be a probability"},
		{Options{Faults: Faults{Reset: -0.1}}, "Options.Faults.Reset: must be a probability"},
		{Options{Faults: Faults{Malformed: math.NaN()}}, "Options.Faults.Malformed: must be a probability"},
		{Options{Faults: Faults{Unavailable: 0.6, BadGateway: 0.6}}, "Options.Faults: the probabilities add up to"},
		{Options{Faults: Faults{Endpoints: []adplatform.Endpoint{"health"}}}, `Options.Faults.Endpoints: unknown endpoint "health"`},
		{Options{SyncErrors: map[string]int{"x": 200}}, `Options.SyncErrors: campaign "x": status must be in 400–599`},
		{Options{PageSizeCap: -1}, "Options.PageSizeCap: must not be negative"},
		{Options{RetryAfter: RetryAfterMode(9)}, "Options.RetryAfter: unknown mode 9"},
	} {
		p, err := New(tt.opts)
		if err == nil || p != nil {
			t.Errorf("New(%+v): want an error %q, got none", tt.opts, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "adplatformtest: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %q, want it to say %q", err, tt.want)
		}
		if srv, err := NewServer(tt.opts); err == nil || srv != nil {
			t.Errorf("NewServer(%+v) = %v; want New's error", tt.opts, err)
		}
	}
	// The raw record's index is checked against the final campaign count.
	if _, err := New(Options{RawRecords: map[int]json.RawMessage{5: json.RawMessage(`{}`)}, Campaigns: 6}); err != nil {
		t.Errorf("raw record inside the campaigns: %v", err)
	}
	// -1 turns a knob off; the zero Options are valid.
	for _, o := range []Options{{}, {Campaigns: -1, RateLimit: -1, SyncLatency: -1, FailEveryNthList: -1}, {CampaignList: []adplatform.Campaign{}}} {
		if _, err := New(o); err != nil {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
}

// The zero Options are the reference platform.
func TestZeroOptionsAreTheReference(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.email != DefaultEmail || c.password != DefaultPassword || c.campaigns != DefaultCampaigns || c.list != nil ||
		c.rateLimit != DefaultRateLimit || c.rateWindow != DefaultRateWindow || c.syncLatency != DefaultSyncLatency ||
		c.tokenTTL != DefaultTokenTTL || c.failEveryNthList != DefaultFailEveryNthList || c.authLatency != 0 || c.listLatency != 0 ||
		c.pageSizeCap != 0 || c.honest || c.rateHeaders || c.retry != RetryAfterNone || len(c.raw) != 0 || len(c.syncErr) != 0 ||
		!c.endpoints[adplatform.EndpointList] || !c.endpoints[adplatform.EndpointSync] || c.endpoints[adplatform.EndpointAuth] {
		t.Errorf("New(Options{}) config = %+v; want the reference's numbers", c)
	}
}

// Start fails the test on a bad option, and closes the server when the
// test ends.
func TestStart(t *testing.T) {
	t.Parallel()
	var srv *Server
	t.Run("closed after", func(t *testing.T) {
		srv = Start(t, Options{})
		send(t, srv, http.MethodGet, "/health")
	})
	if _, err := http.Get(srv.URL + "/health"); err == nil {
		t.Error("the server still answers after its test ended")
	}

	rec := &recordingTB{TB: t}
	func() {
		defer func() { _ = recover() }() // Fatalf's Goexit, stood in for by a panic
		Start(rec, Options{TokenTTL: -time.Second})
	}()
	if !strings.Contains(rec.fatal, "Options.TokenTTL") || rec.cleanups != 0 {
		t.Errorf("Start with a bad option: Fatalf(%q), %d cleanups; want the field named, no server", rec.fatal, rec.cleanups)
	}
}

// recordingTB records what Start asks of a test.
type recordingTB struct {
	testing.TB
	fatal    string
	cleanups int
}

func (r *recordingTB) Helper()          {}
func (r *recordingTB) Cleanup(f func()) { r.cleanups++; r.TB.Cleanup(f) }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic("Fatalf")
}

// The request log and the counters describe what a client did, without
// ever holding a header's value.
func TestInspection(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{SyncLatency: 200 * time.Millisecond, RateLimit: 3, RateWindow: time.Minute})
	token := login(t, srv)
	var wg sync.WaitGroup
	for _, id := range []string{"campaign_1", "campaign_2", "campaign_3", "campaign_1"} {
		wg.Go(func() { send(t, srv, http.MethodPost, syncPath(id), bearer(token), clientHdr("worker")) })
	}
	wg.Wait()
	send(t, srv, http.MethodGet, "/health")
	send(t, srv, http.MethodGet, "/api/campaigns") // no token, default client: 401
	send(t, srv, http.MethodGet, "/nowhere")

	st := srv.Platform.Stats()
	// Three of the four syncs were accepted; which one was rejected is up
	// to the scheduler.
	if got := st.Syncs["campaign_1"].Calls + st.Syncs["campaign_2"].Calls + st.Syncs["campaign_3"].Calls; got != 3 {
		t.Errorf("sync calls = %v, want 3 in all", st.Syncs)
	}
	if e := st.Endpoints[adplatform.EndpointSync]; e.Requests != 4 || e.Accepted != 3 || e.RateLimited != 1 || e.Statuses[200] != 3 || e.Statuses[429] != 1 {
		t.Errorf("sync endpoint stats = %+v", e)
	}
	if e := st.Endpoints[adplatform.EndpointAuth]; e.Requests != 1 || e.Accepted != 1 || e.Statuses[200] != 1 {
		t.Errorf("auth endpoint stats = %+v", e)
	}
	if e := st.Endpoints[adplatform.EndpointList]; e.Requests != 1 || e.Statuses[401] != 1 {
		t.Errorf("list endpoint stats = %+v", e)
	}
	if st.Endpoints[EndpointHealth].Requests != 1 || st.Endpoints[EndpointUnknown].Statuses[404] != 1 {
		t.Errorf("health/unknown stats = %+v / %+v", st.Endpoints[EndpointHealth], st.Endpoints[EndpointUnknown])
	}
	if st.RateLimited != 1 || st.TokensIssued != 1 || st.InFlight != 0 {
		t.Errorf("Stats = %+v", st)
	}
	// The three accepted syncs waited 200 ms side by side.
	if st.MaxInFlight < 3 {
		t.Errorf("MaxInFlight = %d, want at least 3", st.MaxInFlight)
	}
	if len(st.ClientIDs) != 2 || st.ClientIDs[0] != "default" || st.ClientIDs[1] != "worker" {
		t.Errorf("ClientIDs = %v", st.ClientIDs)
	}
	if st.MaxAcceptedInWindow["worker"] != 3 || st.MaxAcceptedInWindow["default"] != 1 {
		t.Errorf("MaxAcceptedInWindow = %v", st.MaxAcceptedInWindow)
	}

	reqs := srv.Platform.Requests()
	if len(reqs) != 8 {
		t.Fatalf("%d requests logged, want 8", len(reqs))
	}
	first := reqs[0]
	if first.Endpoint != adplatform.EndpointAuth || first.Method != "POST" || first.Path != "/auth/token" ||
		first.Auth != AuthBasic || first.Status != 200 || first.ClientID != "default" || first.Time.IsZero() {
		t.Errorf("first logged request = %+v", first)
	}
	schemes := map[AuthScheme]int{}
	for _, r := range reqs {
		schemes[r.Auth]++
	}
	if schemes[AuthBasic] != 1 || schemes[AuthBearer] != 4 || schemes[AuthNone] != 3 {
		t.Errorf("auth schemes = %v", schemes)
	}
	// Nothing in the snapshot or the log holds a secret.
	dump, _ := json.Marshal(struct {
		S Stats
		R []Request
	}{st, reqs})
	for _, secret := range []string{token, DefaultPassword, basic(DefaultEmail, DefaultPassword)[1]} {
		if strings.Contains(string(dump), secret) {
			t.Errorf("Stats or Requests hold a secret: %.40s…", secret)
		}
	}
}

func TestHealthAndErrorPage(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	r := send(t, srv, http.MethodGet, "/health")
	var h struct {
		Status    string  `json:"status"`
		Timestamp string  `json:"timestamp"`
		Uptime    float64 `json:"uptime"`
	}
	decode(t, r.body, &h)
	ts, err := time.Parse(time.RFC3339, h.Timestamp)
	if r.status != 200 || h.Status != "ok" || err != nil || time.Since(ts) > time.Minute || h.Uptime < 0 || h.Uptime > 60 {
		t.Errorf("/health: %d %s", r.status, r.body)
	}

	token := login(t, srv)
	r = send(t, srv, http.MethodGet, "/api/error", bearer(token), clientHdr("c1"))
	var e struct {
		Error string `json:"error"`
		Stack string `json:"stack"`
	}
	decode(t, r.body, &e)
	if r.status != 500 || e.Error != "Simulated server error" || len(r.body) < 8<<10 {
		t.Errorf("/api/error: %d, %d bytes, error %q", r.status, len(r.body), e.Error)
	}
	// It echoes the bearer token, so a client that logs it whole leaks it.
	if !strings.Contains(e.Stack, "Bearer "+token) || !strings.Contains(e.Stack, "hunter2") {
		t.Error("/api/error does not echo the Authorization header and the database password")
	}
	if r := send(t, srv, http.MethodPost, "/health"); r.status != 405 {
		t.Errorf("POST /health: %d", r.status)
	}
}

// New gives a handler to mount on a server of one's own.
func TestNewOnOwnServer(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Campaigns: 3, Faults: Faults{Hang: 1}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", p)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(p.Close) // runs first: releases the hung request
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/auth/token", nil)
	req.SetBasicAuth(DefaultEmail, DefaultPassword)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || p.Stats().TokensIssued != 1 {
		t.Errorf("token over the mux: %d", resp.StatusCode)
	}
	// A request the fake holds open is released by Platform.Close.
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/campaigns", nil)
		req.Header.Set("Authorization", "Bearer "+p.Tokens()[0])
		resp, err := hs.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the hung request", func() bool { return p.Stats().InFlight == 1 })
	p.Close()
	if err := <-done; err == nil {
		t.Error("the hung request got an answer")
	}
}

// The log keeps the latest requests; the counters count them all.
func TestRequestLogBound(t *testing.T) {
	t.Parallel()
	p, _ := New(Options{})
	const n = 2*maxLogged + 5
	for range n {
		serve(p, http.MethodGet, "/health")
	}
	serve(p, http.MethodGet, "/nowhere")
	reqs := p.Requests()
	if len(reqs) < maxLogged || len(reqs) > 2*maxLogged {
		t.Errorf("%d requests logged, want %d to %d", len(reqs), maxLogged, 2*maxLogged)
	}
	if last := reqs[len(reqs)-1]; last.Endpoint != EndpointUnknown {
		t.Errorf("the newest request is not last: %+v", last)
	}
	if got := p.Stats().Endpoints[EndpointHealth].Requests; got != n {
		t.Errorf("health requests counted = %d, want %d", got, n)
	}
}

// A connection that read its request just before Server.Close closed it
// still calls the handler, after Close began waiting for the handlers: that
// call is turned away instead of joining the wait (a WaitGroup growing from
// zero during its Wait, which the race detector reports), and is not
// recorded.
func TestDrainTurnsLateRequestsAway(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /health before draining: %d, want 200", rec.Code)
	}
	p.drain()
	rec = httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /health after draining: %d, want 503", rec.Code)
	}
	if n := len(p.Requests()); n != 1 {
		t.Errorf("%d requests recorded, want 1: the one turned away is not the platform's", n)
	}
}
