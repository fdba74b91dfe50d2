package adplatformtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// window is one client's sliding log: the times of its accepted requests
// still inside the rolling window, oldest first. Rejected requests are not
// logged, so they do not count, as on the reference.
type window struct {
	accepted []time.Time
	// peak is the most accepted requests ever inside one window: what a
	// test compares with the limit to prove a client never exceeded it
	// (meaningful when the fake's own limit is off or different).
	peak int
}

// limitInfo is the limiter's verdict, for 429 bodies and rate-limit
// headers.
type limitInfo struct {
	limit     int           // 0 when the limit is off
	remaining int           // slots left after this request
	reset     time.Duration // until the oldest request in the window leaves it
}

// admit applies the rolling window to one request of client id and reports
// whether it is accepted.
func (p *Platform) admit(id string) (limitInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Read the clock under the lock, so that the log stays in time order.
	now := time.Now()
	w := p.windows[id]
	if w == nil {
		w = &window{}
		p.windows[id] = w
	}
	span := p.cfg.rateWindow
	// A request at time t is inside the window while now-t < span: a slot
	// frees exactly when the oldest accepted request is span old.
	i := 0
	for i < len(w.accepted) && now.Sub(w.accepted[i]) >= span {
		i++
	}
	w.accepted = w.accepted[i:]
	limit := p.cfg.rateLimit
	if limit > 0 && len(w.accepted) >= limit {
		return limitInfo{limit: limit, reset: w.accepted[0].Add(span).Sub(now)}, false
	}
	w.accepted = append(w.accepted, now)
	w.peak = max(w.peak, len(w.accepted))
	return limitInfo{
		limit:     limit,
		remaining: max(limit-len(w.accepted), 0),
		reset:     w.accepted[0].Add(span).Sub(now),
	}, true
}

// tooManyRequests is the reference's 429, plus the Retry-After header the
// configuration asks for.
func (p *Platform) tooManyRequests(lim limitInfo) response {
	per := "minute"
	if p.cfg.rateWindow != time.Minute {
		per = p.cfg.rateWindow.String()
	}
	resp := jsonResponse(http.StatusTooManyRequests, struct {
		Error      string      `json:"error"`
		Message    string      `json:"message"`
		RetryAfter json.Number `json:"retry_after"`
	}{
		"Rate limit exceeded",
		fmt.Sprintf("Too many requests. Limit: %d per %s", lim.limit, per),
		// The reference says the whole window, whatever the log holds.
		exactSeconds(p.cfg.rateWindow),
	})
	switch p.cfg.retry {
	case RetryAfterSeconds:
		resp.header.Set("Retry-After", strconv.FormatInt(ceilSeconds(lim.reset), 10))
	case RetryAfterHTTPDate:
		at := time.Now().Add(lim.reset)
		if whole := at.Truncate(time.Second); !whole.Equal(at) {
			at = whole.Add(time.Second)
		}
		resp.header.Set("Retry-After", at.UTC().Format(http.TimeFormat))
	}
	return resp
}

// rateLimitHeaders adds the X-RateLimit-* and RateLimit-* headers when
// configured. Reset is rounded up, so that a client waiting that long is
// never rejected.
func (p *Platform) rateLimitHeaders(resp *response, lim limitInfo) {
	if !p.cfg.rateHeaders || lim.limit == 0 {
		return
	}
	if resp.header == nil {
		resp.header = http.Header{}
	}
	limit, remaining := strconv.Itoa(lim.limit), strconv.Itoa(lim.remaining)
	reset := strconv.FormatInt(ceilSeconds(lim.reset), 10)
	for _, prefix := range []string{"X-RateLimit-", "RateLimit-"} {
		resp.header.Set(prefix+"Limit", limit)
		resp.header.Set(prefix+"Remaining", remaining)
		resp.header.Set(prefix+"Reset", reset)
	}
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
