package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/ratelimit"
)

// config is the fake's behaviour as the flags describe it, validated.
type config struct {
	addr             string
	campaigns        int
	rate             ratelimit.Rate
	syncLatency      time.Duration
	tokenTTL         time.Duration
	failEveryNthList int
	faults           adplatformtest.Faults
	honest           bool
	retryAfter       retryAfterFlag
	rateHeaders      bool
	syncErrors       syncErrorsFlag
	outageAfter      time.Duration
	outageFor        time.Duration
	outage           outageFlag
	statsInterval    time.Duration
}

const usageHeader = `Usage: fakeplatform [flags]

Serves adsync's fake ad platform (adplatform/adplatformtest) over HTTP, with
the reference platform's behaviour by default: 100 campaigns, at most 10
requests per rolling minute per X-Client-ID, a 2 s sync call, a 503 on every
5th list call, and the reference's pagination quirk. Every number is a flag.
It accepts the fake's public test credentials, printed at start.

Stop it with Ctrl-C (SIGINT) or SIGTERM.

Flags:
`

// parseConfig reads the flags. -h prints the usage on stderr and returns
// flag.ErrHelp; any other error names the flag.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	c := config{
		rate:   ratelimit.Rate{N: adplatformtest.DefaultRateLimit, Window: adplatformtest.DefaultRateWindow},
		outage: outageFlag{Status: http.StatusServiceUnavailable},
	}
	fs := flag.NewFlagSet("fakeplatform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`address` to listen on (port 0: any free port)")
	fs.IntVar(&c.campaigns, "campaigns", adplatformtest.DefaultCampaigns, "number of campaigns, campaign_1..campaign_`N`")
	fs.Var(&c.rate, "rate", "rate limit per X-Client-ID: `N/DURATION` accepted requests in any rolling window")
	fs.DurationVar(&c.syncLatency, "sync-latency", adplatformtest.DefaultSyncLatency, "how long a sync call takes")
	fs.DurationVar(&c.tokenTTL, "token-ttl", adplatformtest.DefaultTokenTTL, "how long a token lives after the latest issue")
	fs.IntVar(&c.failEveryNthList, "fail-every-nth-list", adplatformtest.DefaultFailEveryNthList, "answer 503 to every `N`th list call (0: never)")
	fs.Float64Var(&c.faults.Unavailable, "fault-503", 0, "`probability` of a random 503 on a list or sync call")
	fs.Float64Var(&c.faults.Hang, "fault-hang", 0, "`probability` that a list or sync call never answers")
	fs.Float64Var(&c.faults.Reset, "fault-reset", 0, "`probability` that a list or sync call's connection is reset")
	fs.Float64Var(&c.faults.BadGateway, "fault-502", 0, "`probability` of a 502 with an HTML body on a list or sync call")
	fs.Float64Var(&c.faults.Malformed, "fault-malformed", 0, "`probability` that a list or sync call's 200 body is cut in half")
	fs.Uint64Var(&c.faults.Seed, "seed", 0, "`N`, the seed of the random faults: the same seed and requests give the same faults")
	fs.BoolVar(&c.honest, "honest-pagination", false, "honest has_more, and no synthetic campaigns past the end (default: the reference's quirk)")
	fs.Var(&c.retryAfter, "retry-after", "how a 429 says when to retry: `none|seconds|date` (none: only the body's retry_after, as the reference)")
	fs.BoolVar(&c.rateHeaders, "ratelimit-headers", false, "send X-RateLimit-* and RateLimit-* headers (the reference sends none)")
	fs.Var(&c.syncErrors, "sync-error", "`ID=STATUS`: every sync of campaign ID answers STATUS (400-599); repeatable")
	fs.DurationVar(&c.outageAfter, "outage-after", 0, "start an outage this long after starting (0: none): every /auth and /api request fails, as -outage-answer says")
	fs.DurationVar(&c.outageFor, "outage-for", 20*time.Second, "how long the outage lasts")
	fs.Var(&c.outage, "outage-answer", "what the outage answers: an HTTP `STATUS` from 400 to 599, or reset (every connection reset)")
	fs.DurationVar(&c.statsInterval, "stats-interval", 5*time.Second, "how often to print what the fake saw on stderr, when it changed (0: never)")
	if err := fs.Parse(args); err != nil {
		return c, err // the flag package has printed the problem and the usage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags only; -h for help)", fs.Arg(0))
	}
	return c, c.validate()
}

// validate checks each flag's range, so that the error names the flag;
// adplatformtest.New checks the rest (faults adding up to more than 1).
func (c config) validate() error {
	switch {
	case c.campaigns < 0:
		return fmt.Errorf("-campaigns: must not be negative, got %d", c.campaigns)
	case c.syncLatency < 0:
		return fmt.Errorf("-sync-latency: must not be negative, got %s", c.syncLatency)
	case c.tokenTTL <= 0:
		return fmt.Errorf("-token-ttl: must be positive, got %s", c.tokenTTL)
	case c.failEveryNthList < 0:
		return fmt.Errorf("-fail-every-nth-list: must not be negative, got %d", c.failEveryNthList)
	case c.statsInterval < 0:
		return fmt.Errorf("-stats-interval: must not be negative, got %s", c.statsInterval)
	case c.outageAfter < 0:
		return fmt.Errorf("-outage-after: must not be negative, got %s", c.outageAfter)
	case c.outageAfter > 0 && c.outageFor <= 0:
		return fmt.Errorf("-outage-for: must be positive, got %s", c.outageFor)
	}
	for _, p := range []struct {
		flag string
		v    float64
	}{
		{"fault-503", c.faults.Unavailable}, {"fault-hang", c.faults.Hang}, {"fault-reset", c.faults.Reset},
		{"fault-502", c.faults.BadGateway}, {"fault-malformed", c.faults.Malformed},
	} {
		if !(p.v >= 0 && p.v <= 1) { // also refuses NaN
			return fmt.Errorf("-%s: must be a probability between 0 and 1, got %v", p.flag, p.v)
		}
	}
	return nil
}

// options turns the configuration into the fake's options. A flag's 0
// ("none", "at once", "never") is the Options' -1, their zero being the
// reference's number.
func (c config) options() adplatformtest.Options {
	o := adplatformtest.Options{
		Campaigns:        offIfZero(c.campaigns),
		RateLimit:        c.rate.N,
		RateWindow:       c.rate.Window,
		SyncLatency:      offIfZero(c.syncLatency),
		TokenTTL:         c.tokenTTL,
		FailEveryNthList: offIfZero(c.failEveryNthList),
		Faults:           c.faults,
		RetryAfter:       c.retryAfter.mode,
		HonestPagination: c.honest,
		RateLimitHeaders: c.rateHeaders,
	}
	if len(c.syncErrors) > 0 {
		o.SyncErrors = make(map[string]int, len(c.syncErrors))
		for _, e := range c.syncErrors {
			o.SyncErrors[e.id] = e.status
		}
	}
	return o
}

func offIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// retryAfterFlag is -retry-after: none, seconds or date.
type retryAfterFlag struct{ mode adplatformtest.RetryAfterMode }

var retryAfterModes = []struct {
	name string
	mode adplatformtest.RetryAfterMode
}{
	{"none", adplatformtest.RetryAfterNone},
	{"seconds", adplatformtest.RetryAfterSeconds},
	{"date", adplatformtest.RetryAfterHTTPDate},
}

func (f *retryAfterFlag) String() string {
	for _, m := range retryAfterModes {
		if m.mode == f.mode {
			return m.name
		}
	}
	return strconv.Itoa(int(f.mode))
}

func (f *retryAfterFlag) Set(s string) error {
	for _, m := range retryAfterModes {
		if m.name == s {
			f.mode = m.mode
			return nil
		}
	}
	return errors.New("want none, seconds or date")
}

// syncErrorsFlag is -sync-error ID=STATUS, repeatable.
type syncErrorsFlag []syncError

type syncError struct {
	id     string
	status int
}

func (f *syncErrorsFlag) String() string {
	parts := make([]string, len(*f))
	for i, e := range *f {
		parts[i] = fmt.Sprintf("%s=%d", e.id, e.status)
	}
	return strings.Join(parts, ",")
}

func (f *syncErrorsFlag) Set(s string) error {
	// The status is after the last '=': an id may hold '=' itself.
	i := strings.LastIndexByte(s, '=')
	if i <= 0 {
		return errors.New("want ID=STATUS, e.g. campaign_7=500")
	}
	status, err := strconv.Atoi(s[i+1:])
	if err != nil || status < 400 || status > 599 {
		return fmt.Errorf("STATUS must be an HTTP status from 400 to 599, got %q", s[i+1:])
	}
	*f = append(*f, syncError{id: s[:i], status: status})
	return nil
}

// outageFlag is -outage-answer: a status, or reset.
type outageFlag adplatformtest.Outage

func (f *outageFlag) String() string {
	if f.Reset {
		return "reset"
	}
	return strconv.Itoa(f.Status)
}

func (f *outageFlag) Set(s string) error {
	if s == "reset" {
		*f = outageFlag{Reset: true}
		return nil
	}
	status, err := strconv.Atoi(s)
	if err != nil || status < 400 || status > 599 {
		return errors.New("want an HTTP status from 400 to 599, or reset")
	}
	*f = outageFlag{Status: status}
	return nil
}
