package adplatformtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
)

func wantIDs(from, to int) []string {
	var out []string
	for k := from; k <= to; k++ {
		out = append(out, "campaign_"+strconv.Itoa(k))
	}
	return out
}

// The reference: 10 pages of 10, has_more until page 10, the 5th list
// request a 503 that counts against the limit.
func TestListReferencePages(t *testing.T) {
	t.Parallel()
	// The reference limit (10 per minute) would stop this walk at the
	// 11th request; everything else is the default.
	srv := Start(t, Options{RateLimit: -1})
	token := login(t, srv)
	var requests, unavailable []int
	for pg := 1; pg <= 10; pg++ {
		query := fmt.Sprintf("?page=%d&limit=10", pg)
		r := send(t, srv, http.MethodGet, "/api/campaigns"+query, bearer(token))
		requests = append(requests, r.status)
		for r.status == http.StatusServiceUnavailable { // retry, as a client must
			unavailable = append(unavailable, len(requests))
			r = send(t, srv, http.MethodGet, "/api/campaigns"+query, bearer(token))
			requests = append(requests, r.status)
		}
		if r.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", pg, r.status, r.body)
		}
		var p page
		decode(t, r.body, &p)
		if got, want := ids(p.Data), wantIDs(pg*10-9, pg*10); !slices.Equal(got, want) {
			t.Errorf("page %d ids = %v, want %v", pg, got, want)
		}
		want := pagination{Page: pg, Limit: 10, Total: 100, HasMore: pg < 10}
		if p.Pagination != want {
			t.Errorf("page %d pagination = %+v, want %+v", pg, p.Pagination, want)
		}
	}
	// Every 5th list request is a 503: 10 pages take 12 requests.
	if !slices.Equal(unavailable, []int{5, 10}) || len(requests) != 12 {
		t.Errorf("503s at requests %v of %d, want [5 10] of 12", unavailable, len(requests))
	}
	// Past the end the reference pads with synthetic campaigns.
	p := list(t, srv, token, "?page=11")
	if got, want := ids(p.Data), wantIDs(101, 110); !slices.Equal(got, want) {
		t.Errorf("page 11 ids = %v, want %v", got, want)
	}
	if p.Pagination.HasMore {
		t.Error("page 11 has_more = true")
	}
}

func TestListDefaultsAndGeneratedFields(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	token := login(t, srv)
	a := list(t, srv, token, "") // page 1, limit 10
	b := list(t, srv, token, "?page=1&limit=10")
	if a.Pagination != (pagination{Page: 1, Limit: 10, Total: 100, HasMore: true}) {
		t.Errorf("default pagination = %+v", a.Pagination)
	}
	if len(a.Data) != 10 || len(b.Data) != 10 {
		t.Fatalf("got %d and %d campaigns, want 10", len(a.Data), len(b.Data))
	}
	day0 := srv.Platform.started.UTC().Truncate(time.Millisecond)
	changed := map[string]bool{}
	for i, c := range a.Data {
		k := i + 1
		want := adplatform.Campaign{
			ID: "campaign_" + strconv.Itoa(k), Name: "Campaign " + strconv.Itoa(k), Status: "active",
			Budget: strconv.Itoa(1000 + 100*k), CreatedAt: day0.AddDate(0, 0, -k),
			Impressions: c.Impressions, Clicks: c.Clicks, Conversions: c.Conversions,
		}
		if c != want {
			t.Errorf("campaign %d = %+v, want %+v", k, c, want)
		}
		if c.Impressions < 0 || c.Impressions >= 10000 || c.Clicks < 0 || c.Clicks >= 500 || c.Conversions < 0 || c.Conversions >= 50 {
			t.Errorf("campaign %d counts out of the reference's ranges: %+v", k, c)
		}
		// Stable fields stay; counts move on every call.
		o := b.Data[i]
		if o.ID != c.ID || o.Budget != c.Budget || !o.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("campaign %d changed between calls: %+v then %+v", k, c, o)
		}
		changed["impressions"] = changed["impressions"] || o.Impressions != c.Impressions
		changed["clicks"] = changed["clicks"] || o.Clicks != c.Clicks
		changed["conversions"] = changed["conversions"] || o.Conversions != c.Conversions
	}
	// Ten campaigns with the same conversions twice: (1/50)^10.
	for _, f := range []string{"impressions", "clicks", "conversions"} {
		if !changed[f] {
			t.Errorf("%s did not change between two listings", f)
		}
	}
}

// The quirk: with limit=100, page 1 holds everything yet says has_more,
// and page 2 is 100 synthetic campaigns.
func TestListHasMoreQuirk(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	token := login(t, srv)
	p1 := list(t, srv, token, "?page=1&limit=100")
	if got, want := ids(p1.Data), wantIDs(1, 100); !slices.Equal(got, want) {
		t.Errorf("page 1 ids = %v", got)
	}
	if p1.Pagination != (pagination{Page: 1, Limit: 100, Total: 100, HasMore: true}) {
		t.Errorf("page 1 pagination = %+v", p1.Pagination)
	}
	p2 := list(t, srv, token, "?page=2&limit=100")
	if got, want := ids(p2.Data), wantIDs(101, 200); !slices.Equal(got, want) {
		t.Errorf("page 2 ids = %v, want synthetic 101..200", got)
	}
	if p2.Pagination != (pagination{Page: 2, Limit: 100, Total: 100, HasMore: true}) {
		t.Errorf("page 2 pagination = %+v", p2.Pagination)
	}
	if got := p2.Data[0].Budget; got != "11100" {
		t.Errorf("synthetic campaign_101 budget = %s, want 11100", got)
	}
}

func TestListHonestPagination(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{HonestPagination: true, Campaigns: 95, FailEveryNthList: -1})
	token := login(t, srv)
	tests := []struct {
		query string
		from  int // first id, 0 for an empty page
		to    int
		more  bool
	}{
		{"?page=1&limit=100", 1, 95, false},
		{"?page=2&limit=100", 0, 0, false},
		{"?page=3&limit=30", 61, 90, true},
		{"?page=4&limit=30", 91, 95, false},
		{"?page=5&limit=30", 0, 0, false},
		{"?page=10&limit=10", 91, 95, false},
		{"?page=9&limit=10", 81, 90, true},
	}
	for _, tt := range tests {
		p := list(t, srv, token, tt.query)
		var want []string
		if tt.from > 0 {
			want = wantIDs(tt.from, tt.to)
		}
		if got := ids(p.Data); !slices.Equal(got, want) {
			t.Errorf("%s: ids = %v, want %v", tt.query, got, want)
		}
		if p.Pagination.HasMore != tt.more || p.Pagination.Total != 95 {
			t.Errorf("%s: pagination = %+v, want has_more %v total 95", tt.query, p.Pagination, tt.more)
		}
	}
	// An empty page is [], not null.
	r := send(t, srv, http.MethodGet, "/api/campaigns?page=2&limit=100", bearer(token))
	var raw struct{ Data json.RawMessage }
	decode(t, r.body, &raw)
	if string(raw.Data) != "[]" {
		t.Errorf("empty page data = %s, want []", raw.Data)
	}
}

func TestListQuirkWithOtherTotals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, page, limit int
		wantFirst      string
		wantMore       bool
		wantLen        int
	}{
		{0, 1, 10, "campaign_1", false, 10}, // synthetic from the first record
		{25, 3, 10, "campaign_21", false, 10},
		{25, 2, 10, "campaign_11", true, 10},
		{7, 1, 5, "campaign_1", false, 5},
	}
	for _, tt := range tests {
		campaigns := tt.n
		if campaigns == 0 {
			campaigns = -1 // none: 0 is the default
		}
		srv := Start(t, Options{Campaigns: campaigns, RateLimit: -1, FailEveryNthList: -1})
		p := list(t, srv, login(t, srv), fmt.Sprintf("?page=%d&limit=%d", tt.page, tt.limit))
		if len(p.Data) != tt.wantLen || p.Data[0].ID != tt.wantFirst || p.Pagination.HasMore != tt.wantMore || p.Pagination.Total != tt.n {
			t.Errorf("n=%d page=%d limit=%d: first %s, %d records, %+v", tt.n, tt.page, tt.limit, p.Data[0].ID, len(p.Data), p.Pagination)
		}
	}
}

func TestListInvalidParams(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{RateLimit: -1, FailEveryNthList: -1})
	token := login(t, srv)
	for _, q := range []string{
		"?page=0", "?page=-1", "?page=abc", "?page=", "?page=1.5", "?page=+2", "?page=1e3",
		"?limit=0", "?limit=-10", "?limit=10001", "?limit=", "?limit=ten",
		"?page=99999999999999999999", "?page=900719925474100&limit=100",
	} {
		r := send(t, srv, http.MethodGet, "/api/campaigns"+q, bearer(token))
		var e errorBody
		decode(t, r.body, &e)
		if r.status != http.StatusBadRequest || e.Error != "Bad Request" || e.Message == "" {
			t.Errorf("%s: %d %s, want a 400 JSON error", q, r.status, r.body)
		}
	}
	// The bounds themselves are fine.
	if p := list(t, srv, token, "?limit=10000&page=2"); len(p.Data) != 10000 || p.Data[0].ID != "campaign_10001" {
		t.Errorf("limit=10000 page 2: %d records from %s", len(p.Data), p.Data[0].ID)
	}
	// Far pages keep exact ids; created_at goes when it would predate year 1.
	p := list(t, srv, token, "?page=90071992547409&limit=100")
	if got := p.Data[99].ID; got != "campaign_9007199254740900" {
		t.Errorf("last id of the last page = %s", got)
	}
	if !p.Data[0].CreatedAt.IsZero() {
		t.Errorf("far synthetic campaign has created_at %v", p.Data[0].CreatedAt)
	}
}

func TestListPageSizeCap(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{PageSizeCap: 20})
	token := login(t, srv)
	p := list(t, srv, token, "?page=2&limit=100")
	if got, want := ids(p.Data), wantIDs(21, 40); !slices.Equal(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	if p.Pagination.Limit != 20 {
		t.Errorf("pagination.limit = %d, want the cap 20", p.Pagination.Limit)
	}
	if p := list(t, srv, token, "?limit=5"); len(p.Data) != 5 || p.Pagination.Limit != 5 {
		t.Errorf("limit under the cap: %d records, limit %d", len(p.Data), p.Pagination.Limit)
	}
}

// Explicit campaigns are served verbatim: odd ids, hostile text, int64
// extremes, exact decimals.
func TestListExplicitCampaigns(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 12, 11, 10, 30, 0, 123e6, time.UTC)
	want := []adplatform.Campaign{
		{ID: "a/b?c#d ü%2F", Name: "Ünïcödé \u202e<script>alert(1)</script>'; DROP TABLE campaigns;--", Status: "paused",
			Budget: "12.50", Impressions: math.MaxInt64, Clicks: math.MinInt64, Conversions: 1<<53 + 1, CreatedAt: created},
		{ID: "日本語 🎉", Name: "\x00nul\ttab\nnewline \"quote\" \\", Status: "", Budget: "-0.001"},
		{ID: "..", Name: "dots", Status: "active", Budget: "123456789012345678901234567890"},
	}
	srv := Start(t, Options{CampaignList: want})
	p := list(t, srv, login(t, srv), "?limit=100")
	if !slices.Equal(p.Data[:3], want) {
		t.Errorf("listed\n%+v\nwant\n%+v", p.Data[:3], want)
	}
	// The quirk pads the page past the explicit campaigns.
	if got := ids(p.Data[3:5]); !slices.Equal(got, []string{"campaign_4", "campaign_5"}) {
		t.Errorf("padding ids = %v", got)
	}
	if p.Pagination.Total != 3 || p.Pagination.HasMore {
		t.Errorf("pagination = %+v", p.Pagination)
	}
}

func TestListRawRecord(t *testing.T) {
	t.Parallel()
	raw := json.RawMessage(`{"id":"bad one","name":7,"budget":"lots","extra":[1,2]}`)
	srv := Start(t, Options{RawRecords: map[int]json.RawMessage{12: raw, 0: json.RawMessage(`null`)}, SyncLatency: -1, FailEveryNthList: -1})
	token := login(t, srv)
	r := send(t, srv, http.MethodGet, "/api/campaigns?page=2", bearer(token))
	var body struct{ Data []json.RawMessage }
	decode(t, r.body, &body)
	if got := string(body.Data[2]); got != string(raw) {
		t.Errorf("record 12 = %s, want %s", got, raw)
	}
	var c adplatform.Campaign
	if err := json.Unmarshal(body.Data[3], &c); err != nil || c.ID != "campaign_14" {
		t.Errorf("record 13 = %s (%v), want campaign_14 untouched", body.Data[3], err)
	}
	r = send(t, srv, http.MethodGet, "/api/campaigns?page=1", bearer(token))
	decode(t, r.body, &body)
	if string(body.Data[0]) != "null" {
		t.Errorf("record 0 = %s, want null", body.Data[0])
	}
	// The raw record's id is a campaign the sync endpoint knows; the one
	// it replaced still is too.
	for _, id := range []string{"bad one", "campaign_13"} {
		if r := send(t, srv, http.MethodPost, "/api/campaigns/"+url.PathEscape(id)+"/sync", bearer(token)); r.status != http.StatusOK {
			t.Errorf("sync %q: %d %s", id, r.status, r.body)
		}
	}
}
