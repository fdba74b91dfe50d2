package syncer

import (
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

	// Status says how the run ended; Err is why, when it did not complete:
	// the error Run returned (nil when the caller cancelled it).
	Status Status
	Err    error

	// Total is the number of campaigns the platform says the account has
	// (its listing's total), so that a run interrupted part way can say
	// how far it got; 0 when the platform did not say, and for
	// RetryFailed.
	Total int
	// Seen counts the campaigns listed (or, for RetryFailed, the dead
	// letters considered), records that cannot be decoded included, each
	// once: later copies of a campaign in the listing are not counted.
	Seen int
	// Synced counts the campaigns synced on the platform and stored.
	Synced int
	// Skipped counts the campaigns not synced because a resumed run had
	// already synced them, or because they synced recently enough
	// (Options.SkipSyncedWithin).
	Skipped int
	// Failed counts the campaigns that failed: the sync call failed for a
	// reason of the campaign's own, the record could not be decoded, or
	// the store refuses it. Each is a dead letter.
	Failed int
	// Failures lists the failures, up to Options.MaxReportedFailures.
	Failures []Failure
	// Retired counts the dead letters the run gave up on: those whose
	// campaign a complete listing no longer has, and those that failed
	// Options.MaxAttempts times. They are kept, with the reason.
	Retired int

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

// Status says how a run ended.
type Status string

// How a run ends.
const (
	// StatusCompleted: every campaign listed was synced or skipped.
	StatusCompleted Status = "completed"
	// StatusCompletedWithFailures: the run went through the whole
	// listing, and some campaigns failed (Report.Failures; each is a
	// dead letter).
	StatusCompletedWithFailures Status = "completed_with_failures"
	// StatusInterrupted: the run stopped before the end, for a reason
	// that passes (the caller cancelled it; the database, or the
	// platform, was unavailable; the platform asked to wait; the listing
	// broke part way). The next run resumes it.
	StatusInterrupted Status = "interrupted"
	// StatusFailed: the run could not do its job, and running again as it
	// is cannot help (the credentials were refused, the listing failed
	// for good, another holder has the account or took it): Report.Err
	// says why. The next run does not resume it.
	StatusFailed Status = "failed"
)

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
