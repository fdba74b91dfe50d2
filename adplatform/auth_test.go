package adplatform_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// Concurrent first calls share one token request.
func TestTokenSharedByConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{AuthLatency: 50 * time.Millisecond})
	c := client(t, srv.URL)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.SyncCampaign(ctxT(t), "campaign_"+strconv.Itoa(i+1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Platform.Stats().TokensIssued; n != 1 {
		t.Fatalf("%d tokens issued; want 1", n)
	}
	if n := c.Stats().TokenRefreshes; n != 1 {
		t.Fatalf("client counted %d token refreshes; want 1", n)
	}
}

// With a short TTL the token is replaced before it expires: no call ever
// meets a 401.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const ttl = 300 * time.Millisecond
		platform := virtualFake(t, adplatformtest.Options{TokenTTL: ttl})
		c := virtualClient(t, platform)
		deadline := time.Now().Add(4 * ttl)
		calls := 0
		for time.Now().Before(deadline) {
			if _, err := c.SyncCampaign(context.Background(), "campaign_1"); err != nil {
				t.Fatal(err)
			}
			calls++
			time.Sleep(10 * time.Millisecond)
		}
		st := platform.Stats()
		if n := st.Endpoints[adplatform.EndpointSync].Statuses[http.StatusUnauthorized]; n != 0 {
			t.Fatalf("%d syncs met a 401; want 0 (refresh before expiry)", n)
		}
		// A token is used for 270ms (TTL less a tenth): 1.2s needs 5 of
		// them, not one per call.
		if st.TokensIssued != 5 {
			t.Fatalf("%d tokens issued for %d calls over %s; want 5", st.TokensIssued, calls, 4*ttl)
		}
	})
}

// The platform expires the token: ten calls refused at once cause one
// refresh, and each is retried once.
func TestTokenExpiredOneRefresh(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{SyncLatency: 50 * time.Millisecond})
	var ev events
	c := client(t, srv.URL, func(o *adplatform.Options) { o.Observer = &ev })
	if _, err := c.SyncCampaign(ctxT(t), "campaign_1"); err != nil {
		t.Fatal(err)
	}
	srv.Platform.ExpireTokens()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := c.SyncCampaign(ctxT(t), "campaign_"+strconv.Itoa(i+1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := srv.Platform.Stats()
	if st.TokensIssued != 2 {
		t.Fatalf("%d tokens issued; want 2 (one refresh for ten refused calls)", st.TokensIssued)
	}
	if n := st.Endpoints[adplatform.EndpointSync].Statuses[http.StatusUnauthorized]; n < 1 || n > 10 {
		t.Fatalf("%d 401s; want 1 to 10", n)
	}
	if ev.refreshed != 2 {
		t.Fatalf("observer saw %d token refreshes; want 2", ev.refreshed)
	}
}

// Calls refused with an old token after the refresh must not drop the new
// one: only the call whose token is still current invalidates it.
func TestTokenInvalidateComparesTokens(t *testing.T) {
	t.Parallel()
	var p *platformAPI
	var delay atomic.Int64
	p = serveAll(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/auth/token":
			p.writeToken(w)
		case r.Header.Get("Authorization") == "Bearer tok_x":
			// The first token is refused, the refusals arriving spread
			// out: most after the refresh.
			time.Sleep(time.Duration(delay.Add(1)) * 20 * time.Millisecond)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Token expired"})
		default:
			writeJSON(w, 200, map[string]any{"success": true})
		}
	})
	c := client(t, p.URL)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.SyncCampaign(ctxT(t), "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := p.count("/auth/token"); n != 2 {
		t.Fatalf("%d token requests; want 2 (one refresh for eight refused calls)", n)
	}
}

// A TokenRefreshMargin longer than the token's life is clamped: no
// refresh on every call.
func TestTokenRefreshMarginClamped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform, err := adplatformtest.New(adplatformtest.Options{TokenTTL: 2 * time.Second, SyncLatency: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer platform.Close()
		c := virtualClient(t, platform, func(o *adplatform.Options) { o.TokenRefreshMargin = time.Minute })
		for range 5 { // 0.5s: within the first half of the token's life
			if _, err := c.SyncCampaign(context.Background(), "campaign_1"); err != nil {
				t.Fatal(err)
			}
		}
		if n := platform.Stats().TokensIssued; n != 1 {
			t.Fatalf("%d tokens for 5 calls in 0.5s; want 1", n)
		}
		time.Sleep(time.Second) // past half the token's life: the clamped margin
		if _, err := c.SyncCampaign(context.Background(), "campaign_1"); err != nil {
			t.Fatal(err)
		}
		if n := platform.Stats().TokensIssued; n != 2 {
			t.Fatalf("%d tokens after 1.5s; want 2: the margin is clamped to half the life", n)
		}
	})
}

// A token refused twice in one call is an *AuthError, after exactly one
// refresh.
func TestTokenRefusedTwice(t *testing.T) {
	t.Parallel()
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Token expired", "message": "Access token has expired."})
	})
	c := client(t, p.URL)
	_, err := c.SyncCampaign(ctxT(t), "x")
	var ae *adplatform.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Reason != "Token expired" || ae.Endpoint != adplatform.EndpointSync {
		t.Fatalf("err = %v; want an *AuthError 401 Token expired", err)
	}
	if p.count("/api/campaigns/x/sync") != 2 || p.count("/auth/token") != 2 {
		t.Fatalf("%d syncs and %d token requests; want 2 and 2", p.count("/api/campaigns/x/sync"), p.count("/auth/token"))
	}
}

// Wrong credentials fail at once: one token request, no retry, no API
// call, and nothing of the credentials in the error.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-password-42"
	synctest.Test(t, func(t *testing.T) {
		platform := virtualFake(t, adplatformtest.Options{})
		c := clientAs(t, "http://platform.invalid", adplatform.StaticCredentials(email, wrong), func(o *adplatform.Options) {
			o.Transport = inProcess{platform}
			o.BackoffMin, o.BackoffMax = time.Second, 5*time.Second // a retry would show in the time taken
		})
		start := time.Now()
		_, err := c.SyncCampaign(context.Background(), "campaign_1")
		var ae *adplatform.AuthError
		if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Reason != "Invalid credentials" || ae.Endpoint != adplatform.EndpointAuth {
			t.Fatalf("err = %v; want an *AuthError 401 Invalid credentials", err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("took %s; want at once", d)
		}
		st := platform.Stats()
		if st.Endpoints[adplatform.EndpointAuth].Requests != 1 || st.Endpoints[adplatform.EndpointSync].Requests != 0 {
			t.Fatalf("platform saw %+v; want one token request only", st.Endpoints)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("error leaks the password: %v", err)
		}
	})
}

func TestCredentialsProviderProblems(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	vaultDown := errors.New("vault unreachable")
	for _, tc := range []struct {
		name  string
		creds adplatform.CredentialsProvider
		is    error
	}{
		{"empty email", adplatform.StaticCredentials("", password), nil},
		{"empty password", adplatform.StaticCredentials(email, ""), nil},
		{"colon in email", adplatform.StaticCredentials("a:b@example.com", password), nil},
		{"provider error", adplatform.CredentialsFunc(func(context.Context) (adplatform.Credentials, error) {
			return adplatform.Credentials{}, vaultDown
		}), vaultDown},
	} {
		c := clientAs(t, srv.URL, tc.creds)
		_, err := c.ListCampaigns(ctxT(t), 1, 10)
		var ae *adplatform.AuthError
		if !errors.As(err, &ae) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err = %v; want an *AuthError", tc.name, err)
		}
	}
	if n := len(srv.Platform.Requests()); n != 0 {
		t.Fatalf("bad credentials made %d requests; want none", n)
	}
}

// The token endpoint's passing failures are retried.
func TestTokenEndpointRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	var p *platformAPI
	p = serveAll(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/auth/token":
			writeJSON(w, 200, map[string]any{"success": true})
		case n.Add(1) <= 2:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "down", "retry_after": 60})
		default:
			p.writeToken(w)
		}
	})
	c := client(t, p.URL)
	if _, err := c.SyncCampaign(ctxT(t), "x"); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d token requests; want 3 (two 503s retried)", n.Load())
	}
	if st := c.Stats(); st.TokenRefreshes != 1 || st.Retries != 2 || st.Requests != 4 {
		t.Fatalf("stats %+v; want 1 refresh, 2 retries, 4 requests", st)
	}
}

// A platform clock far behind ours (issued_at in the past) must not make
// every call fetch a token.
func TestTokenClockSkewNoStorm(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{-2 * time.Hour, -59 * time.Minute, 3 * time.Hour} {
		var tokens atomic.Int64
		p := serveAll(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/auth/token" {
				tokens.Add(1)
				writeJSON(w, 200, map[string]any{"access_token": "tok", "expires_in": 3600, "issued_at": time.Now().Add(skew).Unix()})
				return
			}
			writeJSON(w, 200, map[string]any{"success": true})
		})
		c := client(t, p.URL)
		for range 5 {
			if _, err := c.SyncCampaign(ctxT(t), "x"); err != nil {
				t.Fatal(err)
			}
		}
		if tokens.Load() != 1 {
			t.Errorf("platform clock %s off: %d token requests for 5 calls; want 1", skew, tokens.Load())
		}
	}
}

func TestTokenBadResponses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		field string
	}{
		{"no token", `{"token_type":"Bearer","expires_in":3600}`, "access_token"},
		{"not bearer", `{"access_token":"abc","token_type":"MAC"}`, "token_type"},
		{"header-breaking token", `{"access_token":"abc\r\nX-Evil: 1"}`, "access_token"},
		{"not JSON", `<html>`, ""},
	} {
		p := serveAll(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = w.Write([]byte(tc.body))
		})
		c := client(t, p.URL, func(o *adplatform.Options) { o.MaxRetries = 1 })
		_, err := c.SyncCampaign(ctxT(t), "x")
		var de *adplatform.DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || de.Endpoint != adplatform.EndpointAuth {
			t.Errorf("%s: err = %v; want an auth *DecodeError for %q", tc.name, err, tc.field)
		}
		if strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: the error quotes the token: %v", tc.name, err)
		}
	}
}

// Without Options.ClientID the id is derived from the email, once, and is
// what the platform sees.
func TestClientIDDerived(t *testing.T) {
	t.Parallel()
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL)
	if id := c.ClientID(); id != "" {
		t.Fatalf("ClientID before authentication = %q; want empty", id)
	}
	if _, err := c.ListCampaigns(ctxT(t), 1, 10); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	want := "adsync-" + hex.EncodeToString(sum[:])[:16]
	if got := c.ClientID(); got != want {
		t.Fatalf("ClientID = %q; want %q", got, want)
	}
	if ids := srv.Platform.Stats().ClientIDs; len(ids) != 1 || ids[0] != want {
		t.Fatalf("platform saw client ids %v; want [%s]", ids, want)
	}

	// A second client of the same account, even spelled differently,
	// shares the id (and so the platform's budget).
	c2 := clientAs(t, srv.URL, adplatform.StaticCredentials(strings.ToUpper(email), password))
	_, _ = c2.ListCampaigns(ctxT(t), 1, 10)
	if c2.ClientID() != want {
		t.Fatalf("second client's id %q; want %q", c2.ClientID(), want)
	}
	c3 := client(t, srv.URL, func(o *adplatform.Options) { o.ClientID = "mine" })
	if c3.ClientID() != "mine" {
		t.Fatalf("ClientID = %q; want the option's", c3.ClientID())
	}
}
