package adplatformtest

import (
	"encoding/json"
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
	tests := []struct {
		opt  Option
		want string // the option's name, and what is wrong
	}{
		{WithCampaigns(-1), "WithCampaigns: n must not be negative"},
		{WithCampaignList([]adplatform.Campaign{{ID: "", Budget: "1"}}), "WithCampaignList: campaign 0: empty id"},
		{WithCampaignList([]adplatform.Campaign{{ID: "a", Budget: "1"}, {ID: "a", Budget: "1"}}), "WithCampaignList: campaigns 0 and 1 have the same id"},
		{WithCampaignList([]adplatform.Campaign{{ID: "\xff", Budget: "1"}}), "WithCampaignList: campaign 0: id is not valid UTF-8"},
		{WithCampaignList([]adplatform.Campaign{{ID: "a", Budget: "1,5"}}), "WithCampaignList: campaign 0"},
		{WithRawRecord(-1, json.RawMessage(`{}`)), "WithRawRecord: index must not be negative"},
		{WithRawRecord(0, json.RawMessage(`{"id":`)), "WithRawRecord: raw is not valid JSON"},
		{WithRawRecord(100, json.RawMessage(`{}`)), "WithRawRecord: index 100 is past the last campaign"},
		{WithCredentials("", "x"), "WithCredentials: empty email"},
		{WithCredentials("a:b", "x"), "WithCredentials: email contains ':'"},
		{WithCredentials("a", ""), "WithCredentials: empty password"},
		{WithRateLimit(-1, time.Second), "WithRateLimit: n must not be negative"},
		{WithRateLimit(1, 0), "WithRateLimit: window must be positive"},
		{WithAuthLatency(-1), "WithAuthLatency: must not be negative"},
		{WithListLatency(-1), "WithListLatency: must not be negative"},
		{WithSyncLatency(-1), "WithSyncLatency: must not be negative"},
		{WithTokenTTL(0), "WithTokenTTL: must be positive"},
		{WithFailEveryNthList(-1), "WithFailEveryNthList: n must not be negative"},
		{WithFaults(Faults{Hang: 1.5}), "WithFaults: Faults.Hang must be a probability"},
		{WithFaults(Faults{Reset: -0.1}), "WithFaults: Faults.Reset must be a probability"},
		{WithFaults(Faults{Malformed: math.NaN()}), "WithFaults: Faults.Malformed must be a probability"},
		{WithFaults(Faults{Unavailable: 0.6, BadGateway: 0.6}), "WithFaults: the probabilities add up to"},
		{WithFaults(Faults{Endpoints: []adplatform.Endpoint{"health"}}), `WithFaults: Faults.Endpoints: unknown endpoint "health"`},
		{WithSyncError("x", 200), "WithSyncError: status must be in 400–599"},
		{WithPageSizeCap(0), "WithPageSizeCap: n must be at least 1"},
		{WithRetryAfter(RetryAfterMode(9)), "WithRetryAfter: unknown mode 9"},
	}
	for _, tt := range tests {
		p, err := New(tt.opt)
		if err == nil || p != nil {
			t.Errorf("want an error %q, got none", tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "adplatformtest: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %q, want it to say %q", err, tt.want)
		}
	}
	// The raw record's index is checked against the final campaign count.
	if _, err := New(WithRawRecord(5, json.RawMessage(`{}`)), WithCampaigns(6)); err != nil {
		t.Errorf("raw record inside the campaigns: %v", err)
	}
	if _, err := New(WithRawRecord(5, json.RawMessage(`{}`)), WithCampaigns(5)); err == nil {
		t.Error("raw record past the campaigns set later: no error")
	}
	if _, err := New(WithCredentials("x", "y"), nil); err != nil {
		t.Errorf("a nil option: %v", err)
	}
}

func TestNewServerPanicsOnInvalidOption(t *testing.T) {
	t.Parallel()
	defer func() {
		err, _ := recover().(error)
		if err == nil || !strings.Contains(err.Error(), "WithTokenTTL") {
			t.Errorf("recovered %v, want the option's error", err)
		}
	}()
	NewServer(WithTokenTTL(-time.Second))
}

// The request log and the counters describe what a client did, without
// ever holding a header's value.
func TestInspection(t *testing.T) {
	t.Parallel()
	srv := start(t, WithSyncLatency(200*time.Millisecond), WithRateLimit(3, time.Minute))
	token := login(t, srv)
	var wg sync.WaitGroup
	for _, id := range []string{"campaign_1", "campaign_2", "campaign_3", "campaign_1"} {
		wg.Go(func() { send(t, srv, http.MethodPost, syncPath(id), bearer(token), clientHdr("worker")) })
	}
	wg.Wait()
	send(t, srv, http.MethodGet, "/health")
	send(t, srv, http.MethodGet, "/api/campaigns") // no token, default client: 401
	send(t, srv, http.MethodGet, "/nowhere")

	st := srv.Stats()
	// Three of the four syncs were accepted; which one was rejected is up
	// to the scheduler.
	if got := st.Syncs["campaign_1"].Calls + st.Syncs["campaign_2"].Calls + st.Syncs["campaign_3"].Calls; got != 3 {
		t.Errorf("sync calls = %v, want 3 in all", st.Syncs)
	}
	if got := srv.SyncCalls("campaign_1"); got != st.Syncs["campaign_1"].Calls || got < 1 {
		t.Errorf("SyncCalls(campaign_1) = %d, Stats says %+v", got, st.Syncs["campaign_1"])
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

	reqs := srv.Requests()
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
	srv := start(t)
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
	p, err := New(WithCampaigns(3), WithFaults(Faults{Hang: 1}))
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
	p, _ := New()
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
