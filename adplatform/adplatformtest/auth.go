package adplatformtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tokenBody is the token endpoint's answer.
type tokenBody struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	IssuedAt    int64       `json:"issued_at"`
}

// issueToken serves POST /auth/token: Basic credentials for a bearer token.
func (p *Platform) issueToken(r *http.Request) response {
	email, password, ok := r.BasicAuth()
	if !ok {
		return apiError(http.StatusUnauthorized, "Unauthorized",
			"Missing or invalid Authorization header. Expected: Basic <base64>")
	}
	// Constant-time, as a real platform should compare secrets.
	emailOK := subtle.ConstantTimeCompare([]byte(email), []byte(p.cfg.email))
	passwordOK := subtle.ConstantTimeCompare([]byte(password), []byte(p.cfg.password))
	if emailOK&passwordOK != 1 {
		return apiError(http.StatusUnauthorized, "Invalid credentials", "Email or password is incorrect")
	}
	if !p.wait(r, p.cfg.authLatency) {
		return response{kind: drop}
	}
	token := "fake_" + rand.Text()
	now := time.Now()
	p.mu.Lock()
	p.tokens[token] = true
	p.tokenList = append(p.tokenList, token)
	p.issuedAt = now
	p.mu.Unlock()
	return jsonResponse(http.StatusOK, tokenBody{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   exactSeconds(p.cfg.tokenTTL),
		IssuedAt:    now.Unix(),
	})
}

// checkBearer checks an /api request's token. It answers like the
// reference, plus a 401 for a token the fake never issued (the reference
// accepts any).
func (p *Platform) checkBearer(r *http.Request) (response, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return apiError(http.StatusUnauthorized, "Unauthorized", "Missing or invalid Bearer token"), false
	}
	p.mu.Lock()
	known, issuedAt := p.tokens[token], p.issuedAt
	p.mu.Unlock()
	if !known {
		return apiError(http.StatusUnauthorized, "Invalid token",
			"The access token is not recognised. Please obtain a new token."), false
	}
	if time.Since(issuedAt) >= p.cfg.tokenTTL {
		return jsonResponse(http.StatusUnauthorized, struct {
			Error     string `json:"error"`
			Message   string `json:"message"`
			ExpiredAt string `json:"expired_at"`
		}{"Token expired", "Access token has expired. Please obtain a new token.", isoTime(issuedAt.Add(p.cfg.tokenTTL))}), false
	}
	return response{}, true
}

// ExpireTokens makes every token issued so far expired, as if the TTL had
// passed since the latest issue: the next /api request with any of them is
// a 401 "Token expired". A new token makes them all valid again, as the
// reference's global issue time does.
func (p *Platform) ExpireTokens() {
	p.mu.Lock()
	p.issuedAt = time.Now().Add(-p.cfg.tokenTTL)
	p.mu.Unlock()
}

// Tokens returns every token issued, oldest first: the strings a test
// searches logs and errors for to prove a client never leaks them.
func (p *Platform) Tokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tokenList...)
}

// authScheme classifies the Authorization header without keeping its
// value.
func authScheme(r *http.Request) AuthScheme {
	h := r.Header.Get("Authorization")
	if h == "" {
		return AuthNone
	}
	scheme, _, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return AuthBasic
	case strings.EqualFold(scheme, "Bearer"):
		return AuthBearer
	}
	return AuthOther
}

// exactSeconds writes d in seconds as a JSON number: an integer when d is
// whole seconds (3600, as the reference), else the exact fraction (0.3).
func exactSeconds(d time.Duration) json.Number {
	return json.Number(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
}
