package adplatform

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Options configure a [Client]. The zero value of every field selects
// the default documented on it; [New] rejects a nonsense value with an error
// naming the field.
type Options struct {
	// ClientID is sent as X-Client-ID, the key of the platform's rate
	// limit. Default: derived once from the account's email at the first
	// authentication, "adsync-" + the first 16 hex digits of the SHA-256
	// of the lower-cased email: stable per account, and it reveals nothing.
	// Callers of one account must use one id, and so one [Client]: a
	// different id per client would dodge the platform's limit, which is
	// abuse, and two clients of one id would each fill the window.
	ClientID string

	// Transport carries the requests: a proxy, custom TLS, an
	// instrumented transport (otelhttp) or a test's in-process one.
	// Timeouts are the client's own, per attempt (see below), and
	// redirects are never followed, so the bearer token cannot be sent
	// elsewhere. Default: cleanhttp.DefaultPooledTransport with enough idle
	// connections per host for concurrent sync calls, owned by the client
	// (see [Client.CloseIdleConnections]).
	Transport http.RoundTripper

	// PageSize is the limit asked for when listing (default 100, at most
	// 10000). Large pages save rate-limited requests.
	PageSize int

	// RateLimit requests per rolling RateWindow is the platform's limit
	// (default 10 per minute). RateMargin is the least margin added to
	// every wait for a slot, to cover the platform logging a request
	// later than it was written (default RateWindow/100, at least 25ms
	// and at most 1s); the limiter widens it when it observes scheduling
	// delay or a 429 that came anyway (see [Limiter]). The
	// client's [Limiter] is built from these three; every goroutine
	// calling the platform with this client id shares it by sharing the
	// Client.
	RateLimit  int
	RateWindow time.Duration
	RateMargin time.Duration
	// IgnoreRateLimitHeaders makes the client ignore the platform's
	// X-RateLimit-* and RateLimit-* headers (Retry-After on a 429 is still
	// honoured).
	IgnoreRateLimitHeaders bool

	// MaxRateLimitWait is the longest wait a 429 (or a Remaining: 0
	// header) may ask for (default 5 minutes). A longer one closes the
	// client until the platform's time: the call, and every later call
	// until then, fails at once with a *RateLimitError carrying it,
	// without sending a request.
	MaxRateLimitWait time.Duration

	// MaxOutage is how long calls wait for a platform that is down
	// (consecutive 502, 503, 504, refused or reset connections across all
	// calls) before failing with an error matching ErrPlatformUnavailable
	// (default 5 minutes). While it is down, calls send nothing but one
	// probe now and then, and spend none of their retries.
	MaxOutage time.Duration

	// MaxRetries bounds the retries of one call (default 4): after
	// failures that may pass (408, 500, 502, 503, 504, timeouts,
	// connection failures, bodies cut short), a 429 (after the wait it
	// asks for), and the one re-authentication after a 401.
	// DisableRetries turns every retry off.
	MaxRetries     int
	DisableRetries bool
	// BackoffMin and BackoffMax bound the backoff between retries
	// (defaults 250ms and 10s), go-retryablehttp's RetryWaitMin and
	// RetryWaitMax.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// CheckRetry and Backoff replace the retry policy and the backoff
	// (defaults DefaultRetryPolicy and DefaultBackoff: wrap them to
	// change a part). They are go-retryablehttp's, and run with the
	// call's context.
	CheckRetry retryablehttp.CheckRetry
	Backoff    retryablehttp.Backoff

	// ListTimeout, SyncTimeout and AuthTimeout bound one attempt of each
	// endpoint, from sending the request to reading the body (defaults
	// 10s, 15s, 10s). Waiting in the limiter is not part of it. An attempt
	// cut by its timeout is retried.
	ListTimeout time.Duration
	SyncTimeout time.Duration
	AuthTimeout time.Duration

	// TokenRefreshMargin is how long before its expiry a token is
	// replaced (default min(60s, ttl/10); never more than half the
	// token's lifetime).
	TokenRefreshMargin time.Duration

	// MaxResponseBytes bounds a response body (default 8 MiB); a larger
	// one fails the call with a *DecodeError.
	MaxResponseBytes int64

	// UserAgent is sent as User-Agent (default "adsync-adplatform").
	UserAgent string

	// Logger receives the client's logs; nil means silent. Debug: every
	// attempt; Info: retries and token refreshes; Warn: 429s. Logs never
	// hold credentials, tokens or response bodies.
	Logger *slog.Logger

	// Observer receives every event of every call, in addition to the
	// observer a call's context carries (see [WithObserver]).
	Observer Observer
}

// Defaults, and the bounds validation applies.
const (
	defaultPageSize         = 100
	maxPageSize             = 10_000
	defaultRateLimit        = 10
	defaultRateWindow       = time.Minute
	defaultMaxRateLimitWait = 5 * time.Minute
	defaultMaxOutage        = 5 * time.Minute
	defaultMaxRetries       = 4
	defaultBackoffMin       = 250 * time.Millisecond
	defaultBackoffMax       = 10 * time.Second
	defaultListTimeout      = 10 * time.Second
	defaultSyncTimeout      = 15 * time.Second
	defaultAuthTimeout      = 10 * time.Second
	defaultMaxResponseBytes = 8 << 20
	defaultUserAgent        = "adsync-adplatform"
)

// config is Options validated, with every default applied.
type config struct {
	base              *url.URL
	clientID          string
	transport         http.RoundTripper
	pageSize          int
	limiter           *Limiter
	ignoreRateHeaders bool
	maxRateLimitWait  time.Duration
	maxOutage         time.Duration
	checkRetry        retryablehttp.CheckRetry
	backoff           retryablehttp.Backoff
	maxRetries        int
	backoffMin        time.Duration
	backoffMax        time.Duration
	listTimeout       time.Duration
	syncTimeout       time.Duration
	authTimeout       time.Duration
	refreshMargin     time.Duration // 0: the default, which depends on the token's lifetime
	maxResponseBytes  int64
	userAgent         string
	logger            *slog.Logger
	observer          Observer // nil when none
}

// fieldError is the *OptionError of the bad field.
func fieldError(field, format string, args ...any) error {
	return &OptionError{Field: field, Err: fmt.Errorf(format, args...)}
}

func newConfig(baseURL string, opts Options) (config, error) {
	var cfg config
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return cfg, err
	}
	cfg.base = base

	if strings.ContainsFunc(opts.ClientID, isHeaderUnsafe) {
		return cfg, fieldError("ClientID", "holds control characters")
	}
	cfg.clientID = opts.ClientID
	if strings.ContainsFunc(opts.UserAgent, isHeaderUnsafe) {
		return cfg, fieldError("UserAgent", "holds control characters")
	}
	cfg.userAgent = cmp.Or(opts.UserAgent, defaultUserAgent)

	cfg.transport = opts.Transport
	if cfg.transport == nil {
		cfg.transport = newPooledTransport()
	}

	switch {
	case opts.PageSize < 0:
		return cfg, fieldError("PageSize", "must not be negative, got %d", opts.PageSize)
	case opts.PageSize > maxPageSize:
		return cfg, fieldError("PageSize", "must be at most %d, got %d", maxPageSize, opts.PageSize)
	}
	cfg.pageSize = cmp.Or(opts.PageSize, defaultPageSize)

	if opts.RateLimit < 0 {
		return cfg, fieldError("RateLimit", "must be positive, got %d", opts.RateLimit)
	}
	if opts.RateWindow < 0 {
		return cfg, fieldError("RateWindow", "must be positive, got %s", opts.RateWindow)
	}
	if opts.RateMargin < 0 {
		return cfg, fieldError("RateMargin", "must not be negative, got %s", opts.RateMargin)
	}
	window := cmp.Or(opts.RateWindow, defaultRateWindow)
	margin := opts.RateMargin
	if margin == 0 {
		margin = min(max(window/100, 25*time.Millisecond), time.Second, window/2)
	}
	if margin >= window {
		return cfg, fieldError("RateMargin", "must be shorter than the rate window %s, got %s", window, margin)
	}
	cfg.limiter, err = NewLimiter(cmp.Or(opts.RateLimit, defaultRateLimit), window, margin)
	if err != nil { // unreachable after the checks above
		return cfg, err
	}
	cfg.ignoreRateHeaders = opts.IgnoreRateLimitHeaders

	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxRateLimitWait", opts.MaxRateLimitWait},
		{"MaxOutage", opts.MaxOutage},
		{"BackoffMin", opts.BackoffMin},
		{"BackoffMax", opts.BackoffMax},
		{"ListTimeout", opts.ListTimeout},
		{"SyncTimeout", opts.SyncTimeout},
		{"AuthTimeout", opts.AuthTimeout},
		{"TokenRefreshMargin", opts.TokenRefreshMargin},
	} {
		if d.v < 0 {
			return cfg, fieldError(d.name, "must not be negative, got %s", d.v)
		}
	}
	cfg.maxRateLimitWait = cmp.Or(opts.MaxRateLimitWait, defaultMaxRateLimitWait)
	cfg.maxOutage = cmp.Or(opts.MaxOutage, defaultMaxOutage)
	cfg.backoffMin = cmp.Or(opts.BackoffMin, defaultBackoffMin)
	cfg.backoffMax = cmp.Or(opts.BackoffMax, defaultBackoffMax)
	if cfg.backoffMin > cfg.backoffMax {
		return cfg, fieldError("BackoffMin", "%s is more than BackoffMax %s", cfg.backoffMin, cfg.backoffMax)
	}
	cfg.listTimeout = cmp.Or(opts.ListTimeout, defaultListTimeout)
	cfg.syncTimeout = cmp.Or(opts.SyncTimeout, defaultSyncTimeout)
	cfg.authTimeout = cmp.Or(opts.AuthTimeout, defaultAuthTimeout)
	cfg.refreshMargin = opts.TokenRefreshMargin

	if opts.MaxRetries < 0 {
		return cfg, fieldError("MaxRetries", "must not be negative, got %d (use DisableRetries to turn retries off)", opts.MaxRetries)
	}
	cfg.maxRetries = cmp.Or(opts.MaxRetries, defaultMaxRetries)
	if opts.DisableRetries {
		cfg.maxRetries = 0
	}
	cfg.checkRetry, cfg.backoff = opts.CheckRetry, opts.Backoff
	if cfg.checkRetry == nil {
		cfg.checkRetry = DefaultRetryPolicy
	}
	if cfg.backoff == nil {
		cfg.backoff = DefaultBackoff
	}

	switch {
	case opts.MaxResponseBytes < 0:
		return cfg, fieldError("MaxResponseBytes", "must not be negative, got %d", opts.MaxResponseBytes)
	case opts.MaxResponseBytes > 0 && opts.MaxResponseBytes < 1024:
		return cfg, fieldError("MaxResponseBytes", "must be at least 1024, got %d", opts.MaxResponseBytes)
	}
	cfg.maxResponseBytes = cmp.Or(opts.MaxResponseBytes, defaultMaxResponseBytes)

	cfg.logger = opts.Logger
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	cfg.observer = opts.Observer
	return cfg, nil
}

// parseBaseURL accepts an absolute http(s) URL with a host and nothing
// that cannot be a base: no credentials (they come from the
// CredentialsProvider, never from a URL that ends up in logs), no query,
// no fragment.
func parseBaseURL(s string) (*url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("adplatform: base URL: empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL, which might hold credentials.
		return nil, errors.New("adplatform: base URL: not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("adplatform: base URL: scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("adplatform: base URL: no host")
	case u.User != nil:
		return nil, errors.New("adplatform: base URL: must not hold credentials (use the CredentialsProvider)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("adplatform: base URL: must not have a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// maxIdleConnsPerHost keeps a connection per concurrent call: the
// syncer's default concurrency is 10, and cleanhttp sizes its pool by
// GOMAXPROCS, which on a small machine would make sync calls dial anew.
const maxIdleConnsPerHost = 64

// newPooledTransport is the default transport: cleanhttp's pooled
// transport (http.DefaultTransport's settings, not shared with the rest of
// the program) with enough idle connections per host for concurrent calls.
func newPooledTransport() *http.Transport {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

func isHeaderUnsafe(r rune) bool { return r < 0x20 || r == 0x7f }
