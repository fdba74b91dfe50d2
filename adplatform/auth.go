package adplatform

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tokens is the bearer token cache shared by every call of a client: one
// token at a time, refreshed shortly before it expires, and at most one
// refresh in flight (the others wait for its result). The reference
// platform restarts every token's expiry clock at each issue, so a token
// is requested only when none is usable.
type tokens struct {
	c *Client

	mu        sync.Mutex
	token     string
	refreshAt time.Time // zero: refresh only when the platform says 401
	expiresAt time.Time // zero: unknown
	flight    *refresh
	// known are the secrets to redact from platform text: the password,
	// the Basic credential, the current and the previous token. Replaced,
	// never changed in place, so a snapshot needs no copy.
	known    secrets
	password string
	basic    string
	previous string
}

// refresh is one token request that other callers may wait for.
type refresh struct {
	done  chan struct{}
	token string
	err   error
	// abandoned is set when the request failed because its own caller's
	// context ended: the waiters then try again rather than inherit an
	// error that is not theirs.
	abandoned bool
}

// get returns a usable token, requesting one if needed. The transport
// calls it before a request is admitted, never between admission and
// sending.
func (a *tokens) get(ctx context.Context, obs Observer) (string, error) {
	for {
		a.mu.Lock()
		now := time.Now()
		if a.token != "" && (a.refreshAt.IsZero() || now.Before(a.refreshAt)) {
			t := a.token
			a.mu.Unlock()
			return t, nil
		}
		if f := a.flight; f != nil {
			a.mu.Unlock()
			select {
			case <-f.done:
				if f.abandoned {
					continue
				}
				return f.token, f.err
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		f := &refresh{done: make(chan struct{})}
		a.flight = f
		old, oldExpiry := a.token, a.expiresAt
		a.mu.Unlock()

		tok, refreshAt, expiresAt, err := a.c.requestToken(ctx, obs)

		a.mu.Lock()
		a.flight = nil
		switch {
		case err == nil:
			if a.token != "" && a.token != tok {
				a.previous = a.token
			}
			a.token, a.refreshAt, a.expiresAt = tok, refreshAt, expiresAt
			a.known = newSecrets(a.password, a.basic, tok, a.previous)
			f.token = tok
		case old != "" && !oldExpiry.IsZero() && time.Now().Before(oldExpiry) && !isAuthError(err) && ctx.Err() == nil:
			// An early refresh failed for a passing reason (a 503, a
			// timeout): the old token still works until it expires. Try
			// again a little later, not on every call.
			a.refreshAt = minTime(time.Now().Add(a.c.cfg.backoffMax), oldExpiry)
			a.c.cfg.logger.Warn("adplatform: token refresh failed, using the current token until it expires",
				"expires_in", time.Until(oldExpiry).Round(time.Millisecond).String(), "err", err.Error())
			f.token = old
		default:
			f.err = err
			f.abandoned = ctx.Err() != nil
		}
		close(f.done)
		a.mu.Unlock()
		return f.token, f.err
	}
}

// usable reports whether tok is still the current token and has not
// expired: a request about to carry it would not be refused for it.
func (a *tokens) usable(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return tok != "" && tok == a.token && (a.expiresAt.IsZero() || time.Now().Before(a.expiresAt))
}

// invalidate drops tok after the platform refused it. Comparing with the
// current token means that ten calls refused together cause one refresh:
// only the first finds its token still current.
func (a *tokens) invalidate(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tok != "" && a.token == tok {
		a.token = ""
		a.previous = tok
	}
}

// secrets returns what must be redacted from platform text.
func (a *tokens) secrets() secrets {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.known
}

// setCredentials records the credentials about to be sent, so that errors
// of the very request that sends them are redacted too.
func (a *tokens) setCredentials(password, basic string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if password != a.password || basic != a.basic {
		a.password, a.basic = password, basic
		a.known = newSecrets(a.password, a.basic, a.token, a.previous)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func isAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// tokenBody is the token endpoint's answer.
type tokenBody struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	IssuedAt    json.Number `json:"issued_at"`
}

// requestToken exchanges the account's credentials for a token. It
// returns when to refresh it and when it expires (zero when the platform
// did not say).
func (c *Client) requestToken(ctx context.Context, obs Observer) (token string, refreshAt, expiresAt time.Time, err error) {
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", time.Time{}, time.Time{}, err
		}
		return "", time.Time{}, time.Time{}, &AuthError{Endpoint: EndpointAuth, Reason: "credentials provider failed", Err: err}
	}
	switch {
	case creds.Email == "" || creds.Password == "":
		return "", time.Time{}, time.Time{}, &AuthError{Endpoint: EndpointAuth, Reason: "the credentials provider gave an empty email or password"}
	case strings.Contains(creds.Email, ":"):
		return "", time.Time{}, time.Time{}, &AuthError{Endpoint: EndpointAuth, Reason: "the email holds ':', which Basic authentication cannot carry"}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(creds.Email + ":" + creds.Password))
	c.tokens.setCredentials(creds.Password, basic)
	c.deriveClientID(creds.Email)

	var body tokenBody
	var received time.Time
	cl := c.newCall(EndpointAuth, obs)
	cl.basic = basic
	u := c.url("/auth/token", "/auth/token", "")
	err = c.do(ctx, cl, http.MethodPost, u, func(b []byte) error {
		received = time.Now()
		return decodeToken(b, &body)
	})
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}

	ttl, _ := positiveSeconds(body.ExpiresIn)
	if ttl > 0 {
		expiresAt = received.Add(ttl)
		margin := c.cfg.refreshMargin
		if margin == 0 {
			margin = min(time.Minute, ttl/10)
		}
		margin = min(margin, ttl/2) // never a refresh storm, whatever the option says
		// The platform's own clock may say the token expires sooner
		// (it was issued before our request arrived): believe it only
		// when that leaves it usable, so that a platform clock running
		// behind ours cannot make every call refresh.
		if issued, ok := positiveSeconds(body.IssuedAt); ok {
			if e := time.Unix(0, 0).Add(issued).Add(ttl); e.Before(expiresAt) && e.Add(-margin).After(received) {
				expiresAt = e
			}
		}
		refreshAt = expiresAt.Add(-margin)
	}
	c.stats.tokenRefreshes.Add(1)
	obs.TokenRefreshed()
	c.cfg.logger.Info("adplatform: obtained a bearer token", "expires_in", ttl.String())
	return body.AccessToken, refreshAt, expiresAt, nil
}

// decodeToken decodes a token answer. A body that is not well-formed JSON
// wraps ErrMalformedResponse; one that breaks the contract (no token, a
// token_type other than Bearer, a field of the wrong type) names the field.
func decodeToken(b []byte, body *tokenBody) error {
	if err := decodeObject(EndpointAuth, b, body); err != nil {
		return err
	}
	switch {
	case body.AccessToken == "":
		return &DecodeError{Endpoint: EndpointAuth, Field: "access_token", Err: errors.New("missing")}
	case strings.ContainsFunc(body.AccessToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		// Never quote it: it is a secret even when malformed.
		return &DecodeError{Endpoint: EndpointAuth, Field: "access_token", Err: errors.New("holds characters a header cannot carry")}
	case body.TokenType != "" && !strings.EqualFold(body.TokenType, "Bearer"):
		return &DecodeError{Endpoint: EndpointAuth, Field: "token_type", Err: errors.New("not Bearer: " + sanitize(body.TokenType, nil, 40))}
	}
	return nil
}

// positiveSeconds reads a JSON number of seconds (fractional allowed).
func positiveSeconds(n json.Number) (time.Duration, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f*float64(time.Second) >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// deriveClientID sets the default X-Client-ID, once: stable per account
// (the email, lower-cased, hashed) and revealing nothing about it.
func (c *Client) deriveClientID(email string) {
	if c.cfg.clientID != "" || c.derivedID.Load() != nil {
		return
	}
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	id := "adsync-" + hex.EncodeToString(sum[:])[:16]
	if c.derivedID.CompareAndSwap(nil, &id) {
		c.cfg.logger.Debug("adplatform: derived the client id from the account", slog.String("client_id", id))
	}
}
