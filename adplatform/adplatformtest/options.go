package adplatformtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/adsync/adsync/adplatform"
)

// DefaultEmail and DefaultPassword are the account the fake accepts unless
// [WithCredentials] says otherwise. They are the reference platform's
// published test credentials, not a secret: use them in tests and examples
// only.
const (
	DefaultEmail    = "admin@mixoads.com"
	DefaultPassword = "SuperSecret123!"
)

// The reference platform's numbers, each overridable by an [Option].
const (
	DefaultCampaigns        = 100
	DefaultRateLimit        = 10
	DefaultRateWindow       = 60 * time.Second
	DefaultSyncLatency      = 2 * time.Second
	DefaultTokenTTL         = 3600 * time.Second
	DefaultFailEveryNthList = 5
)

const (
	// referencePageSize is the page size the reference's has_more quirk is
	// computed with, whatever limit the client asked for.
	referencePageSize = 10
	// maxLimit bounds the page size a request may ask for. The reference
	// has no bound; one request asking for a billion campaigns would take
	// the fake's memory, so limits above this are a 400.
	maxLimit = 10_000
	// maxRecordNumber bounds page*limit, so that synthetic ids and budgets
	// stay exact integers (2^53, the largest a JavaScript platform keeps
	// exact).
	maxRecordNumber = 1 << 53
)

// Option changes one of the fake's reference defaults. Options are applied
// in order; a later option overrides an earlier one of the same kind.
type Option func(*config) error

// RetryAfterMode says how a 429 tells the client when to retry.
type RetryAfterMode int

const (
	// RetryAfterNone sends no Retry-After header: only the body's
	// retry_after field, as the reference platform does.
	RetryAfterNone RetryAfterMode = iota
	// RetryAfterSeconds sends Retry-After as delta-seconds: the time until
	// a slot of the client's window frees, rounded up to whole seconds.
	RetryAfterSeconds
	// RetryAfterHTTPDate sends Retry-After as an HTTP-date: the moment a
	// slot frees, rounded up to the next whole second.
	RetryAfterHTTPDate
)

// Faults are random failures injected on top of the reference behaviour.
// Each probability is drawn per request, after the rate limit and the token
// check, on the endpoints listed; at most one fault hits a request. The
// zero value injects nothing.
type Faults struct {
	// Unavailable answers 503 with the platform's JSON error body.
	Unavailable float64
	// Hang never answers: the connection stays open until the client gives
	// up or the fake is closed (the documented "10% never answer").
	Hang float64
	// Reset aborts the connection with a TCP RST and no response.
	Reset float64
	// BadGateway answers 502 with an HTML body, as a proxy in front of the
	// platform would.
	BadGateway float64
	// Malformed lets the endpoint do its work, then cuts a 200 body in
	// half: a truncated JSON document with a matching Content-Length.
	Malformed float64
	// Seed makes the draws deterministic: the same seed and the same order
	// of requests give the same faults.
	Seed uint64
	// Endpoints are the endpoints faults apply to: any of
	// adplatform.EndpointList, EndpointSync and EndpointAuth. Nil or empty
	// means list and sync.
	Endpoints []adplatform.Endpoint
}

// config is everything the options set; New validates it once.
type config struct {
	email, password string

	campaigns int                     // generated campaigns, when list is nil
	list      []adplatform.Campaign   // explicit campaigns, when not nil
	raw       map[int]json.RawMessage // listed records replaced by raw JSON
	syncErr   map[string]int          // campaign id → sync status
	faults    Faults
	endpoints map[adplatform.Endpoint]bool // faults' endpoints, resolved
	retry     RetryAfterMode

	rateLimit        int
	rateWindow       time.Duration
	authLatency      time.Duration
	listLatency      time.Duration
	syncLatency      time.Duration
	tokenTTL         time.Duration
	failEveryNthList int
	pageSizeCap      int
	honest           bool
	rateHeaders      bool
}

func defaultConfig() config {
	return config{
		email:            DefaultEmail,
		password:         DefaultPassword,
		campaigns:        DefaultCampaigns,
		raw:              map[int]json.RawMessage{},
		syncErr:          map[string]int{},
		rateLimit:        DefaultRateLimit,
		rateWindow:       DefaultRateWindow,
		syncLatency:      DefaultSyncLatency,
		tokenTTL:         DefaultTokenTTL,
		failEveryNthList: DefaultFailEveryNthList,
	}
}

// total is the number of real campaigns.
func (c *config) total() int {
	if c.list != nil {
		return len(c.list)
	}
	return c.campaigns
}

// validate checks what single options cannot: how they combine.
func (c *config) validate() error {
	bad := -1
	for i := range c.raw {
		if i >= c.total() && (bad < 0 || i < bad) {
			bad = i
		}
	}
	if bad >= 0 {
		return fmt.Errorf("adplatformtest: WithRawRecord: index %d is past the last campaign (%d campaigns)", bad, c.total())
	}
	c.endpoints = map[adplatform.Endpoint]bool{}
	eps := c.faults.Endpoints
	if len(eps) == 0 {
		eps = []adplatform.Endpoint{adplatform.EndpointList, adplatform.EndpointSync}
	}
	for _, e := range eps {
		c.endpoints[e] = true
	}
	return nil
}

// WithCampaigns serves n generated campaigns, as the reference generates
// them: ids campaign_1..campaign_n, names "Campaign k", status "active",
// budget 1000+100k, created_at k days before the fake started, and
// impressions, clicks and conversions drawn afresh on every listing.
func WithCampaigns(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("adplatformtest: WithCampaigns: n must not be negative, got %d", n)
		}
		c.campaigns, c.list = n, nil
		return nil
	}
}

// WithCampaignList serves exactly these campaigns, in this order, verbatim:
// their counts do not change between listings. Ids must be unique,
// non-empty and valid UTF-8 (JSON cannot carry anything else); they may
// hold any character, '/', '?', '#', '%' and spaces included. The slice is
// copied.
func WithCampaignList(campaigns []adplatform.Campaign) Option {
	return func(c *config) error {
		seen := make(map[string]int, len(campaigns))
		for i, cp := range campaigns {
			switch {
			case cp.ID == "":
				return fmt.Errorf("adplatformtest: WithCampaignList: campaign %d: empty id", i)
			case !utf8.ValidString(cp.ID):
				return fmt.Errorf("adplatformtest: WithCampaignList: campaign %d: id is not valid UTF-8", i)
			}
			if j, dup := seen[cp.ID]; dup {
				return fmt.Errorf("adplatformtest: WithCampaignList: campaigns %d and %d have the same id %q", j, i, cp.ID)
			}
			seen[cp.ID] = i
			if _, err := json.Marshal(cp); err != nil {
				return fmt.Errorf("adplatformtest: WithCampaignList: campaign %d: %w", i, err)
			}
		}
		c.list = append(make([]adplatform.Campaign, 0, len(campaigns)), campaigns...)
		return nil
	}
}

// WithRawRecord replaces the listed record at the 0-based position index
// (across pages: page p, position i of limit L is index (p-1)*L+i) with raw,
// which must be valid JSON but need not be a valid campaign: a record with
// a missing field, a string count or a null id tests how a client survives
// one bad record. If raw is an object with a string "id", the sync endpoint
// knows that id too.
func WithRawRecord(index int, raw json.RawMessage) Option {
	return func(c *config) error {
		if index < 0 {
			return fmt.Errorf("adplatformtest: WithRawRecord: index must not be negative, got %d", index)
		}
		if !json.Valid(raw) {
			return errors.New("adplatformtest: WithRawRecord: raw is not valid JSON")
		}
		c.raw[index] = append(json.RawMessage(nil), raw...)
		return nil
	}
}

// WithCredentials sets the only account the token endpoint accepts.
func WithCredentials(email, password string) Option {
	return func(c *config) error {
		switch {
		case email == "":
			return errors.New("adplatformtest: WithCredentials: empty email")
		case strings.Contains(email, ":"):
			// Basic authentication cannot carry a colon in the user part.
			return errors.New("adplatformtest: WithCredentials: email contains ':'")
		case password == "":
			return errors.New("adplatformtest: WithCredentials: empty password")
		}
		c.email, c.password = email, password
		return nil
	}
}

// WithRateLimit allows at most n accepted /api requests per client in any
// rolling window (default 10 per 60 s). n = 0 disables the limit; the
// window is still the one [Platform.MaxAcceptedInWindow] measures with.
func WithRateLimit(n int, window time.Duration) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("adplatformtest: WithRateLimit: n must not be negative, got %d", n)
		}
		if window <= 0 {
			return fmt.Errorf("adplatformtest: WithRateLimit: window must be positive, got %s", window)
		}
		c.rateLimit, c.rateWindow = n, window
		return nil
	}
}

// WithAuthLatency delays every token response by d (default 0).
func WithAuthLatency(d time.Duration) Option {
	return latency("WithAuthLatency", d, func(c *config) *time.Duration { return &c.authLatency })
}

// WithListLatency delays every successful listing by d (default 0).
func WithListLatency(d time.Duration) Option {
	return latency("WithListLatency", d, func(c *config) *time.Duration { return &c.listLatency })
}

// WithSyncLatency sets how long a sync call takes before it answers 200
// (default 2 s).
func WithSyncLatency(d time.Duration) Option {
	return latency("WithSyncLatency", d, func(c *config) *time.Duration { return &c.syncLatency })
}

func latency(name string, d time.Duration, field func(*config) *time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("adplatformtest: %s: must not be negative, got %s", name, d)
		}
		*field(c) = d
		return nil
	}
}

// WithTokenTTL sets how long tokens live after the latest issue (default
// 3600 s). A TTL that is not a whole number of seconds is sent in
// expires_in as a fractional number (0.3 for 300 ms).
func WithTokenTTL(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("adplatformtest: WithTokenTTL: must be positive, got %s", d)
		}
		c.tokenTTL = d
		return nil
	}
}

// WithFailEveryNthList makes every nth authenticated list request answer
// 503 (default 5, as the reference); 0 disables it.
func WithFailEveryNthList(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("adplatformtest: WithFailEveryNthList: n must not be negative, got %d", n)
		}
		c.failEveryNthList = n
		return nil
	}
}

// WithFaults injects random failures (default none).
func WithFaults(f Faults) Option {
	return func(c *config) error {
		sum := 0.0
		for _, p := range []struct {
			name string
			v    float64
		}{{"Unavailable", f.Unavailable}, {"Hang", f.Hang}, {"Reset", f.Reset}, {"BadGateway", f.BadGateway}, {"Malformed", f.Malformed}} {
			if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
				return fmt.Errorf("adplatformtest: WithFaults: Faults.%s must be a probability in [0, 1], got %v", p.name, p.v)
			}
			sum += p.v
		}
		if sum > 1+1e-9 {
			return fmt.Errorf("adplatformtest: WithFaults: the probabilities add up to %v, more than 1", sum)
		}
		for _, e := range f.Endpoints {
			switch e {
			case adplatform.EndpointList, adplatform.EndpointSync, adplatform.EndpointAuth:
			default:
				return fmt.Errorf("adplatformtest: WithFaults: Faults.Endpoints: unknown endpoint %q", e)
			}
		}
		f.Endpoints = append([]adplatform.Endpoint(nil), f.Endpoints...)
		c.faults = f
		return nil
	}
}

// WithSyncError makes every sync of campaign id answer status (400–599) at
// once, with the platform's JSON error body, whether or not the campaign
// exists.
func WithSyncError(id string, status int) Option {
	return func(c *config) error {
		if status < 400 || status > 599 {
			return fmt.Errorf("adplatformtest: WithSyncError: status must be in 400–599, got %d", status)
		}
		c.syncErr[id] = status
		return nil
	}
}

// WithHonestPagination makes listings honest: has_more is page*limit <
// total and no synthetic campaigns pad pages past the end. The default is
// the reference's quirk.
func WithHonestPagination() Option {
	return func(c *config) error {
		c.honest = true
		return nil
	}
}

// WithPageSizeCap serves at most n campaigns per page: a request asking
// for more gets n, and pagination.limit says n. The default is no cap
// (limits up to 10000 are honoured, larger ones are a 400).
func WithPageSizeCap(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("adplatformtest: WithPageSizeCap: n must be at least 1, got %d", n)
		}
		c.pageSizeCap = n
		return nil
	}
}

// WithRetryAfter sets how a 429 says when to retry (default
// [RetryAfterNone], as the reference).
func WithRetryAfter(mode RetryAfterMode) Option {
	return func(c *config) error {
		switch mode {
		case RetryAfterNone, RetryAfterSeconds, RetryAfterHTTPDate:
		default:
			return fmt.Errorf("adplatformtest: WithRetryAfter: unknown mode %d", mode)
		}
		c.retry = mode
		return nil
	}
}

// WithRateLimitHeaders adds X-RateLimit-Limit/Remaining/Reset and
// RateLimit-Limit/Remaining/Reset to every rate-limited /api response (the
// reference sends none). Remaining counts the slots left after this
// request; Reset is the number of seconds, rounded up, until the oldest
// request in the client's window leaves it and a slot frees.
func WithRateLimitHeaders() Option {
	return func(c *config) error {
		c.rateHeaders = true
		return nil
	}
}
