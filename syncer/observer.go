package syncer

import (
	"sync/atomic"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// Observer receives a run's events, so that a service can feed Prometheus,
// OpenTelemetry or a progress display without adsync depending on any of
// them. Methods are called synchronously from the run's goroutines and must
// be quick and safe for concurrent use.
//
// Embed [NopObserver] to implement only the events you need.
type Observer interface {
	// RunStarted is called when a run (or a RetryFailed pass) starts.
	RunStarted(RunInfo)
	// PageListed is called for every page of campaigns listed.
	PageListed(adplatform.PageInfo)
	// CampaignSynced is called when a campaign was synced and stored.
	CampaignSynced(id string)
	// CampaignSkipped is called for a campaign not synced because it had
	// synced already (resume, or Options.SkipSyncedWithin).
	CampaignSkipped(id string)
	// CampaignFailed is called when a campaign failed, with the reason.
	CampaignFailed(id string, err error)
	// RateLimitWait is called when a call waited for a rate-limit slot.
	RateLimitWait(wait time.Duration)
	// RunFinished is called with the final report.
	RunFinished(Report)
}

// PlatformObserverProvider is implemented by an [Observer] that also
// observes the platform calls of each run: when Options.Observer has this
// method, the syncer calls it once per run, right after RunStarted, and
// attaches what it returns (nil: nothing) to every platform call of that
// run, listing and syncs, through adplatform.WithObserver. Its events
// (each attempt started and done, retries, rate-limit waits, token
// refreshes) are then known to belong to that run: a tracing adapter
// makes each call's span a child of the run's span, a metrics adapter
// labels them with the account. The client's own Options.Observer still
// gets every event.
type PlatformObserverProvider interface {
	PlatformObserver(RunInfo) adplatform.Observer
}

// RunInfo describes a run that starts.
type RunInfo struct {
	RunID     string
	AccountID string
	// Resumed is set when the run resumes an unfinished one.
	Resumed bool
	// Retry is set for a RetryFailed pass.
	Retry     bool
	StartedAt time.Time
}

// NopObserver implements [Observer] with methods that do nothing. Embed it
// in your own observer.
type NopObserver struct{}

// RunStarted does nothing.
func (NopObserver) RunStarted(RunInfo) {}

// PageListed does nothing.
func (NopObserver) PageListed(adplatform.PageInfo) {}

// CampaignSynced does nothing.
func (NopObserver) CampaignSynced(string) {}

// CampaignSkipped does nothing.
func (NopObserver) CampaignSkipped(string) {}

// CampaignFailed does nothing.
func (NopObserver) CampaignFailed(string, error) {}

// RateLimitWait does nothing.
func (NopObserver) RateLimitWait(time.Duration) {}

// RunFinished does nothing.
func (NopObserver) RunFinished(Report) {}

// clientStats counts the platform client's events for one run, and passes
// on those the run's observer and progress want.
type clientStats struct {
	e                                   *execution
	requests, http429, retries, refresh atomic.Int64
	waited                              atomic.Int64
}

func (c *clientStats) RequestStarted(adplatform.RequestInfo) {}

func (c *clientStats) RequestDone(i adplatform.RequestInfo) {
	c.requests.Add(1)
	if i.Status == 429 {
		c.http429.Add(1)
	}
}

func (c *clientStats) Retrying(adplatform.RetryInfo) { c.retries.Add(1) }

func (c *clientStats) TokenRefreshed() { c.refresh.Add(1) }

func (c *clientStats) RateLimitWait(_ adplatform.Endpoint, d time.Duration) {
	c.waited.Add(int64(d))
	c.e.s.obs.RateLimitWait(d)
}

func (c *clientStats) PageListed(adplatform.PageInfo) {}

func (c *clientStats) fill(r *Report) {
	r.HTTPRequests = c.requests.Load()
	r.HTTP429 = c.http429.Load()
	r.Retries = c.retries.Load()
	r.TokenRefreshes = c.refresh.Load()
	r.RateLimitWait = time.Duration(c.waited.Load())
}
