package adplatform_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// Every fault kind is retried, and the retries are bounded: with the fault
// on every request, a call makes MaxRetries+1 attempts and fails with an
// error saying what went wrong.
func TestEveryFaultRetriedAndBounded(t *testing.T) {
	t.Parallel()
	const maxRetries = 2
	for _, tc := range []struct {
		name   string
		faults adplatformtest.Faults
		check  func(error) bool
	}{
		{"503", adplatformtest.Faults{Unavailable: 1}, func(err error) bool {
			var e *adplatform.APIError
			return errors.As(err, &e) && e.StatusCode == 503 && e.Code == "Service temporarily unavailable" && e.Attempts == maxRetries+1 && e.Temporary()
		}},
		{"502 HTML", adplatformtest.Faults{BadGateway: 1}, func(err error) bool {
			var e *adplatform.APIError
			return errors.As(err, &e) && e.StatusCode == 502 && strings.Contains(e.Message, "502 Bad Gateway") && len(e.Message) < 300
		}},
		{"hang", adplatformtest.Faults{Hang: 1}, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded) &&
				strings.Contains(err.Error(), "after 3 attempt(s)")
		}},
		{"reset", adplatformtest.Faults{Reset: 1}, func(err error) bool {
			return strings.Contains(err.Error(), "connection reset") && strings.Contains(err.Error(), "after 3 attempt(s)")
		}},
		{"malformed 200", adplatformtest.Faults{Malformed: 1}, func(err error) bool {
			var e *adplatform.DecodeError
			return errors.As(err, &e) && e.Endpoint == adplatform.EndpointSync
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.faults.Endpoints = []adplatform.Endpoint{adplatform.EndpointSync}
			srv := fake(t, adplatformtest.Options{Faults: tc.faults})
			var ev events
			c := client(t, srv.URL, func(o *adplatform.Options) {
				o.MaxRetries = maxRetries
				o.SyncTimeout = 100 * time.Millisecond
				o.Observer = &ev
			})
			_, err := c.SyncCampaign(ctxT(t), "campaign_1")
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if n := settled(t, srv).Endpoints[adplatform.EndpointSync].Requests; n != maxRetries+1 {
				t.Fatalf("%d sync attempts; want %d", n, maxRetries+1)
			}
			if ev.retrying != maxRetries {
				t.Fatalf("observer saw %d retries; want %d", ev.retrying, maxRetries)
			}
		})
	}
}

// Random faults of every kind on every endpoint: a full list and sync
// still completes, each campaign synced.
func TestRandomFaultsComplete(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{HonestPagination: true, Campaigns: 30, Faults: adplatformtest.Faults{
		Unavailable: 0.15, Hang: 0.05, Reset: 0.05, BadGateway: 0.05, Malformed: 0.1, Seed: 7,
		Endpoints: []adplatform.Endpoint{adplatform.EndpointList, adplatform.EndpointSync, adplatform.EndpointAuth},
	}})
	c := client(t, srv.URL, func(o *adplatform.Options) {
		o.PageSize = 5
		o.MaxRetries = 12
		o.ListTimeout, o.SyncTimeout, o.AuthTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	})
	ids, _, err := collect(t, c)
	if err != nil || len(ids) != 30 {
		t.Fatalf("listed %d, %v; want 30", len(ids), err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := c.SyncCampaign(ctxT(t), id); err != nil {
				t.Errorf("sync %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if srv.Platform.Stats().Syncs[id].Succeeded < 1 {
			t.Errorf("%s never synced", id)
		}
	}
	if c.Stats().Retries == 0 {
		t.Fatal("no retries: the faults did not happen")
	}
}

func TestClientErrorsNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 409, 410, 422} {
		srv := fake(t, adplatformtest.Options{SyncErrors: map[string]int{"campaign_3": status}})
		c := client(t, srv.URL)
		_, err := c.SyncCampaign(ctxT(t), "campaign_3")
		var e *adplatform.APIError
		if !errors.As(err, &e) || e.StatusCode != status || e.Attempts != 1 || e.Temporary() || e.Endpoint != adplatform.EndpointSync {
			t.Errorf("HTTP %d: err = %v; want an *APIError, 1 attempt", status, err)
		}
		if n := srv.Platform.Stats().Syncs["campaign_3"].Calls; n != 1 {
			t.Errorf("HTTP %d: %d calls; want 1", status, n)
		}
	}
}

// A 429 is a wait, not a failure, in every form the platform may say it:
// the call succeeds, having waited as told.
func TestRateLimited429Forms(t *testing.T) {
	t.Parallel()
	const window = 400 * time.Millisecond
	for _, tc := range []struct {
		name string
		mode adplatformtest.RetryAfterMode
		done time.Duration // the syncs take 5ms each; the 429 comes at 10ms
	}{
		// The body says the whole window: 10ms + 400ms, then a sync.
		{"body retry_after only (reference)", adplatformtest.RetryAfterNone, 415 * time.Millisecond},
		// A slot frees in 390ms, rounded up to a second.
		{"Retry-After seconds", adplatformtest.RetryAfterSeconds, 1015 * time.Millisecond},
		// The moment a slot frees (0.4s), rounded up to the next second.
		{"Retry-After HTTP-date", adplatformtest.RetryAfterHTTPDate, 1005 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				// The platform allows 2 per window; the client believes
				// 100: the third request meets a 429.
				platform := virtualFake(t, adplatformtest.Options{RateLimit: 2, RateWindow: window, RetryAfter: tc.mode})
				var ev events
				c := virtualClient(t, platform, func(o *adplatform.Options) { o.Observer = &ev })
				start := time.Now()
				for i := range 3 {
					if _, err := c.SyncCampaign(context.Background(), "campaign_"+strconv.Itoa(i+1)); err != nil {
						t.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				if c.Stats().RateLimited != 1 || platform.Stats().RateLimited != 1 {
					t.Fatalf("client saw %d 429s, platform served %d; want 1", c.Stats().RateLimited, platform.Stats().RateLimited)
				}
				if elapsed != tc.done {
					t.Fatalf("done in %s; want %s: the wait asked for, and no more", elapsed, tc.done)
				}
				if ev.retrying != 1 || ev.reasons[0] != "HTTP 429" || ev.waits != 1 {
					t.Fatalf("observer: %d retries %v, %d limiter waits; want 1 retry for HTTP 429 and 1 wait", ev.retrying, ev.reasons, ev.waits)
				}
			})
		})
	}
}

// Fractional Retry-After and no hint at all (backoff) on a scripted
// platform.
func TestRateLimited429Scripted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		header     string
		body       string
		minElapsed time.Duration
	}{
		{"fractional Retry-After", "0.25", `{"error":"Rate limit exceeded"}`, 250 * time.Millisecond},
		{"Retry-After beats the body", "0.1", `{"retry_after":60}`, 100 * time.Millisecond},
		{"fractional body", "", `{"retry_after":0.2}`, 200 * time.Millisecond},
		{"quoted body", "", `{"retry_after":"0.15"}`, 150 * time.Millisecond},
		{"no hint: backoff", "", `{}`, 0},
		{"garbage header, HTML body", "soon", `<html>slow down</html>`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var n atomic.Int64
				v := virtual(func(w http.ResponseWriter, r *http.Request) {
					if n.Add(1) == 1 {
						if tc.header != "" {
							w.Header().Set("Retry-After", tc.header)
						}
						w.WriteHeader(http.StatusTooManyRequests)
						_, _ = w.Write([]byte(tc.body))
						return
					}
					writeJSON(w, 200, map[string]any{"success": true})
				})
				c := virtualClient(t, v)
				start := time.Now()
				if _, err := c.SyncCampaign(context.Background(), "x"); err != nil {
					t.Fatal(err)
				}
				// The wait asked for, or a backoff of at most BackoffMax
				// (5ms in these tests).
				if d := time.Since(start); d < tc.minElapsed || d > tc.minElapsed+5*time.Millisecond {
					t.Fatalf("took %s; want %s", d, tc.minElapsed)
				}
				if n.Load() != 2 {
					t.Fatalf("%d attempts; want 2", n.Load())
				}
			})
		})
	}
}

// A 503 never waits the rate limit's wait: not its body's retry_after,
// and a Retry-After header only up to BackoffMax.
func TestServiceUnavailableDoesNotWaitLikeA429(t *testing.T) {
	t.Parallel()
	for _, header := range []string{"", "30"} {
		synctest.Test(t, func(t *testing.T) {
			var n atomic.Int64
			v := virtual(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					if header != "" {
						w.Header().Set("Retry-After", header)
					}
					writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "Service temporarily unavailable", "retry_after": 60})
					return
				}
				writeJSON(w, 200, map[string]any{"success": true})
			})
			c := virtualClient(t, v, func(o *adplatform.Options) { o.BackoffMin, o.BackoffMax = 10*time.Millisecond, 50*time.Millisecond })
			start := time.Now()
			if _, err := c.SyncCampaign(context.Background(), "x"); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("Retry-After %q: a 503 took %s; want at most BackoffMax", header, d)
			}
			if c.Stats().RateLimitWaits != 0 {
				t.Fatalf("a 503 made the limiter wait")
			}
		})
	}
}

// The caller's context ends while the call waits for the limiter: it
// returns at once, with an error wrapping context.Canceled.
func TestCancelDuringLimiterWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualFake(t, adplatformtest.Options{})
		c := virtualClient(t, platform, func(o *adplatform.Options) { o.RateLimit, o.RateWindow = 1, 10*time.Second })
		if _, err := c.SyncCampaign(context.Background(), "campaign_1"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.SyncCampaign(ctx, "campaign_2")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("returned after %s; want at once after the cancel, 50ms", d)
		}
		// A deadline the limiter cannot meet fails at once.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		start = time.Now()
		_, err = c.SyncCampaign(ctx2, "campaign_2")
		if !errors.Is(err, adplatform.ErrLimiterDeadline) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 0 {
			t.Fatalf("err = %v after %s; want ErrLimiterDeadline at once", err, time.Since(start))
		}
		if n := platform.Stats().Syncs["campaign_2"].Calls; n != 0 {
			t.Fatalf("campaign_2 was sent %d times", n)
		}
	})
}

func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "10") // a backoff of 10s
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "down"})
		})
		c := virtualClient(t, v, func(o *adplatform.Options) { o.BackoffMin, o.BackoffMax = 10*time.Second, 10*time.Second })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(3*time.Second, cancel)
		start := time.Now()
		_, err := c.SyncCampaign(ctx, "x")
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "HTTP 503") {
			t.Fatalf("err = %v; want context.Canceled, naming the last attempt's 503", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("returned after %s; want at once after the cancel, 3s", d)
		}
	})
}

// A backoff that would outlast the caller's deadline is not slept: the
// call fails with the real cause.
func TestBackoffPastDeadlineFailsWithCause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "down"})
		})
		c := virtualClient(t, v, func(o *adplatform.Options) { o.BackoffMin, o.BackoffMax = 5*time.Second, 5*time.Second })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.SyncCampaign(ctx, "x")
		var e *adplatform.APIError
		if !errors.As(err, &e) || e.StatusCode != 503 || time.Since(start) != 0 {
			t.Fatalf("err = %v after %s; want the 503 at once", err, time.Since(start))
		}
	})
}

// The caller's context is honoured inside an attempt too: not retried.
func TestCallerDeadlineDuringAttempt(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{SyncLatency: 5 * time.Second})
	c := client(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.SyncCampaign(ctx, "campaign_1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want context.DeadlineExceeded", err)
	}
	if n := srv.Platform.Stats().Syncs["campaign_1"].Calls; n != 1 {
		t.Fatalf("%d attempts; want 1", n)
	}
}

// Per-endpoint attempt timeouts: a hang is cut by the endpoint's timeout
// and retried; the slow sync is not cut by the list timeout.
func TestAttemptTimeouts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		v := virtual(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/sync") {
				if n.Add(1) == 1 {
					<-r.Context().Done() // hang until the client gives up
					return
				}
				time.Sleep(150 * time.Millisecond) // slower than the list timeout
				writeJSON(w, 200, map[string]any{"success": true})
				return
			}
			listing(w, []string{"a"}, 1, 10, 1, false)
		})
		c := virtualClient(t, v, func(o *adplatform.Options) {
			o.ListTimeout, o.SyncTimeout = 50*time.Millisecond, 400*time.Millisecond
			o.BackoffMin, o.BackoffMax = time.Millisecond, time.Millisecond
		})
		start := time.Now()
		if _, err := c.SyncCampaign(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		if d, want := time.Since(start), 400*time.Millisecond+150*time.Millisecond; d < want || d > want+time.Millisecond {
			t.Fatalf("took %s; want the 400ms timeout then a 150ms attempt: %s", d, want)
		}
		if n.Load() != 2 || c.Stats().Retries != 1 {
			t.Fatalf("%d attempts, %d retries; want 2 and 1", n.Load(), c.Stats().Retries)
		}
	})
}

// A body over MaxResponseBytes is a *DecodeError, not retried.
func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL, func(o *adplatform.Options) { o.MaxResponseBytes = 4096 })
	_, err := c.ListCampaigns(ctxT(t), 1, 100)
	var de *adplatform.DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "over 4096 bytes") {
		t.Fatalf("err = %v; want a *DecodeError for the size", err)
	}
	if n := srv.Platform.Stats().Endpoints[adplatform.EndpointList].Requests; n != 1 {
		t.Fatalf("%d attempts; want 1", n)
	}
}

// Every response body is closed, on every path: success, 4xx, 5xx given
// up, 429 given up, malformed, too large, cancelled backoff, a consumer
// breaking out of a listing, a redirect.
func TestEveryBodyClosed(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		switch id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/campaigns/"), "/sync"); id {
		case "/api/campaigns":
			listing(w, []string{"a", "b", "c"}, 1, 3, 30, true)
		case "ok":
			writeJSON(w, 200, map[string]any{"success": true})
		case "404":
			writeJSON(w, 404, map[string]any{"error": "Not Found"})
		case "503":
			writeJSON(w, 503, map[string]any{"error": "down"})
		case "429":
			w.Header().Set("Retry-After", "86400")
			writeJSON(w, 429, map[string]any{"error": "Rate limit exceeded"})
		case "malformed":
			if n.Add(1)%2 == 1 {
				w.WriteHeader(200)
				_, _ = w.Write([]byte(`{"success":tr`))
				return
			}
			writeJSON(w, 200, map[string]any{"success": true})
		case "large":
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"success":true,"message":"` + strings.Repeat("x", 8192) + `"}`))
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "slow503":
			writeJSON(w, 503, map[string]any{"error": "down"})
		}
	})
	bodies := newBodyCounter()
	c := client(t, p.URL, func(o *adplatform.Options) {
		o.Transport = bodies
		o.MaxRetries = 2
		o.MaxResponseBytes = 4096
	})
	check := func(what string) {
		t.Helper()
		if o, cl := bodies.opened.Load(), bodies.closed.Load(); o != cl {
			t.Fatalf("after %s: %d bodies opened, %d closed", what, o, cl)
		}
	}
	// "429" asks for a day's wait, which closes the client: last.
	for _, id := range []string{"ok", "404", "503", "malformed", "large", "redirect", "429"} {
		_, _ = c.SyncCampaign(ctxT(t), id)
		check(id)
	}
	slow := client(t, p.URL, func(o *adplatform.Options) {
		o.Transport = bodies
		o.BackoffMin, o.BackoffMax = 5*time.Second, 5*time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _ = slow.SyncCampaign(ctx, "slow503")
	check("a backoff cut by the deadline")
	for range c.Campaigns(ctxT(t)) {
		break
	}
	check("a listing the consumer left")
	if bodies.opened.Load() < 12 {
		t.Fatalf("only %d bodies opened: the scenarios did not run", bodies.opened.Load())
	}
}

// The platform's rate-limit headers teach the limiter: a client believing
// in a larger limit than the platform's still earns no 429 when the
// platform says Remaining: 0.
func TestRateLimitHeadersLearned(t *testing.T) {
	t.Parallel()
	for _, ignore := range []bool{false, true} {
		srv := fake(t, adplatformtest.Options{RateLimit: 3, RateWindow: 300 * time.Millisecond, RateLimitHeaders: true, RetryAfter: adplatformtest.RetryAfterSeconds})
		c := client(t, srv.URL, func(o *adplatform.Options) { o.IgnoreRateLimitHeaders = ignore })
		for i := range 4 {
			if _, err := c.SyncCampaign(ctxT(t), "campaign_"+strconv.Itoa(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		got := srv.Platform.Stats().RateLimited
		if !ignore && got != 0 {
			t.Fatalf("%d 429s with the headers learned; want 0", got)
		}
		if ignore && got == 0 {
			t.Fatal("no 429 with the headers ignored: the test proves nothing")
		}
	}
}

// A 2xx body that is well-formed but breaks the contract will not change
// if asked again: one request, and an error naming the field. A body cut
// short may be a transfer that failed: it is retried.
func TestContractErrorsAreFinal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		body       string
		call       func(*adplatform.Client) error
		field      string
		requests   int
	}{
		{"sync without success", "/api/campaigns/x/sync", `{"campaign_id":"x"}`, syncX, "success", 1},
		{"listing without data", "/api/campaigns", `{"pagination":{"page":1}}`, listOne, "data", 1},
		{"sync cut short", "/api/campaigns/x/sync", `{"success":tr`, syncX, "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				_, _ = w.Write([]byte(tc.body))
			})
			err := tc.call(client(t, p.URL))
			var de *adplatform.DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("err = %v; want a *DecodeError naming %q", err, tc.field)
			}
			if malformed := errors.Is(err, adplatform.ErrMalformedResponse); malformed != (tc.field == "") {
				t.Fatalf("errors.Is(err, ErrMalformedResponse) = %v for %v", malformed, err)
			}
			if n := p.count(tc.path); n != tc.requests {
				t.Fatalf("%d requests; want %d", n, tc.requests)
			}
		})
	}
	// A token of another type than Bearer: one token request.
	p := serveAll(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "abcdefgh", "token_type": "mac", "expires_in": 3600})
	})
	_, err := client(t, p.URL).SyncCampaign(ctxT(t), "x")
	var de *adplatform.DecodeError
	if !errors.As(err, &de) || de.Field != "token_type" {
		t.Fatalf("err = %v; want a *DecodeError naming token_type", err)
	}
	if n := p.count("/auth/token"); n != 1 {
		t.Fatalf("%d token requests; want 1", n)
	}
}

func syncX(c *adplatform.Client) error {
	_, err := c.SyncCampaign(context.Background(), "x")
	return err
}

func listOne(c *adplatform.Client) error {
	_, err := c.ListCampaigns(context.Background(), 1, 10)
	return err
}

// Exactly the documented statuses are retried: a 501 is sent once, a 408,
// 500, 502, 503 and 504 up to 1 + MaxRetries times.
func TestRetriedStatusesAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	for status := 400; status < 600; status++ {
		if status == 401 || status == 429 {
			continue // re-authentication and rate limits: tested on their own
		}
		want := 1
		switch status {
		case 408, 500, 502, 503, 504:
			want = 3
		}
		p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, status, map[string]any{"error": "x"})
		})
		_, err := client(t, p.URL, func(o *adplatform.Options) { o.MaxRetries = 2 }).SyncCampaign(ctxT(t), "x")
		if err == nil {
			t.Fatalf("HTTP %d: no error", status)
		}
		if n := p.count("/api/campaigns/x/sync"); n != want {
			t.Errorf("HTTP %d sent %d times; want %d", status, n, want)
		}
	}
}
