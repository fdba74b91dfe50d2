package adplatform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

func TestNewValidation(t *testing.T) {
	t.Parallel()
	creds := adplatform.StaticCredentials(email, password)
	for _, tc := range []struct {
		name    string
		base    string
		creds   adplatform.CredentialsProvider
		opts    adplatform.Options
		wantErr string // "" means valid
	}{
		{"defaults", "https://api.example.com", creds, adplatform.Options{}, ""},
		{"path prefix and slash", "http://127.0.0.1:8080/v2/", creds, adplatform.Options{}, ""},
		{"empty base", "", creds, adplatform.Options{}, "base URL: empty"},
		{"unparsable base", "http://[::1", creds, adplatform.Options{}, "base URL: not a valid URL"},
		{"ftp base", "ftp://example.com", creds, adplatform.Options{}, "base URL: scheme"},
		{"relative base", "/api", creds, adplatform.Options{}, "base URL: scheme"},
		{"no host", "http://", creds, adplatform.Options{}, "base URL: no host"},
		{"credentials in base", "https://user:pw-in-url@example.com", creds, adplatform.Options{}, "base URL: must not hold credentials"},
		{"query in base", "https://example.com/?x=1", creds, adplatform.Options{}, "base URL: must not have a query"},
		{"nil creds", "https://x", nil, adplatform.Options{}, "nil CredentialsProvider"},
		{"page size", "https://x", creds, adplatform.Options{PageSize: -1}, "Options.PageSize"},
		{"page size huge", "https://x", creds, adplatform.Options{PageSize: 1 << 30}, "Options.PageSize"},
		{"rate limit", "https://x", creds, adplatform.Options{RateLimit: -5}, "Options.RateLimit"},
		{"rate window", "https://x", creds, adplatform.Options{RateWindow: -time.Second}, "Options.RateWindow: must be positive"},
		{"rate margin", "https://x", creds, adplatform.Options{RateMargin: -time.Second}, "Options.RateMargin"},
		{"rate margin over window", "https://x", creds, adplatform.Options{RateWindow: time.Second, RateMargin: 2 * time.Second}, "Options.RateMargin"},
		{"max rate limit wait", "https://x", creds, adplatform.Options{MaxRateLimitWait: -1}, "Options.MaxRateLimitWait"},
		{"max outage", "https://x", creds, adplatform.Options{MaxOutage: -1}, "Options.MaxOutage"},
		{"max retries", "https://x", creds, adplatform.Options{MaxRetries: -1}, "Options.MaxRetries"},
		{"backoff min", "https://x", creds, adplatform.Options{BackoffMin: -1}, "Options.BackoffMin"},
		{"backoff max", "https://x", creds, adplatform.Options{BackoffMax: -1}, "Options.BackoffMax"},
		{"backoff min over max", "https://x", creds, adplatform.Options{BackoffMin: time.Minute, BackoffMax: time.Second}, "Options.BackoffMin"},
		{"list timeout", "https://x", creds, adplatform.Options{ListTimeout: -1}, "Options.ListTimeout"},
		{"sync timeout", "https://x", creds, adplatform.Options{SyncTimeout: -1}, "Options.SyncTimeout"},
		{"auth timeout", "https://x", creds, adplatform.Options{AuthTimeout: -1}, "Options.AuthTimeout"},
		{"token refresh margin", "https://x", creds, adplatform.Options{TokenRefreshMargin: -1}, "Options.TokenRefreshMargin"},
		{"max response bytes", "https://x", creds, adplatform.Options{MaxResponseBytes: -1}, "Options.MaxResponseBytes"},
		{"max response bytes tiny", "https://x", creds, adplatform.Options{MaxResponseBytes: 10}, "Options.MaxResponseBytes"},
		{"client id header injection", "https://x", creds, adplatform.Options{ClientID: "a\r\nX-Evil: 1"}, "Options.ClientID"},
		{"user agent header injection", "https://x", creds, adplatform.Options{UserAgent: "ua\n"}, "Options.UserAgent"},
	} {
		c, err := adplatform.New(tc.base, tc.creds, tc.opts)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: New = %v; want success", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: New = %v; want an error containing %q", tc.name, err, tc.wantErr)
		case tc.wantErr != "" && c != nil:
			t.Errorf("%s: New returned a client with its error", tc.name)
		}
		if err != nil && strings.Contains(err.Error(), "pw-in-url") {
			t.Errorf("%s: the error quotes the URL's password: %v", tc.name, err)
		}
		// An option's error names its field for errors.As; others are not
		// option errors.
		field, isOption := strings.CutPrefix(tc.wantErr, "Options.")
		field, _, _ = strings.Cut(field, ":")
		var oe *adplatform.OptionError
		switch {
		case isOption && (!errors.As(err, &oe) || oe.Field != field):
			t.Errorf("%s: New = %v; want an *OptionError with Field %q", tc.name, err, field)
		case !isOption && errors.As(err, &oe):
			t.Errorf("%s: New = %v, an *OptionError; want another error", tc.name, err)
		}
	}
}

// The client's limiter is built from the rate options, the defaults
// being the reference platform's 10 per minute.
func TestClientLimiter(t *testing.T) {
	t.Parallel()
	creds := adplatform.StaticCredentials(email, password)
	for _, tc := range []struct {
		name   string
		opts   adplatform.Options
		limit  int
		window time.Duration
	}{
		{"defaults", adplatform.Options{}, 10, time.Minute},
		{"set", adplatform.Options{RateLimit: 4, RateWindow: 3 * time.Second}, 4, 3 * time.Second},
		{"limit only", adplatform.Options{RateLimit: 100}, 100, time.Minute},
	} {
		c, err := adplatform.New("https://x", creds, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		l := c.Limiter()
		if l == nil || l.Limit() != tc.limit || l.Window() != tc.window {
			t.Errorf("%s: Limiter() = %v; want %d per %s", tc.name, l, tc.limit, tc.window)
		}
		if c.Limiter() != l {
			t.Errorf("%s: Limiter() returns a new limiter each time; want the client's own", tc.name)
		}
	}
}

// The reference quirk: with limit 100 page 1 holds all 100 and still says
// has_more. One request, and none of the synthetic campaigns 101+.
func TestCampaignsPageSize100OneRequest(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL)
	ids, recErrs, err := collect(t, c)
	if err != nil || len(recErrs) != 0 {
		t.Fatalf("listing: %v, %v", err, recErrs)
	}
	want := make([]string, 100)
	for i := range want {
		want[i] = "campaign_" + strconv.Itoa(i+1)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("listed %d campaigns %v...; want campaign_1..campaign_100 in order", len(ids), ids[:min(len(ids), 3)])
	}
	if n := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; n != 1 {
		t.Fatalf("%d list requests; want 1", n)
	}
}

// Page size 10 against the reference behaviour: 10 pages, and the 5th
// request's 503 is retried.
func TestCampaignsPageSize10WithThe503(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{FailEveryNthList: 5})
	var ev events
	c := client(t, srv.URL, func(o *adplatform.Options) { o.PageSize = 10; o.Observer = &ev })
	ids, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 100 || ids[99] != "campaign_100" {
		t.Fatalf("listed %d campaigns; want 100", len(ids))
	}
	st := srv.Platform.Stats().Endpoints[adplatform.EndpointList]
	// 10 pages, the 5th and 10th requests are 503s: 12 requests.
	if st.Requests != 12 || st.Statuses[http.StatusServiceUnavailable] != 2 {
		t.Fatalf("list requests %d (statuses %v); want 12 with two 503s", st.Requests, st.Statuses)
	}
	if cs := c.Stats(); cs.Retries != 2 || cs.Requests != 13 { // + the token
		t.Fatalf("client stats %+v; want 2 retries, 13 requests", cs)
	}
	if ev.pages != 10 || ev.retrying != 2 || ev.started != 13 || ev.done != 13 || ev.refreshed != 1 {
		t.Fatalf("observer saw %d pages, %d retries, %d started, %d done, %d refreshes; want 10, 2, 13, 13, 1",
			ev.pages, ev.retrying, ev.started, ev.done, ev.refreshed)
	}
}

func TestCampaignsHonestPagination(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{HonestPagination: true, Campaigns: 95})
	c := client(t, srv.URL, func(o *adplatform.Options) { o.PageSize = 10 })
	ids, _, err := collect(t, c)
	if err != nil || len(ids) != 95 {
		t.Fatalf("listed %d, %v; want 95", len(ids), err)
	}
	if n := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; n != 10 {
		t.Fatalf("%d list requests; want 10", n)
	}
}

// A platform capping the page size: the client follows the limit it
// echoes, so that offsets stay right and nothing is skipped.
func TestCampaignsCappedPageSize(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{HonestPagination: true, PageSizeCap: 7})
	c := client(t, srv.URL) // asks for 100
	ids, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 100 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 100 {
		t.Fatalf("listed %d campaigns (%d distinct); want 100", len(ids), len(slices.Compact(slices.Sorted(slices.Values(ids)))))
	}
	if n := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; n != 15 {
		t.Fatalf("%d list requests; want 15 pages of 7", n)
	}
}

// Scripted pagination bugs the fake does not have.
func TestCampaignsPaginationBugs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		pages        map[int][]string // page → ids
		total        int              // -1: absent
		hasMore      func(page int) bool
		want         []string // what Campaigns yields
		wantPages    string   // what Pages yields: pages split by "|", duplicates marked "*"
		wantRequests int
	}{
		{
			name:  "shifted duplicates yielded once",
			pages: map[int][]string{1: {"a", "b", "c"}, 2: {"c", "d", "e"}, 3: {"e", "f"}},
			total: 6, hasMore: func(p int) bool { return p < 3 },
			want: []string{"a", "b", "c", "d", "e", "f"}, wantPages: "a b c | c* d e | e* f", wantRequests: 3,
		},
		{
			name:  "repeated page stops",
			pages: map[int][]string{1: {"a", "b"}, 2: {"c", "d"}, 3: {"c", "d"}, 4: {"e"}},
			total: 10, hasMore: func(int) bool { return true },
			want: []string{"a", "b", "c", "d"}, wantPages: "a b | c d", wantRequests: 3,
		},
		{
			name:  "empty page stops",
			pages: map[int][]string{1: {"a", "b"}, 2: {}},
			total: -1, hasMore: func(int) bool { return true },
			want: []string{"a", "b"}, wantPages: "a b", wantRequests: 2,
		},
		{
			name:  "no total and nothing new stops",
			pages: map[int][]string{1: {"a", "b"}, 2: {"b", "a"}, 3: {"z"}},
			total: 0, hasMore: func(int) bool { return true },
			want: []string{"a", "b"}, wantPages: "a b | b* a*", wantRequests: 2,
		},
		{
			name:  "total reached mid-page",
			pages: map[int][]string{1: {"a", "b"}, 2: {"c", "synthetic_1"}, 3: {"synthetic_2"}},
			total: 3, hasMore: func(int) bool { return true },
			want: []string{"a", "b", "c"}, wantPages: "a b | c", wantRequests: 2,
		},
		{
			name:  "page cap from total",
			pages: map[int][]string{1: {"a", "b"}, 2: {"b", "a"}, 3: {"a", "b"}, 4: {"b", "a"}, 5: {"a", "b"}, 6: {"c"}},
			total: 5, hasMore: func(int) bool { return true },
			want: []string{"a", "b"}, wantPages: "a b | b* a* | a* b* | b* a*", wantRequests: 4, // ceil(5/2) + 1
		},
		{
			name:  "has_more false wins over total",
			pages: map[int][]string{1: {"a"}, 2: {"b"}},
			total: 50, hasMore: func(int) bool { return false },
			want: []string{"a"}, wantPages: "a", wantRequests: 1,
		},
		{
			name:  "duplicate on the same page",
			pages: map[int][]string{1: {"a", "b", "a", "c"}, 2: {"d"}},
			total: 4, hasMore: func(p int) bool { return p < 2 },
			want: []string{"a", "b", "c", "d"}, wantPages: "a b a* c | d", wantRequests: 2,
		},
		{
			name:  "duplicates do not count towards total",
			pages: map[int][]string{1: {"a", "b"}, 2: {"b", "c", "pad"}},
			total: 3, hasMore: func(int) bool { return true },
			want: []string{"a", "b", "c"}, wantPages: "a b | b* c", wantRequests: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				listing(w, tc.pages[page], page, 2, tc.total, tc.hasMore(page))
			})
			c := client(t, p.URL, func(o *adplatform.Options) { o.PageSize = 2 })
			ids, _, err := collect(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("listed %v; want %v", ids, tc.want)
			}
			if n := p.count("/api/campaigns"); n != tc.wantRequests {
				t.Errorf("Campaigns: %d list requests; want %d", n, tc.wantRequests)
			}

			before := p.count("/api/campaigns")
			var pages []string
			for pg, err := range c.Pages(ctxT(t)) {
				if err != nil {
					t.Fatal(err)
				}
				var recs []string
				for _, r := range pg.Records {
					recs = append(recs, r.Campaign.ID+map[bool]string{true: "*"}[r.Duplicate])
				}
				pages = append(pages, strings.Join(recs, " "))
			}
			if got := strings.Join(pages, " | "); got != tc.wantPages {
				t.Errorf("Pages yielded %q; want %q", got, tc.wantPages)
			}
			if n := p.count("/api/campaigns") - before; n != tc.wantRequests {
				t.Errorf("Pages: %d list requests; want %d", n, tc.wantRequests)
			}
		})
	}
}

// Pages against the reference platform: page fields as the platform sent
// them (has_more true on the last page), every record with its bytes, and
// the synthetic padding cut off.
func TestPagesReference(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pageSize, pages int
	}{{100, 1}, {10, 10}, {30, 4}} {
		srv := fake(t, adplatformtest.Options{})
		c := client(t, srv.URL, func(o *adplatform.Options) { o.PageSize = tc.pageSize })
		var n, records int
		for p, err := range c.Pages(ctxT(t)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			wantRecords := min(tc.pageSize, 100-records)
			if p.Number != n || p.Limit != tc.pageSize || p.Total != 100 || p.HasMore != (n < 10) || len(p.Records) != wantRecords {
				t.Errorf("page size %d: page %d = number %d, limit %d, total %d, has_more %v, %d records; want %d records",
					tc.pageSize, n, p.Number, p.Limit, p.Total, p.HasMore, len(p.Records), wantRecords)
			}
			for _, r := range p.Records {
				records++
				var back adplatform.Campaign
				if r.Err != nil || r.Duplicate || r.Campaign.ID != fmt.Sprint("campaign_", records) ||
					json.Unmarshal(r.Raw, &back) != nil || back != r.Campaign {
					t.Fatalf("page size %d: record %d = %+v; want campaign_%d decoded from its raw bytes", tc.pageSize, records, r, records)
				}
			}
		}
		if n != tc.pages || records != 100 {
			t.Errorf("page size %d: %d pages, %d records; want %d pages, 100 records", tc.pageSize, n, records, tc.pages)
		}
		if got := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; got != tc.pages {
			t.Errorf("page size %d: %d list requests; want %d", tc.pageSize, got, tc.pages)
		}
	}
}

// A later copy of an id keeps its own bytes and its own decoded content,
// so that a caller can store the last copy; Campaigns yields the first.
func TestPagesKeepLaterCopies(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"1": `{"data":[{"id":"a","name":"first","status":"active","budget":1,"impressions":1,"clicks":0,"conversions":0},` +
			`{"id":"b","name":"b","status":"active","budget":1,"impressions":1,"clicks":0,"conversions":0}],` +
			`"pagination":{"page":1,"limit":2,"total":3,"has_more":true}}`,
		"2": `{"data":[{ "conversions":0, "id":"a","name":"later",  "status":"paused","budget":2.50,"impressions":9,"clicks":0},` +
			`{"id":"c","name":"c","status":"active","budget":1,"impressions":1,"clicks":"x","conversions":0}],` +
			`"pagination":{"page":2,"limit":2,"total":3,"has_more":false}}`,
	}
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(pages[r.URL.Query().Get("page")]))
	})
	c := client(t, p.URL, func(o *adplatform.Options) { o.PageSize = 2 })
	var got []adplatform.Record
	for pg, err := range c.Pages(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pg.Records...)
	}
	if len(got) != 4 {
		t.Fatalf("%d records; want 4", len(got))
	}
	later := got[2]
	wantRaw := `{ "conversions":0, "id":"a","name":"later",  "status":"paused","budget":2.50,"impressions":9,"clicks":0}`
	if !later.Duplicate || later.Err != nil || later.Campaign.Name != "later" || later.Campaign.Budget != "2.50" || string(later.Raw) != wantRaw {
		t.Errorf("later copy = %+v (raw %s); want a duplicate with its own content and bytes", later, later.Raw)
	}
	if got[0].Duplicate || got[0].Campaign.Name != "first" {
		t.Errorf("first copy = %+v; want it unmarked", got[0])
	}
	bad := got[3]
	if bad.Err == nil || bad.Campaign.ID != "c" || bad.Duplicate || !strings.Contains(pages["2"], string(bad.Raw)) {
		t.Errorf("bad record = %+v; want its error, its id and its bytes", bad)
	}

	var names []string
	for cp, err := range c.Campaigns(ctxT(t)) {
		if err != nil {
			names = append(names, "ERR")
			continue
		}
		names = append(names, cp.Name)
	}
	if !slices.Equal(names, []string{"first", "b", "ERR"}) {
		t.Errorf("Campaigns yielded %v; want the first copy of a, then b and c's error", names)
	}
}

// Breaking out of Pages fetches nothing more.
func TestPagesBreakStopsFetching(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL, func(o *adplatform.Options) { o.PageSize = 10 })
	for range c.Pages(ctxT(t)) {
		break
	}
	if got := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; got != 1 {
		t.Errorf("%d list requests; want 1", got)
	}
}

// A bad record is reported in place and iteration goes on; it counts
// towards total, so the reference's padding is still never reached.
func TestCampaignsRecordError(t *testing.T) {
	t.Parallel()
	raw := `{"id":"campaign_4","name":"Campaign 4","status":"active","budget":1400,"impressions":"lots","clicks":1,"conversions":0}`
	srv := fake(t, adplatformtest.Options{RawRecords: map[int]json.RawMessage{3: []byte(raw)}})
	c := client(t, srv.URL)
	var got []string
	for cp, err := range c.Campaigns(ctxT(t)) {
		if err != nil {
			var re *adplatform.RecordError
			var de *adplatform.DecodeError
			if !errors.As(err, &re) || cp.ID != "campaign_4" || re.ID != "campaign_4" || re.Index != 3 || re.Page != 1 ||
				string(re.Raw) != raw || !errors.As(err, &de) || de.Field != "impressions" {
				t.Fatalf("bad record yielded (%+v, %v); want a RecordError for campaign_4's impressions", cp, err)
			}
			got = append(got, "ERR")
			continue
		}
		got = append(got, cp.ID)
	}
	if len(got) != 100 || got[3] != "ERR" || got[4] != "campaign_5" || got[99] != "campaign_100" {
		t.Fatalf("listing yielded %d items; want 100 with the error in 4th place", len(got))
	}
	if n := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; n != 1 {
		t.Fatalf("%d list requests; want 1", n)
	}

	// ListCampaigns reports it in its place, with its bytes.
	p, err := c.ListCampaigns(ctxT(t), 1, 10)
	if err != nil || len(p.Records) != 10 || p.Number != 1 || p.Total != 100 || !p.HasMore || p.Limit != 10 {
		t.Fatalf("ListCampaigns = %+v, %v; want page 1 of 10 records, total 100, has_more", p, err)
	}
	for i, r := range p.Records {
		bad := i == 3
		if (r.Err != nil) != bad || r.Campaign.ID != fmt.Sprint("campaign_", i+1) || r.Duplicate || !json.Valid(r.Raw) {
			t.Errorf("record %d = %+v; want campaign_%d, an error: %v", i, r, i+1, bad)
		}
	}
	if string(p.Records[3].Raw) != raw || p.Records[3].Err.ID != "campaign_4" {
		t.Errorf("bad record = %s, %v; want it as sent", p.Records[3].Raw, p.Records[3].Err)
	}
}

// Breaking out of the loop fetches nothing more.
func TestCampaignsBreakStopsFetching(t *testing.T) {
	t.Parallel()
	for _, stopAfter := range []int{1, 5, 10} {
		srv := fake(t, adplatformtest.Options{})
		c := client(t, srv.URL, func(o *adplatform.Options) { o.PageSize = 10 })
		n := 0
		for _, err := range c.Campaigns(ctxT(t)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if n == stopAfter {
				break
			}
		}
		if got := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; got != 1 {
			t.Errorf("break after %d: %d list requests; want 1", stopAfter, got)
		}
	}
}

// A page-level failure is yielded once and ends the iteration.
func TestCampaignsPageErrorEnds(t *testing.T) {
	t.Parallel()
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden", "message": "no access to page 2"})
			return
		}
		listing(w, []string{"a", "b"}, 1, 2, 10, true)
	})
	c := client(t, p.URL, func(o *adplatform.Options) { o.PageSize = 2 })
	var ids []string
	var errs []error
	for cp, err := range c.Campaigns(ctxT(t)) {
		if err != nil {
			errs = append(errs, err)
			if cp.ID != "" {
				t.Errorf("page error yielded with campaign %+v", cp)
			}
			continue
		}
		ids = append(ids, cp.ID)
	}
	var apiErr *adplatform.APIError
	if len(errs) != 1 || !errors.As(errs[0], &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "Forbidden" || apiErr.Message != "no access to page 2" || apiErr.Attempts != 1 {
		t.Fatalf("errors %v; want one *APIError 403", errs)
	}
	if !slices.Equal(ids, []string{"a", "b"}) || p.count("/api/campaigns") != 2 {
		t.Fatalf("ids %v after %d requests", ids, p.count("/api/campaigns"))
	}
}

func TestListCampaignsArgs(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL)
	for _, a := range [][2]int{{0, 10}, {-1, 10}, {1, 0}, {1, 10_001}} {
		if _, err := c.ListCampaigns(ctxT(t), a[0], a[1]); err == nil {
			t.Errorf("ListCampaigns(%d, %d) succeeded", a[0], a[1])
		}
	}
	if n := len(srv.Platform.Requests()); n != 0 {
		t.Fatalf("invalid arguments made %d requests", n)
	}
}

// Odd ids reach the platform intact, through listing and sync.
func TestSyncOddIDs(t *testing.T) {
	t.Parallel()
	ids := []string{
		"a/b?c#d ü%2F", ".", "..", "...", "%", "%%2F", " ", "+plus", "semi;colon", `back\slash`, "tab\tand\nnewline",
		"emoji 🎉", "кампания", "\u202eevil", "a&b=c", "~tilde-_.", strings.Repeat("long", 200), "campaign_1",
	}
	var list []adplatform.Campaign
	for i, id := range ids {
		list = append(list, adplatform.Campaign{ID: id, Name: "n" + strconv.Itoa(i), Status: "active", Budget: "1"})
	}
	srv := fake(t, adplatformtest.Options{CampaignList: list})
	c := client(t, srv.URL)
	listed, _, err := collect(t, c)
	if err != nil || !slices.Equal(listed, ids) {
		t.Fatalf("listed %q, %v; want %q", listed, err, ids)
	}
	for _, id := range listed {
		res, err := c.SyncCampaign(ctxT(t), id)
		if err != nil || res.CampaignID != id || res.SyncedAt.IsZero() || res.Message == "" {
			t.Errorf("SyncCampaign(%q) = %+v, %v", id, res, err)
		}
	}
	st := srv.Platform.Stats()
	for _, id := range ids {
		if s := st.Syncs[id]; s.Calls != 1 || s.Succeeded != 1 {
			t.Errorf("the platform saw %d calls of %q; want 1", s.Calls, id)
		}
	}
	if _, err := c.SyncCampaign(ctxT(t), ""); err == nil {
		t.Error("SyncCampaign(\"\") succeeded")
	}
}

// A base URL with a path prefix keeps it.
func TestBaseURLPathPrefix(t *testing.T) {
	t.Parallel()
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"error": "wrong path " + r.URL.Path})
	})
	c := client(t, p.URL+"/v2/")
	_, err := c.SyncCampaign(ctxT(t), "x")
	// The scripted platform serves no /v2 prefix: the token request
	// must have gone to /v2/auth/token, and been refused.
	if p.count("/v2/auth/token") != 1 || p.count("/auth/token") != 0 || !errors.As(err, new(*adplatform.AuthError)) {
		t.Fatalf("requests went to the wrong paths: %v (%v)", p.requests, err)
	}
}

func TestSyncSuccessFalseIsNotRetried(t *testing.T) {
	t.Parallel()
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"success": false, "error": "Campaign locked", "message": "try\x00 later"})
	})
	c := client(t, p.URL)
	_, err := c.SyncCampaign(ctxT(t), "x")
	var apiErr *adplatform.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 200 || apiErr.Code != "Campaign locked" || apiErr.Message != "try later" || apiErr.Temporary() {
		t.Fatalf("err = %#v; want an *APIError for success false", err)
	}
	if n := p.count("/api/campaigns/x/sync"); n != 1 {
		t.Fatalf("%d sync requests; want 1", n)
	}
}

func TestSyncAnsweredForAnotherCampaign(t *testing.T) {
	t.Parallel()
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"success": true, "campaign_id": "y"})
	})
	_, err := client(t, p.URL).SyncCampaign(ctxT(t), "x")
	var de *adplatform.DecodeError
	if !errors.As(err, &de) || de.Field != "campaign_id" || p.count("/api/campaigns/x/sync") != 1 {
		t.Fatalf("err = %v; want a *DecodeError for campaign_id, not retried", err)
	}
}

// The client never follows a redirect: it would carry the bearer token to
// wherever the platform points.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed (Authorization header sent: %v)", r.Header.Get("Authorization") != "")
	})
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/api/steal", http.StatusFound)
	})
	_, err := client(t, p.URL).SyncCampaign(ctxT(t), "x")
	var apiErr *adplatform.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusFound {
		t.Fatalf("err = %v; want an *APIError 302", err)
	}
}

func TestClientStringHidesSecrets(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL)
	if _, err := c.SyncCampaign(ctxT(t), "campaign_1"); err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
	for _, secret := range append(srv.Platform.Tokens(), password) {
		if strings.Contains(out, secret) {
			t.Fatalf("printing the client leaks a secret: %s", out)
		}
	}
	if !strings.Contains(out, c.ClientID()) {
		t.Fatalf("printing the client says nothing useful: %s", out)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	var got http.Header
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		writeJSON(w, 200, map[string]any{"success": true})
	})
	c := client(t, p.URL, func(o *adplatform.Options) { o.ClientID = "svc-1"; o.UserAgent = "my-service/1.2" })
	if _, err := c.SyncCampaign(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "Bearer tok_x" || got.Get("X-Client-ID") != "svc-1" || got.Get("User-Agent") != "my-service/1.2" {
		t.Fatalf("headers %v", got)
	}
}

// Events go to Options.Observer and to the observer of the call's
// context, which hears only its own calls.
func TestObserversOptionsAndContext(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	var all, mine, inner events
	c := client(t, srv.URL, func(o *adplatform.Options) { o.Observer = &all })
	if _, err := c.SyncCampaign(ctxT(t), "campaign_1"); err != nil {
		t.Fatal(err)
	}
	ctx := adplatform.WithObserver(adplatform.WithObserver(ctxT(t), &mine), &inner)
	if _, err := c.SyncCampaign(ctx, "campaign_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListCampaigns(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if all.started != 4 || all.done != 4 || all.refreshed != 1 || all.pages != 1 {
		t.Fatalf("options observer: %d started, %d done, %d refreshes, %d pages; want 4, 4, 1, 1", all.started, all.done, all.refreshed, all.pages)
	}
	for _, e := range []*events{&mine, &inner} {
		if e.started != 2 || e.done != 2 || e.refreshed != 0 || e.pages != 1 || e.byStatus[200] != 2 {
			t.Fatalf("context observer: %d started, %d done, %d refreshes, %d pages; want 2, 2, 0, 1", e.started, e.done, e.refreshed, e.pages)
		}
	}
}

// The zero values of Client and Limiter report an error, never panic.
func TestZeroValuesDoNotPanic(t *testing.T) {
	t.Parallel()
	var c adplatform.Client
	if _, err := c.SyncCampaign(context.Background(), "x"); err == nil {
		t.Error("SyncCampaign on a zero Client succeeded")
	}
	if _, err := c.ListCampaigns(context.Background(), 1, 10); err == nil {
		t.Error("ListCampaigns on a zero Client succeeded")
	}
	for _, err := range c.Campaigns(context.Background()) {
		if err == nil {
			t.Error("Campaigns on a zero Client yielded a campaign")
		}
	}
	for _, err := range c.Pages(context.Background()) {
		if err == nil {
			t.Error("Pages on a zero Client yielded a page")
		}
	}
	_ = c.String() + c.ClientID() + fmt.Sprint(c.Stats())
	c.CloseIdleConnections()
	if c.Limiter() != nil {
		t.Error("a zero Client has a limiter")
	}
	var l adplatform.Limiter
	if _, err := l.Wait(context.Background()); err == nil {
		t.Error("Wait on a zero Limiter succeeded")
	}
	var nl *adplatform.Limiter
	if _, err := nl.Wait(context.Background()); err == nil {
		t.Error("Wait on a nil Limiter succeeded")
	}
}
