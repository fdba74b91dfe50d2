package adplatformtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/adsync/adsync/adplatform"
)

// DefaultEmail and DefaultPassword are the account the fake accepts unless
// Options.Email and Options.Password say otherwise. They are the reference
// platform's published test credentials, not a secret: use them in tests
// and examples only.
const (
	DefaultEmail    = "admin@mixoads.com"
	DefaultPassword = "SuperSecret123!"
)

// The reference platform's numbers, the defaults of [Options].
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

// Options configure the fake. As with every Options of this module, the
// zero value is the default: here, the reference platform; every field
// documents its own. A knob whose zero means "the default" is turned off
// with -1, as River's Config does: SyncLatency -1 for instant syncs,
// RateLimit -1 for no limit, FailEveryNthList -1 for never, Campaigns -1
// for none. [New] rejects a nonsense value with an error naming the field.
type Options struct {
	// Email and Password are the only account the token endpoint accepts
	// (defaults [DefaultEmail] and [DefaultPassword], each on its own). The
	// email cannot hold ':', which Basic authentication cannot carry.
	Email, Password string

	// Campaigns is the number of generated campaigns (default 100; -1:
	// none), generated as the reference does: ids campaign_1..campaign_n,
	// names "Campaign k", status "active", budget 1000+100k, created_at k
	// days before the fake started, and impressions, clicks and
	// conversions drawn afresh on every listing.
	Campaigns int
	// CampaignList, when not nil, is served instead of generated
	// campaigns, exactly, in this order: their counts do not change
	// between listings. Ids must be unique, non-empty and valid UTF-8
	// (JSON cannot carry anything else); they may hold any character, '/',
	// '?', '#', '%' and spaces included. An empty, non-nil list serves no
	// campaigns. The slice is copied; Campaigns must then be 0.
	CampaignList []adplatform.Campaign
	// RawRecords replace listed records by raw JSON, keyed by 0-based
	// position across pages (page p, position i of limit L is
	// (p-1)*L+i), which must be a real campaign's. The JSON must be valid
	// but need not be a valid campaign: a record with a missing field, a
	// string count or a null id tests how a client survives one bad
	// record. If a record is an object with a string "id", the sync
	// endpoint knows that id too. The map and its values are copied.
	RawRecords map[int]json.RawMessage

	// RateLimit is the number of /api requests accepted per client id in
	// any rolling RateWindow (default 10 per 60 s; RateLimit -1: no limit,
	// RateWindow still being the window Stats.MaxAcceptedInWindow measures
	// with).
	RateLimit  int
	RateWindow time.Duration
	// RetryAfter says how a 429 tells the client when to retry (default
	// [RetryAfterNone], as the reference).
	RetryAfter RetryAfterMode
	// RateLimitHeaders adds X-RateLimit-Limit/Remaining/Reset and
	// RateLimit-Limit/Remaining/Reset to every rate-limited /api response
	// (the reference sends none). Remaining counts the slots left after
	// this request; Reset is the number of seconds, rounded up, until the
	// oldest request in the client's window leaves it and a slot frees.
	RateLimitHeaders bool

	// SyncLatency is how long a sync call takes before it answers 200
	// (default 2 s; -1: at once). AuthLatency delays every token response
	// and ListLatency every successful listing (default 0).
	SyncLatency time.Duration
	AuthLatency time.Duration
	ListLatency time.Duration
	// TokenTTL is how long tokens live after the latest issue (default
	// 3600 s). A TTL that is not a whole number of seconds is sent in
	// expires_in as a fractional number (0.3 for 300 ms).
	TokenTTL time.Duration

	// FailEveryNthList makes every nth authenticated list request answer
	// 503 (default 5, as the reference; -1: never).
	FailEveryNthList int
	// Faults inject random failures (default none).
	Faults Faults
	// SyncErrors makes every sync of a campaign id answer a status
	// (400–599) at once, with the platform's JSON error body, whether or
	// not the campaign exists. The map is copied.
	SyncErrors map[string]int

	// HonestPagination makes listings honest: has_more is page*limit <
	// total and no synthetic campaigns pad pages past the end. The default
	// is the reference's quirk.
	HonestPagination bool
	// PageSizeCap serves at most this many campaigns per page: a request
	// asking for more gets that many, and pagination.limit says so.
	// Default 0: no cap (limits up to 10000 are honoured, larger ones are
	// a 400).
	PageSizeCap int
}

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

// config is Options validated, with the defaults applied and every knob
// resolved: 0 means off (no limit, instant, never, none).
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

// total is the number of real campaigns.
func (c *config) total() int {
	if c.list != nil {
		return len(c.list)
	}
	return c.campaigns
}

// fieldError names the bad field.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("adplatformtest: Options.%s: %s", field, fmt.Sprintf(format, args...))
}

// orOff resolves a knob whose zero is def and whose -1 is off (0).
func orOff[T int | time.Duration](field string, v, def T) (T, error) {
	switch {
	case v == 0:
		return def, nil
	case v == -1:
		return 0, nil
	case v < 0:
		return 0, fieldError(field, "must not be negative but -1 (off), got %v", v)
	}
	return v, nil
}

func newConfig(o Options) (config, error) {
	c := config{
		email:       cmp.Or(o.Email, DefaultEmail),
		password:    cmp.Or(o.Password, DefaultPassword),
		retry:       o.RetryAfter,
		rateHeaders: o.RateLimitHeaders,
		honest:      o.HonestPagination,
	}
	if strings.Contains(c.email, ":") {
		// Basic authentication cannot carry a colon in the user part.
		return c, fieldError("Email", "must not contain ':'")
	}
	var err error
	if c.campaigns, err = orOff("Campaigns", o.Campaigns, DefaultCampaigns); err != nil {
		return c, err
	}
	if o.CampaignList != nil {
		if o.Campaigns != 0 {
			return c, fieldError("Campaigns", "must be 0 with a CampaignList, got %d", o.Campaigns)
		}
		if c.list, err = campaignList(o.CampaignList); err != nil {
			return c, err
		}
	}
	c.raw = make(map[int]json.RawMessage, len(o.RawRecords))
	for i, raw := range o.RawRecords {
		switch {
		case i < 0 || i >= c.total():
			return c, fieldError("RawRecords", "index %d is not a campaign's (%d campaigns)", i, c.total())
		case !json.Valid(raw):
			return c, fieldError("RawRecords", "record %d is not valid JSON", i)
		}
		c.raw[i] = slices.Clone(raw)
	}

	if c.rateLimit, err = orOff("RateLimit", o.RateLimit, DefaultRateLimit); err != nil {
		return c, err
	}
	if o.RateWindow < 0 {
		return c, fieldError("RateWindow", "must not be negative, got %s", o.RateWindow)
	}
	c.rateWindow = cmp.Or(o.RateWindow, DefaultRateWindow)
	switch o.RetryAfter {
	case RetryAfterNone, RetryAfterSeconds, RetryAfterHTTPDate:
	default:
		return c, fieldError("RetryAfter", "unknown mode %d", o.RetryAfter)
	}

	if c.syncLatency, err = orOff("SyncLatency", o.SyncLatency, DefaultSyncLatency); err != nil {
		return c, err
	}
	for _, l := range []struct {
		name string
		v    time.Duration
	}{{"AuthLatency", o.AuthLatency}, {"ListLatency", o.ListLatency}, {"TokenTTL", o.TokenTTL}} {
		if l.v < 0 {
			return c, fieldError(l.name, "must not be negative, got %s", l.v)
		}
	}
	c.authLatency, c.listLatency = o.AuthLatency, o.ListLatency
	c.tokenTTL = cmp.Or(o.TokenTTL, DefaultTokenTTL)

	if c.failEveryNthList, err = orOff("FailEveryNthList", o.FailEveryNthList, DefaultFailEveryNthList); err != nil {
		return c, err
	}
	if err := o.Faults.validate(); err != nil {
		return c, err
	}
	c.faults = o.Faults
	c.faults.Endpoints = slices.Clone(o.Faults.Endpoints)
	c.endpoints = map[adplatform.Endpoint]bool{}
	eps := c.faults.Endpoints
	if len(eps) == 0 {
		eps = []adplatform.Endpoint{adplatform.EndpointList, adplatform.EndpointSync}
	}
	for _, e := range eps {
		c.endpoints[e] = true
	}
	for id, status := range o.SyncErrors {
		if status < 400 || status > 599 {
			return c, fieldError("SyncErrors", "campaign %q: status must be in 400–599, got %d", id, status)
		}
	}
	c.syncErr = maps.Clone(o.SyncErrors)

	if o.PageSizeCap < 0 {
		return c, fieldError("PageSizeCap", "must not be negative, got %d", o.PageSizeCap)
	}
	c.pageSizeCap = o.PageSizeCap
	return c, nil
}

// campaignList checks and copies Options.CampaignList.
func campaignList(campaigns []adplatform.Campaign) ([]adplatform.Campaign, error) {
	seen := make(map[string]int, len(campaigns))
	for i, cp := range campaigns {
		switch {
		case cp.ID == "":
			return nil, fieldError("CampaignList", "campaign %d: empty id", i)
		case !utf8.ValidString(cp.ID):
			return nil, fieldError("CampaignList", "campaign %d: id is not valid UTF-8", i)
		}
		if j, dup := seen[cp.ID]; dup {
			return nil, fieldError("CampaignList", "campaigns %d and %d have the same id %q", j, i, cp.ID)
		}
		seen[cp.ID] = i
		if _, err := json.Marshal(cp); err != nil {
			return nil, fieldError("CampaignList", "campaign %d: %v", i, err)
		}
	}
	return append(make([]adplatform.Campaign, 0, len(campaigns)), campaigns...), nil
}

// validate checks the probabilities and the endpoints.
func (f Faults) validate() error {
	sum := 0.0
	for _, p := range []struct {
		name string
		v    float64
	}{{"Unavailable", f.Unavailable}, {"Hang", f.Hang}, {"Reset", f.Reset}, {"BadGateway", f.BadGateway}, {"Malformed", f.Malformed}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			return fieldError("Faults."+p.name, "must be a probability in [0, 1], got %v", p.v)
		}
		sum += p.v
	}
	if sum > 1+1e-9 {
		return fieldError("Faults", "the probabilities add up to %v, more than 1", sum)
	}
	for _, e := range f.Endpoints {
		switch e {
		case adplatform.EndpointList, adplatform.EndpointSync, adplatform.EndpointAuth:
		default:
			return fieldError("Faults.Endpoints", "unknown endpoint %q", e)
		}
	}
	return nil
}
