package adplatformtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{Email: "ops@example.com", Password: "pa:ss wörd"})
	r := send(t, srv, http.MethodPost, "/auth/token", basic("ops@example.com", "pa:ss wörd"))
	if r.status != http.StatusOK {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		IssuedAt    int64           `json:"issued_at"`
	}
	decode(t, r.body, &tok)
	if tok.TokenType != "Bearer" || string(tok.ExpiresIn) != "3600" || len(tok.AccessToken) < 20 {
		t.Errorf("token body = %s", r.body)
	}
	if d := time.Since(time.Unix(tok.IssuedAt, 0)); d < 0 || d > time.Minute {
		t.Errorf("issued_at %d is not now", tok.IssuedAt)
	}
	second := login2(t, srv, "ops@example.com", "pa:ss wörd")
	if second == tok.AccessToken {
		t.Error("two tokens are equal: they must be random")
	}
	if got := srv.Platform.Tokens(); !slices.Equal(got, []string{tok.AccessToken, second}) {
		t.Errorf("Tokens() = %v", got)
	}
	if got := srv.Platform.Stats().TokensIssued; got != 2 {
		t.Errorf("TokensIssued = %d", got)
	}
}

func login2(t *testing.T, srv *Server, email, password string) string {
	t.Helper()
	return tokenOf(t, send(t, srv, http.MethodPost, "/auth/token", basic(email, password)))
}

func TestTokenEndpointRejects(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	tests := []struct {
		name   string
		header hdr
		status int
		code   string
	}{
		{"wrong password", basic(DefaultEmail, "wrong"), 401, "Invalid credentials"},
		{"wrong email", basic("someone@else", DefaultPassword), 401, "Invalid credentials"},
		{"password prefix", basic(DefaultEmail, DefaultPassword[:5]), 401, "Invalid credentials"},
		{"no header", hdr{"X-None", "x"}, 401, "Unauthorized"},
		{"bearer", hdr{"Authorization", "Bearer abc"}, 401, "Unauthorized"},
		{"not base64", hdr{"Authorization", "Basic !!!"}, 401, "Unauthorized"},
		{"no colon", hdr{"Authorization", "Basic YWRtaW4="}, 401, "Unauthorized"},
	}
	for _, tt := range tests {
		r := send(t, srv, http.MethodPost, "/auth/token", tt.header)
		var e errorBody
		decode(t, r.body, &e)
		if r.status != tt.status || e.Error != tt.code || e.Message == "" {
			t.Errorf("%s: %d %s, want %d %q", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	if r := send(t, srv, http.MethodGet, "/auth/token", basic(DefaultEmail, DefaultPassword)); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /auth/token: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	if n := srv.Platform.Stats().TokensIssued; n != 0 {
		t.Errorf("%d tokens issued for bad credentials", n)
	}
}

func TestBearerRejects(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{RateLimit: -1})
	token := login(t, srv)
	tests := []struct {
		name   string
		header hdr
		code   string
	}{
		{"none", hdr{"X-None", "x"}, "Unauthorized"},
		{"basic", basic(DefaultEmail, DefaultPassword), "Unauthorized"},
		{"empty bearer", hdr{"Authorization", "Bearer "}, "Unauthorized"},
		{"unknown token", bearer("fake_NOTISSUED"), "Invalid token"},
		{"token with suffix", bearer(token + "x"), "Invalid token"},
	}
	for _, tt := range tests {
		for _, call := range [][2]string{{http.MethodGet, "/api/campaigns"}, {http.MethodPost, "/api/campaigns/campaign_1/sync"}} {
			r := send(t, srv, call[0], call[1], tt.header)
			var e errorBody
			decode(t, r.body, &e)
			if r.status != http.StatusUnauthorized || e.Error != tt.code || e.Message == "" {
				t.Errorf("%s %s: %d %s, want 401 %q", tt.name, call[1], r.status, r.body, tt.code)
			}
		}
	}
	if got := srv.Platform.Stats().Syncs["campaign_1"].Calls; got != 0 {
		t.Errorf("SyncCalls counted %d unauthenticated calls", got)
	}
}

// One global issue time: a new token restarts every token's clock, and
// when it runs out they all expire together.
func TestTokenGlobalIssuedAt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Options{TokenTTL: time.Second, RateLimit: -1, FailEveryNthList: -1})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		first := loginDirect(t, p)
		status := func(token string) int {
			return serve(p, http.MethodGet, "/api/campaigns", bearer(token)).status
		}
		time.Sleep(900 * time.Millisecond)
		second := loginDirect(t, p) // restarts the clock for both
		time.Sleep(600 * time.Millisecond)
		if s := status(first); s != 200 {
			t.Errorf("+1.5s: first token %d, want 200 (the second issue restarted its clock)", s)
		}
		time.Sleep(400*time.Millisecond - time.Nanosecond)
		if s := status(first); s != 200 {
			t.Errorf("just before +1.9s: first token %d, want 200", s)
		}
		time.Sleep(time.Nanosecond)
		for name, tok := range map[string]string{"first": first, "second": second} {
			r := serve(p, http.MethodGet, "/api/campaigns", bearer(tok))
			var e struct {
				Error     string `json:"error"`
				Message   string `json:"message"`
				ExpiredAt string `json:"expired_at"`
			}
			decode(t, r.body, &e)
			want := t0.Add(1900 * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
			if r.status != 401 || e.Error != "Token expired" || e.Message == "" || e.ExpiredAt != want {
				t.Errorf("+1.9s: %s token: %d %s, want 401 Token expired at %s", name, r.status, r.body, want)
			}
		}
		loginDirect(t, p) // a third issue revives them all
		if s := status(first); s != 200 {
			t.Errorf("after a new issue: first token %d, want 200", s)
		}
	})
}

func TestTokenShortTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, _ := New(Options{TokenTTL: 300 * time.Millisecond})
		k := basic(DefaultEmail, DefaultPassword)
		r := serve(p, http.MethodPost, "/auth/token", k)
		var tok struct {
			AccessToken string          `json:"access_token"`
			ExpiresIn   json.RawMessage `json:"expires_in"`
		}
		decode(t, r.body, &tok)
		if string(tok.ExpiresIn) != "0.3" {
			t.Errorf("expires_in = %s, want 0.3", tok.ExpiresIn)
		}
		time.Sleep(299 * time.Millisecond)
		if s := serve(p, http.MethodGet, "/api/campaigns", bearer(tok.AccessToken)).status; s != 200 {
			t.Errorf("before the TTL: %d", s)
		}
		time.Sleep(time.Millisecond)
		if s := serve(p, http.MethodGet, "/api/campaigns", bearer(tok.AccessToken)).status; s != 401 {
			t.Errorf("at the TTL: %d, want 401", s)
		}
	})
}

func TestExpireTokens(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{})
	token := login(t, srv)
	if r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token)); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	srv.Platform.ExpireTokens()
	r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token))
	var e errorBody
	decode(t, r.body, &e)
	if r.status != 401 || e.Error != "Token expired" {
		t.Errorf("after ExpireTokens: %d %s", r.status, r.body)
	}
	login(t, srv)
	if r := send(t, srv, http.MethodGet, "/api/campaigns", bearer(token)); r.status != 200 {
		t.Errorf("after a new token: %d %s", r.status, r.body)
	}
}
