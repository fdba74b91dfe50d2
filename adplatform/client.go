package adplatform

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Client is the platform's API client: see the package documentation for
// what it does on every call. It is safe for concurrent use, and meant to
// be shared: its token cache and its limiter serve every goroutine.
type Client struct {
	cfg config
	// creds and tokens hold the secrets. They are pointers so that
	// printing a Client value, which fmt does field by field without
	// calling String, shows their addresses and not their contents.
	creds     *provider
	tokens    *tokens
	stats     counters
	derivedID atomic.Pointer[string]
	outage    *outage
	// rc runs every call: one long-lived go-retryablehttp client whose
	// transport does each attempt (see transport) and whose policy
	// functions are Options.CheckRetry and Options.Backoff.
	rc *retryablehttp.Client
}

// provider holds the CredentialsProvider behind a pointer (see Client).
type provider struct{ CredentialsProvider }

// New returns a client of the platform at baseURL (e.g.
// "https://api.example.com"; a path prefix is kept), authenticating with
// the credentials creds provides. It makes no request: the first call
// obtains a token. An invalid option is an [*OptionError] naming the field.
func New(baseURL string, creds CredentialsProvider, opts Options) (*Client, error) {
	if creds == nil {
		return nil, errors.New("adplatform: New: nil CredentialsProvider")
	}
	cfg, err := newConfig(baseURL, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, creds: &provider{creds}, outage: newOutage(cfg.maxOutage, cfg.logger)}
	c.tokens = &tokens{c: c}
	c.rc = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: transport{c},
			// Never follow a redirect: the transport would put the bearer
			// token on the request to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		// Explicitly none: its default logs to stderr. The transport and
		// the hooks log, through Options.Logger.
		Logger:         nil,
		RetryWaitMin:   cfg.backoffMin,
		RetryWaitMax:   cfg.backoffMax,
		RetryMax:       cfg.maxRetries,
		CheckRetry:     c.checkRetry,
		Backoff:        cfg.backoff,
		RequestLogHook: c.requestHook,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
	}
	return c, nil
}

// errNotNew is what the methods of a Client not made by New return,
// rather than panic.
var errNotNew = errors.New("adplatform: Client not made by New")

// ClientID returns the X-Client-ID the client sends: Options.ClientID, or
// the one derived from the account's email, which is "" until the first
// authentication.
func (c *Client) ClientID() string {
	if c.cfg.clientID != "" {
		return c.cfg.clientID
	}
	if id := c.derivedID.Load(); id != nil {
		return *id
	}
	return ""
}

// String describes the client without any secret, so that printing it
// (%v, %+v, %#v) cannot leak the credentials or the token it holds.
func (c *Client) String() string {
	if c == nil || c.cfg.base == nil {
		return "adplatform.Client{}"
	}
	return fmt.Sprintf("adplatform.Client{base: %s, client_id: %q}", c.cfg.base.Redacted(), c.ClientID())
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Limiter returns the client's rate limiter, built from Options.RateLimit,
// RateWindow and RateMargin: to observe it, or to hand its pace to
// something else that spends this client id's requests. Every call of the
// client waits on it; share the Client, not the Limiter, between
// goroutines of one account.
func (c *Client) Limiter() *Limiter { return c.cfg.limiter }

// CloseIdleConnections closes the connections the client keeps open for
// reuse, those of its default transport or of an Options.Transport that
// has a CloseIdleConnections method (as *http.Transport has); connections
// in use are not interrupted. Call it when done with the client, so that
// nothing is left open for a goroutine-leak checker (goleak) to find.
// The client stays usable: a later call dials anew.
func (c *Client) CloseIdleConnections() {
	if t, ok := c.cfg.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// Stats counts what a client did since it was created.
type Stats struct {
	// Requests is the number of attempts sent, token requests and
	// retries included.
	Requests int64
	// Retries is the number of attempts that were retried, whatever the
	// reason (including 429s and refused tokens).
	Retries int64
	// RateLimited is the number of 429 responses received.
	RateLimited int64
	// TokenRefreshes is the number of tokens obtained.
	TokenRefreshes int64
	// RateLimitWaits is the number of attempts the limiter made wait, and
	// RateLimitWaited the total time they waited.
	RateLimitWaits  int64
	RateLimitWaited time.Duration
}

type counters struct {
	requests, retries, rateLimited, tokenRefreshes atomic.Int64
	rateLimitWaits, rateLimitWaited                atomic.Int64
	attemptIDs                                     atomic.Uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:        c.stats.requests.Load(),
		Retries:         c.stats.retries.Load(),
		RateLimited:     c.stats.rateLimited.Load(),
		TokenRefreshes:  c.stats.tokenRefreshes.Load(),
		RateLimitWaits:  c.stats.rateLimitWaits.Load(),
		RateLimitWaited: time.Duration(c.stats.rateLimitWaited.Load()),
	}
}

// observer returns who hears a call's events: Options.Observer and the
// context's observer.
func (c *Client) observer(ctx context.Context) Observer {
	fromCtx := observerFrom(ctx)
	switch {
	case c.cfg.observer == nil && fromCtx == nil:
		return NopObserver{}
	case c.cfg.observer == nil:
		return fromCtx
	case fromCtx == nil:
		return c.cfg.observer
	}
	return multiObserver{c.cfg.observer, fromCtx}
}

// url is the platform URL of path (escaped as rawPath) under the base.
func (c *Client) url(path, rawPath, query string) *url.URL {
	u := *c.cfg.base
	u.RawPath = c.cfg.base.EscapedPath() + rawPath
	u.Path = c.cfg.base.Path + path
	u.RawQuery = query
	return &u
}

// ListCampaigns fetches one page of campaigns: GET
// /api/campaigns?page=page&limit=limit. Every record is in Page.Records,
// in the platform's order, with its raw JSON; one that cannot be decoded
// has its Err set, and the call fails only when the page itself cannot be
// had. A record repeating an id that came earlier on the page is marked
// Duplicate. To list every campaign, use [Client.Pages] or
// [Client.Campaigns], which know where a listing ends.
func (c *Client) ListCampaigns(ctx context.Context, page, limit int) (Page, error) {
	p, err := c.listPage(ctx, page, limit)
	if err != nil {
		return Page{}, err
	}
	markDuplicates(p.Records, nil)
	return p, nil
}

func (c *Client) listPage(ctx context.Context, page, limit int) (Page, error) {
	switch {
	case c.cfg.base == nil:
		return Page{}, errNotNew
	case page < 1:
		return Page{}, fmt.Errorf("adplatform: list: page must be at least 1, got %d", page)
	case limit < 1 || limit > maxPageSize:
		return Page{}, fmt.Errorf("adplatform: list: limit must be in [1, %d], got %d", maxPageSize, limit)
	}
	obs := c.observer(ctx)
	var p Page
	q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}
	err := c.do(ctx, c.newCall(EndpointList, obs), http.MethodGet, c.url("/api/campaigns", "/api/campaigns", q.Encode()), func(b []byte) error {
		var err error
		p, err = decodePage(b, page, c.tokens.secrets())
		return err
	})
	if err != nil {
		return Page{}, err
	}
	info := PageInfo{Page: page, Limit: limit, Total: p.Total, HasMore: p.HasMore}
	for _, r := range p.Records {
		if r.Err != nil {
			info.Invalid++
		} else {
			info.Campaigns++
		}
	}
	obs.PageListed(info)
	return p, nil
}

// SyncCampaign asks the platform to sync campaign id: POST
// /api/campaigns/{id}/sync, the id escaped so that any id ('/', '?', '#',
// '%', spaces, any Unicode) reaches the platform intact. An answer of
// success false is an *APIError, not retried.
func (c *Client) SyncCampaign(ctx context.Context, id string) (SyncResult, error) {
	switch {
	case c.cfg.base == nil:
		return SyncResult{}, errNotNew
	case id == "":
		return SyncResult{}, errors.New("adplatform: sync: empty campaign id")
	}
	obs := c.observer(ctx)
	cl := c.newCall(EndpointSync, obs)
	var res SyncResult
	u := c.url("/api/campaigns/"+id+"/sync", "/api/campaigns/"+escapeSegment(id)+"/sync", "")
	err := c.do(ctx, cl, http.MethodPost, u, func(b []byte) error {
		var err error
		res, err = decodeSync(b, id, c.tokens.secrets())
		return err
	})
	if err != nil {
		return SyncResult{}, err
	}
	return res, nil
}

// SyncResult is the platform's answer to a successful sync call.
type SyncResult struct {
	CampaignID string
	// SyncedAt is the platform's own timestamp of the sync (its clock, not
	// ours); zero if it sent none.
	SyncedAt time.Time
	Message  string
}

// maxSyncMessageRunes bounds SyncResult.Message.
const maxSyncMessageRunes = 500

// decodeSync decodes a sync answer. A body that is not well-formed JSON
// wraps ErrMalformedResponse; one that breaks the contract (no success, a
// field of the wrong type, another campaign's id) names the field.
func decodeSync(b []byte, id string, known secrets) (SyncResult, error) {
	var body struct {
		Success    *bool           `json:"success"`
		CampaignID *string         `json:"campaign_id"`
		SyncedAt   json.RawMessage `json:"synced_at"`
		Message    json.RawMessage `json:"message"`
		Error      json.RawMessage `json:"error"`
	}
	if err := decodeObject(EndpointSync, b, &body); err != nil {
		return SyncResult{}, err
	}
	if body.Success == nil {
		return SyncResult{}, &DecodeError{Endpoint: EndpointSync, Field: "success", Err: errors.New("missing")}
	}
	msg := sanitize(jsonText(body.Message), known, maxSyncMessageRunes)
	if !*body.Success {
		return SyncResult{}, &permanentError{&APIError{
			Endpoint:   EndpointSync,
			StatusCode: http.StatusOK,
			Code:       cmp.Or(sanitize(jsonText(body.Error), known, maxCodeRunes), "sync failed"),
			Message:    sanitize(msg, known, maxMessageRunes),
			Attempts:   1,
		}}
	}
	if body.CampaignID != nil && *body.CampaignID != id {
		// Retrying would not change the platform's mind; recording a sync
		// of the wrong campaign would be worse than failing.
		return SyncResult{}, &permanentError{&DecodeError{Endpoint: EndpointSync, Field: "campaign_id",
			Err: fmt.Errorf("the platform answered for campaign %q", sanitize(*body.CampaignID, known, 80))}}
	}
	res := SyncResult{CampaignID: id, Message: msg}
	// The sync happened; a timestamp in an odd format is not worth
	// failing it (and syncing again) for: it stays zero.
	if s := jsonText(body.SyncedAt); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			res.SyncedAt = t
		}
	}
	return res, nil
}

// escapeSegment escapes a campaign id as one path segment: everything but
// RFC 3986's unreserved characters is percent-encoded (so '/', '?', '#',
// '%', ';' and any Unicode stay inside the segment), and a segment of
// dots is encoded too, so that no server or proxy resolves it as "." or
// "..".
func escapeSegment(id string) string {
	if strings.Trim(id, ".") == "" {
		return strings.Repeat("%2E", len(id))
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}
