package adplatformtest

import (
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// The reference's 429: after 10 accepted requests in a minute, with
// exactly this body and no header.
func TestRateLimitReference429(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	token := login(t, srv)
	for i := 1; i <= 10; i++ {
		// The 5th and 10th are the every-5th 503s: they count all the same.
		if r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token)); r.status == http.StatusTooManyRequests {
			t.Fatalf("request %d rejected", i)
		}
	}
	r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token))
	const want = `{"error":"Rate limit exceeded","message":"Too many requests. Limit: 10 per minute","retry_after":60}`
	if r.status != http.StatusTooManyRequests || string(r.body) != want {
		t.Errorf("11th request: %d %s\nwant 429 %s", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, h := range []string{"Retry-After", "X-RateLimit-Remaining", "RateLimit-Remaining"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("reference 429 has %s: %s", h, v)
		}
	}
	// Sync draws on the same budget; the token endpoint on none.
	if r := send(t, srv, http.MethodPost, "/api/campaigns/campaign_1/sync", bearer(token)); r.status != http.StatusTooManyRequests {
		t.Errorf("sync after 10 list requests: %d, want 429", r.status)
	}
	for range 20 {
		login(t, srv)
	}
	// Another client id has its own budget.
	if r := send(t, srv, http.MethodGet, "/api/campaigns?page=2", bearer(token), clientHdr("other")); r.status != http.StatusOK {
		t.Errorf("other client: %d %s", r.status, r.body)
	}
}

// The sliding log, on the virtual clock: at most N accepted in any
// window, rejected requests not counted, and a slot freeing exactly when
// the oldest accepted request is one window old.
func TestRateLimitSlidingWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Options{RateLimit: 5, RateWindow: 300 * time.Millisecond, FailEveryNthList: -1})
		if err != nil {
			t.Fatal(err)
		}
		token := loginDirect(t, p)
		t0 := time.Now()
		get := func(want int) {
			t.Helper()
			r := serve(p, http.MethodGet, "/api/campaigns", bearer(token))
			if r.status != want {
				t.Errorf("at +%s: status %d, want %d", time.Since(t0), r.status, want)
			}
		}
		sleepUntil := func(d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }

		get(200)                           // +0: a
		sleepUntil(100 * time.Millisecond) //
		for range 4 {                      // +100: b c d e
			get(200)
		}
		for range 20 { // full: rejected, and not counted
			get(429)
		}
		sleepUntil(300*time.Millisecond - time.Nanosecond)
		get(429) // a is still inside the window
		sleepUntil(300 * time.Millisecond)
		get(200) // a left: exactly one slot
		get(429)
		sleepUntil(400*time.Millisecond - time.Nanosecond)
		get(429)
		sleepUntil(400 * time.Millisecond)
		for range 4 { // b..e left together
			get(200)
		}
		get(429)
		if got := p.Stats().MaxAcceptedInWindow["default"]; got != 5 {
			t.Errorf("MaxAcceptedInWindow = %d, want 5", got)
		}
		st := p.Stats()
		if st.RateLimited != 24 {
			t.Errorf("Stats.RateLimited = %d, want 24", st.RateLimited)
		}
		if e := st.Endpoints["list"]; e.Requests != 34 || e.Accepted != 10 || e.RateLimited != 24 || e.Statuses[429] != 24 || e.Statuses[200] != 10 {
			t.Errorf("list stats = %+v", e)
		}
	})
}

// Whatever an accepted request answers, it counts; the limit comes before
// the token check.
func TestRateLimitCountsEveryAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Options{RateLimit: 4, RateWindow: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		token := loginDirect(t, p)
		for _, path := range []string{"/api/campaigns", "/api/nope", "/api/campaigns/unknown/sync"} {
			serve(p, http.MethodGet, path) // 401, 404, 405: all accepted by the limiter
		}
		if r := serve(p, http.MethodPost, "/api/campaigns/missing/sync", bearer(token)); r.status != http.StatusNotFound {
			t.Errorf("unknown campaign: %d", r.status)
		}
		// Without a token, rejected by the limit before the token check.
		if r := serve(p, http.MethodGet, "/api/campaigns"); r.status != http.StatusTooManyRequests {
			t.Errorf("5th request: %d, want 429", r.status)
		}
		// /api/error and /health are outside the limit.
		if r := serve(p, http.MethodGet, "/api/error"); r.status != http.StatusInternalServerError {
			t.Errorf("/api/error: %d", r.status)
		}
		if r := serve(p, http.MethodGet, "/health"); r.status != http.StatusOK {
			t.Errorf("/health: %d", r.status)
		}
	})
}

// With the limit off, the fake measures the client's own pacing.
func TestMaxAcceptedInWindowWithLimitOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Options{RateLimit: -1, RateWindow: 300 * time.Millisecond, FailEveryNthList: -1})
		if err != nil {
			t.Fatal(err)
		}
		token := loginDirect(t, p)
		burst := func(n int, id string) {
			for range n {
				if r := serve(p, http.MethodGet, "/api/campaigns", bearer(token), clientHdr(id)); r.status != http.StatusOK {
					t.Fatalf("status %d with the limit off", r.status)
				}
			}
		}
		burst(7, "a")
		time.Sleep(299 * time.Millisecond)
		burst(3, "a") // 10 inside one window
		time.Sleep(time.Millisecond)
		burst(6, "a") // the 7 left: 3+6 = 9
		burst(2, "b")
		if got := p.Stats().MaxAcceptedInWindow["a"]; got != 10 {
			t.Errorf("MaxAcceptedInWindow(a) = %d, want 10", got)
		}
		if got := p.Stats().MaxAcceptedInWindow["b"]; got != 2 {
			t.Errorf("MaxAcceptedInWindow(b) = %d, want 2", got)
		}
		if got := p.Stats().MaxAcceptedInWindow["never"]; got != 0 {
			t.Errorf("MaxAcceptedInWindow(never) = %d", got)
		}
		st := p.Stats()
		if st.MaxAcceptedInWindow["a"] != 10 || st.MaxAcceptedInWindow["b"] != 2 {
			t.Errorf("Stats.MaxAcceptedInWindow = %v", st.MaxAcceptedInWindow)
		}
		if len(st.ClientIDs) != 2 || st.ClientIDs[0] != "a" || st.ClientIDs[1] != "b" {
			t.Errorf("ClientIDs = %v, want [a b]", st.ClientIDs)
		}
		if st.RateLimited != 0 {
			t.Errorf("RateLimited = %d with the limit off", st.RateLimited)
		}
	})
}

func TestRetryAfterModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode RetryAfterMode
		want string
	}{
		{RetryAfterNone, ""},
		// The slot frees 1.3 s after the 429: rounded up.
		{RetryAfterSeconds, "2"},
		// The bubble's clock starts at 2000-01-01 00:00:00 UTC; the slot
		// frees at 00:00:01.5, rounded up to the next second.
		{RetryAfterHTTPDate, "Sat, 01 Jan 2000 00:00:02 GMT"},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			p, err := New(Options{RateLimit: 2, RateWindow: 1500 * time.Millisecond, RetryAfter: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			token := loginDirect(t, p)
			serve(p, http.MethodGet, "/api/campaigns", bearer(token))
			serve(p, http.MethodGet, "/api/campaigns", bearer(token))
			time.Sleep(200 * time.Millisecond)
			r := serve(p, http.MethodGet, "/api/campaigns", bearer(token))
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", r.status)
			}
			if got := r.header.Get("Retry-After"); got != tt.want {
				t.Errorf("mode %d: Retry-After = %q, want %q", tt.mode, got, tt.want)
			}
			// The body keeps the reference's retry_after: the window.
			var body struct {
				RetryAfter float64 `json:"retry_after"`
			}
			decode(t, r.body, &body)
			if body.RetryAfter != 1.5 {
				t.Errorf("retry_after = %v, want 1.5", body.RetryAfter)
			}
			// A 200 never carries Retry-After.
			time.Sleep(1300 * time.Millisecond)
			if r := serve(p, http.MethodGet, "/api/campaigns", bearer(token)); r.status != http.StatusOK || r.header.Get("Retry-After") != "" {
				t.Errorf("after the wait: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Options{RateLimit: 3, RateWindow: 10 * time.Second, RateLimitHeaders: true, FailEveryNthList: -1})
		if err != nil {
			t.Fatal(err)
		}
		token := loginDirect(t, p)
		t0 := time.Now()
		steps := []struct {
			at                       time.Duration
			path                     string
			status, remaining, reset int
		}{
			{0, "/api/campaigns", 200, 2, 10},
			{4 * time.Second, "/api/campaigns", 200, 1, 6},
			{4500 * time.Millisecond, "/api/nope", 404, 0, 6}, // 5.5 s, rounded up
			{5 * time.Second, "/api/campaigns", 429, 0, 5},
			{10 * time.Second, "/api/campaigns", 200, 0, 4}, // the first left; the second leaves at 14 s
		}
		for _, s := range steps {
			time.Sleep(time.Until(t0.Add(s.at)))
			r := serve(p, http.MethodGet, s.path, bearer(token))
			if r.status != s.status {
				t.Errorf("+%s: status %d, want %d", s.at, r.status, s.status)
			}
			for _, prefix := range []string{"X-RateLimit-", "RateLimit-"} {
				got := [3]string{r.header.Get(prefix + "Limit"), r.header.Get(prefix + "Remaining"), r.header.Get(prefix + "Reset")}
				want := [3]string{"3", strconv.Itoa(s.remaining), strconv.Itoa(s.reset)}
				if got != want {
					t.Errorf("+%s: %s{Limit,Remaining,Reset} = %v, want %v", s.at, prefix, got, want)
				}
			}
		}
		// Outside /api there are none.
		k := basic(DefaultEmail, DefaultPassword)
		for _, r := range []reply{serve(p, http.MethodPost, "/auth/token", k), serve(p, http.MethodGet, "/health")} {
			if v := r.header.Get("X-RateLimit-Limit"); v != "" {
				t.Errorf("non-/api response has X-RateLimit-Limit %s", v)
			}
		}
	})
	// Without the option, none at all.
	synctest.Test(t, func(t *testing.T) {
		p, _ := New(Options{})
		r := serve(p, http.MethodGet, "/api/campaigns", bearer(loginDirect(t, p)))
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if v := r.header.Get(h); v != "" {
				t.Errorf("default response has %s: %s", h, v)
			}
		}
	})
}
