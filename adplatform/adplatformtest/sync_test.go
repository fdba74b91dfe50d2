package adplatformtest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
)

type syncReply struct {
	Success    bool   `json:"success"`
	CampaignID string `json:"campaign_id"`
	SyncedAt   string `json:"synced_at"`
	Message    string `json:"message"`
}

func syncPath(id string) string { return "/api/campaigns/" + url.PathEscape(id) + "/sync" }

func TestSync(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, _ := New(Options{})
		token := loginDirect(t, p)
		t0 := time.Now()
		r := serve(p, http.MethodPost, "/api/campaigns/campaign_100/sync", bearer(token))
		if took := time.Since(t0); took != DefaultSyncLatency {
			t.Errorf("sync took %s, want the reference's %s", took, DefaultSyncLatency)
		}
		var s syncReply
		decode(t, r.body, &s)
		want := syncReply{true, "campaign_100", "2000-01-01T00:00:02.000Z", "Campaign data synced successfully"}
		if r.status != http.StatusOK || s != want {
			t.Errorf("sync: %d %s, want %+v", r.status, r.body, want)
		}
		if got := p.Stats().Syncs["campaign_100"]; got != (SyncStats{Calls: 1, Succeeded: 1}) {
			t.Errorf("Syncs[campaign_100] = %+v", got)
		}
	})
}

// Ids that are not URL-safe arrive intact when the client escapes them.
func TestSyncOddIDs(t *testing.T) {
	t.Parallel()
	odd := []string{
		"a/b?c#d ü%2F", "..", ".", "%", "%zz", "+plus+", "a;b=c", "sp ace", "日本語/テスト", "🎉",
		`back\slash`, `"quoted"`, "tab\there", "new\nline", "/leading", "trailing/", "?", "#", "a//b",
		"\u202eRTL", "campaign_1", strings.Repeat("x", 2000),
	}
	var list []adplatform.Campaign
	for _, id := range odd {
		list = append(list, adplatform.Campaign{ID: id, Name: id, Status: "active", Budget: "1"})
	}
	srv := Start(t, Options{CampaignList: list, RateLimit: -1, SyncLatency: -1})
	token := login(t, srv)
	for _, id := range odd {
		r := send(t, srv, http.MethodPost, syncPath(id), bearer(token))
		var s syncReply
		decode(t, r.body, &s)
		if r.status != http.StatusOK || s.CampaignID != id {
			t.Errorf("sync %q: %d, campaign_id %q", id, r.status, s.CampaignID)
		}
		if got := srv.Platform.Stats().Syncs[id].Calls; got != 1 {
			t.Errorf("SyncCalls(%q) = %d, want 1", id, got)
		}
	}
	// The log keeps the path as sent, escaped.
	var found bool
	for _, req := range srv.Platform.Requests() {
		if req.Path == "/api/campaigns/a%2Fb%3Fc%23d%20%C3%BC%252F/sync" && req.Endpoint == adplatform.EndpointSync {
			found = true
		}
	}
	if !found {
		t.Error("the request log has no escaped path for a/b?c#d ü%2F")
	}
	// Unescaped, a '/' in the id makes another path: a 404.
	if r := send(t, srv, http.MethodPost, "/api/campaigns/a/b/sync", bearer(token)); r.status != http.StatusNotFound {
		t.Errorf("unescaped slash: %d", r.status)
	}
}

func TestSyncErrors(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{RateLimit: -1, SyncLatency: -1, SyncErrors: map[string]int{"campaign_7": http.StatusInternalServerError, "ghost": http.StatusUnprocessableEntity}})
	token := login(t, srv)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"configured 500", http.MethodPost, syncPath("campaign_7"), "", 500, "Internal Server Error"},
		{"configured for an unknown id", http.MethodPost, syncPath("ghost"), "", 422, "Unprocessable Entity"},
		{"unknown id", http.MethodPost, syncPath("campaign_x"), "", 404, "Not Found"},
		{"synthetic id", http.MethodPost, syncPath("campaign_101"), "", 404, "Not Found"},
		{"leading zero", http.MethodPost, syncPath("campaign_01"), "", 404, "Not Found"},
		{"zero", http.MethodPost, syncPath("campaign_0"), "", 404, "Not Found"},
		{"bad JSON body", http.MethodPost, syncPath("campaign_1"), "{not json", 400, "Bad Request"},
		{"GET", http.MethodGet, syncPath("campaign_1"), "", 405, "Method Not Allowed"},
		{"no id", http.MethodPost, "/api/campaigns//sync", "", 404, "Not Found"},
	}
	for _, tt := range tests {
		r := sendBody(t, srv, tt.method, tt.path, tt.body, bearer(token))
		var e errorBody
		decode(t, r.body, &e)
		if r.status != tt.status || e.Error != tt.code {
			t.Errorf("%s: %d %s, want %d %q", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	for _, body := range []string{"", `{"force":true}`, "  \n", "null"} {
		if r := sendBody(t, srv, http.MethodPost, syncPath("campaign_1"), body, bearer(token)); r.status != 200 {
			t.Errorf("body %q: %d %s", body, r.status, r.body)
		}
	}
	if s := srv.Platform.Stats().Syncs["campaign_7"]; s != (SyncStats{Calls: 1}) {
		t.Errorf("Syncs[campaign_7] = %+v, want one call, no success", s)
	}
}

// A client that gives up during the sync latency gets nothing and the
// fake stops waiting.
func TestSyncClientLeaves(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{SyncLatency: time.Hour})
	token := login(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+syncPath("campaign_1"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	_, err := srv.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	waitFor(t, "the fake to let go of the sync", func() bool { return srv.Platform.Stats().InFlight == 0 })
	st := srv.Platform.Stats()
	if s := st.Syncs["campaign_1"]; s != (SyncStats{Calls: 1}) {
		t.Errorf("Syncs = %+v, want one call, no success", s)
	}
	if n := st.Endpoints[adplatform.EndpointSync].Statuses[0]; n != 1 {
		t.Errorf("sync answers with no status = %d, want 1", n)
	}
}
