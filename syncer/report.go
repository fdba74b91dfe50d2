package syncer

import (
	"encoding/json"
	"sync/atomic"
	"time"
)

// Report is what a run did.
type Report struct {
	RunID     string
	AccountID string
	// Resumed is set when the run resumed an unfinished one.
	Resumed bool
	// Retry is set for a report of [Syncer.RetryFailed].
	Retry bool
	// Note says what the run did that the caller should know of: the
	// account's unfinished run was not resumed, and why (too old, see
	// Options.MaxResumeAge, or Options.Fresh). It is logged too.
	Note string

	// Seen counts the campaigns listed (or, for RetryFailed, the dead
	// letters considered), undecodable records included.
	Seen int
	// Synced counts the campaigns synced on the platform and stored.
	Synced int
	// Skipped counts the campaigns not synced because a resumed run had
	// already synced them, or because they synced recently enough
	// (Options.SkipSyncedWithin).
	Skipped int
	// Failed counts the campaigns that failed: the sync call failed after
	// its retries, the record could not be decoded, or the store rejected
	// it. Each is a dead letter when the store keeps them.
	Failed int
	// Failures lists the failures, up to Options.MaxReportedFailures.
	Failures []Failure
	// Retired counts the dead letters the run gave up on: those whose
	// campaign a complete listing no longer has, and those that failed
	// Options.MaxAttempts times. They are kept, with the reason.
	Retired int

	// Interrupted is set when the run stopped before finishing: its
	// context was cancelled or Run returned an error. The campaigns it did
	// not reach are synced by the next run, which resumes it.
	Interrupted bool

	StartedAt time.Time
	Duration  time.Duration

	// The platform client's counters for this run's calls.
	HTTPRequests   int64 // attempts sent: token requests and retries included
	HTTP429        int64 // 429 responses received
	Retries        int64 // attempts retried
	TokenRefreshes int64 // bearer tokens obtained
	// RateLimitWait is the total time calls waited for a rate-limit slot
	// (summed over concurrent calls).
	RateLimitWait time.Duration
}

// Pending counts the campaigns seen that were neither synced, skipped nor
// failed: those an interrupted run did not finish.
func (r Report) Pending() int { return r.Seen - r.Synced - r.Skipped - r.Failed }

// Failure is one campaign that failed, and why.
type Failure struct {
	// CampaignID is the campaign's id, or for a record without a usable id
	// a key derived from its content.
	CampaignID string
	// Err is the error: an *adplatform.APIError, *adplatform.RecordError,
	// *store.RecordError, ...
	Err error
}

// MarshalJSON encodes the report in the stable shape the example binary
// prints with -json: run_id, account_id, resumed, seen, synced, skipped,
// failed, failures [{id, error}], interrupted, http_requests, http_429,
// retries, token_refreshes, duration_ms.
func (r Report) MarshalJSON() ([]byte, error) {
	type failure struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	failures := make([]failure, len(r.Failures))
	for i, f := range r.Failures {
		failures[i] = failure{ID: f.CampaignID, Error: f.Err.Error()}
	}
	return json.Marshal(struct {
		RunID          string    `json:"run_id"`
		AccountID      string    `json:"account_id"`
		Resumed        bool      `json:"resumed"`
		Seen           int       `json:"seen"`
		Synced         int       `json:"synced"`
		Skipped        int       `json:"skipped"`
		Failed         int       `json:"failed"`
		Failures       []failure `json:"failures"`
		Interrupted    bool      `json:"interrupted"`
		HTTPRequests   int64     `json:"http_requests"`
		HTTP429        int64     `json:"http_429"`
		Retries        int64     `json:"retries"`
		TokenRefreshes int64     `json:"token_refreshes"`
		DurationMS     int64     `json:"duration_ms"`
	}{
		r.RunID, r.AccountID, r.Resumed, r.Seen, r.Synced, r.Skipped, r.Failed, failures,
		r.Interrupted, r.HTTPRequests, r.HTTP429, r.Retries, r.TokenRefreshes, r.Duration.Milliseconds(),
	})
}

// Progress is a snapshot of a run's counts while it runs.
type Progress struct {
	RunID string
	// Running is false once the run has returned.
	Running bool
	// Total is the number of campaigns the platform says the account has,
	// 0 until the first page arrives (and for RetryFailed).
	Total                         int
	Seen, Synced, Skipped, Failed int
	InFlight                      int
	StartedAt                     time.Time
}

// progressCounters is the live, lock-free side of Progress.
type progressCounters struct {
	runID    atomic.Pointer[string]
	started  atomic.Int64 // unix nanos
	running  atomic.Bool
	total    atomic.Int64
	seen     atomic.Int64
	synced   atomic.Int64
	skipped  atomic.Int64
	failed   atomic.Int64
	inFlight atomic.Int64
}

func (p *progressCounters) reset(runID string, started time.Time) {
	p.runID.Store(&runID)
	p.started.Store(started.UnixNano())
	for _, c := range []*atomic.Int64{&p.total, &p.seen, &p.synced, &p.skipped, &p.failed, &p.inFlight} {
		c.Store(0)
	}
	p.running.Store(true)
}

func (p *progressCounters) snapshot() Progress {
	var pr Progress
	if id := p.runID.Load(); id != nil {
		pr.RunID = *id
		pr.StartedAt = time.Unix(0, p.started.Load())
	}
	pr.Running = p.running.Load()
	pr.Total = int(p.total.Load())
	pr.Seen = int(p.seen.Load())
	pr.Synced = int(p.synced.Load())
	pr.Skipped = int(p.skipped.Load())
	pr.Failed = int(p.failed.Load())
	pr.InFlight = int(p.inFlight.Load())
	return pr
}
