package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// execution is one Run or RetryFailed pass. Its goroutines:
//
//	source ──jobs──▶ workers (Options.Concurrency) ──results──▶ writer
//	   └───────────── undecodable records ──results──────────────┘
//
// The source (listing, or dead letters) stops at once when the run stops;
// workers stop taking jobs, and calls on the wire get the grace period; the
// writer (the calling goroutine) drains results until every sender is done,
// batching store writes, so a slow store pushes back through the bounded
// channels instead of growing memory.
type execution struct {
	s        *Syncer
	run      store.Run
	lease    store.Lease
	started  time.Time
	retrying bool
	log      *slog.Logger
	client   clientStats

	// stopRun stops the run with a cause: a fatal error.
	stopRun context.CancelCauseFunc

	// Counted by the source goroutine; read after it finished.
	seen, skipped int
}

// job is a campaign to sync, as it was listed.
type job struct {
	c adplatform.Campaign
	// raw is the record as the platform listed it: a dead letter keeps it.
	raw json.RawMessage
	// listedAt is when the platform listed it: stored content listed
	// later is never replaced by it.
	listedAt time.Time
}

// result is what the writer records of one listed record.
type result struct {
	// key is the campaign's id; for a record without a usable one, a key
	// derived from its bytes.
	key string
	// row is the row to write (with its SyncedAt when the sync
	// succeeded); zero for a record that cannot be stored.
	row store.Campaign
	// raw is the record as listed: a failure's dead letter keeps it.
	raw json.RawMessage
	// err is why the campaign failed; nil when it synced, and for a copy.
	err error
	// copy marks a later copy of a campaign in the listing (a
	// Record.Duplicate): its content is written, it is not synced again.
	copy bool
	// retire, when set, is why key's dead letter is retired: that is all
	// the result does.
	retire string
	// abandoned is set for a call cut short by shutdown: nothing to record,
	// the next run syncs it.
	abandoned bool
}

func (s *Syncer) newExecution(run store.Run, lease store.Lease, started time.Time) *execution {
	e := &execution{s: s, run: run, lease: lease, started: started}
	e.log = s.log.With("run_id", run.ID, "account", s.opts.AccountID)
	e.client.e = e
	return e
}

// execute runs source through the pipeline and returns the report.
func (e *execution) execute(parent context.Context, source func(context.Context, emitter) error) (Report, error) {
	s := e.s
	s.progress.reset(e.run.ID, e.started)
	defer s.progress.running.Store(false)
	s.obs.RunStarted(RunInfo{RunID: e.run.ID, AccountID: s.opts.AccountID, Resumed: e.run.Resumed, Retry: e.retrying, StartedAt: e.run.StartedAt})
	e.log.Info("run started", "resumed", e.run.Resumed, "retry_failed", e.retrying)
	if e.run.Note != "" {
		e.log.Warn("an unfinished run was not resumed", "note", e.run.Note)
	}

	runCtx, stopRun := context.WithCancelCause(parent)
	defer stopRun(nil)
	e.stopRun = stopRun
	runCtx = adplatform.WithObserver(runCtx, &e.client)

	// Calls on the wire may outlive the run by the grace period, and the
	// writer may take as long again to store what they brought back.
	detached := context.WithoutCancel(parent)
	callCtx, cancelCalls := context.WithCancel(adplatform.WithObserver(detached, &e.client))
	defer cancelCalls()
	writeCtx, cancelWrites := context.WithCancel(detached)
	defer cancelWrites()
	grace := s.opts.GracePeriod
	defer context.AfterFunc(runCtx, func() {
		time.AfterFunc(grace, cancelCalls)
		time.AfterFunc(2*grace, cancelWrites)
	})()

	jobs := make(chan job)
	results := make(chan result, 2*s.opts.BatchSize)
	var senders sync.WaitGroup
	var sourceErr error
	senders.Go(func() {
		defer close(jobs)
		sourceErr = source(runCtx, emitter{jobs: jobs, results: results})
	})
	for range s.opts.Concurrency {
		senders.Go(func() {
			for j := range jobs {
				if runCtx.Err() != nil {
					continue // stopping: do not start new calls
				}
				results <- e.syncOne(runCtx, callCtx, j)
			}
		})
	}
	go func() {
		senders.Wait()
		close(results)
	}()

	w := newWriter(e)
	w.consume(writeCtx, results)

	// Every goroutine but the writer's has finished: decide how the run
	// ended, and record it with what is left to store.
	fatal := context.Cause(runCtx)
	if fatal != nil && errors.Is(fatal, context.Canceled) && parent.Err() != nil {
		fatal = nil // the caller cancelled: a graceful stop, not a failure
	}
	if fatal == nil && sourceErr != nil {
		fatal = sourceErr
	}
	stopped := parent.Err() != nil || fatal != nil
	status, reason := store.RunCompleted, ""
	if stopped {
		status = store.RunInterrupted
		if fatal != nil {
			reason = fatal.Error()
		} else {
			reason = "interrupted: " + context.Cause(parent).Error()
		}
	}
	if err := w.finish(writeCtx, store.RunFinish{Status: status, Error: reason}); err != nil && fatal == nil {
		fatal = fmt.Errorf("syncer: record the end of the run: %w", err)
	}

	rep := w.report
	rep.RunID, rep.AccountID, rep.Resumed, rep.Retry, rep.Note = e.run.ID, s.opts.AccountID, e.run.Resumed, e.retrying, e.run.Note
	rep.Seen, rep.Skipped = e.seen, e.skipped
	rep.StartedAt, rep.Duration = e.started, time.Since(e.started)
	rep.Interrupted = stopped || fatal != nil
	e.client.fill(&rep)

	e.log.Info("run finished", "status", status, "seen", rep.Seen, "synced", rep.Synced, "skipped", rep.Skipped,
		"failed", rep.Failed, "pending", rep.Pending(), "duration", rep.Duration, "http_requests", rep.HTTPRequests,
		"http_429", rep.HTTP429, "retries", rep.Retries)
	if fatal != nil {
		e.log.Error("run stopped", "err", fatal)
	}
	s.obs.RunFinished(rep)
	return rep, fatal
}

// syncOne makes one campaign's sync call.
func (e *execution) syncOne(runCtx, callCtx context.Context, j job) result {
	progress := &e.s.progress
	progress.inFlight.Add(1)
	defer progress.inFlight.Add(-1)

	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	watch := &callWatch{cancel: cancel}
	defer context.AfterFunc(runCtx, watch.stop)()
	_, err := e.s.platform.SyncCampaign(adplatform.WithObserver(ctx, watch), j.c.ID)

	res := result{key: j.c.ID, row: toStore(j.c, j.listedAt, time.Time{}), raw: j.raw}
	var authErr *adplatform.AuthError
	var limitErr *adplatform.RateLimitError
	switch {
	case err == nil:
		res.row.SyncedAt = time.Now()
	case ctx.Err() != nil && runCtx.Err() != nil:
		res.abandoned = true
	case errors.As(err, &authErr), errors.As(err, &limitErr):
		// Not the campaign's fault, and every other call would meet the
		// same: stop the run; the next one resumes.
		e.stopRun(err)
		res.abandoned = true
	default:
		res.err = err
	}
	return res
}

// callWatch lets a sync call that is on the wire finish when the run
// stops, while cancelling at once a call that is only waiting (for a
// rate-limit slot, a token, or a backoff), so that no new request is sent
// after the run stops. It learns which from the client's events.
type callWatch struct {
	adplatform.NopObserver
	cancel context.CancelFunc

	mu       sync.Mutex
	onWire   bool
	stopping bool
}

func (w *callWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopping = true
	if !w.onWire {
		w.cancel()
	}
}

func (w *callWatch) RequestStarted(adplatform.RequestInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		w.cancel() // a new attempt after the run stopped: do not send it
		return
	}
	w.onWire = true
}

func (w *callWatch) RequestDone(i adplatform.RequestInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onWire = false
	// A 2xx still has its body to read; anything else would lead to a
	// retry, which must not happen once stopping.
	if w.stopping && (i.Status < 200 || i.Status > 299) {
		w.cancel()
	}
}

// letterKey is the key of a record's dead letter: the campaign's id, or
// for a record without one that a store can keep (none, or not valid
// text), a key derived from its bytes.
func letterKey(id string, raw []byte) string {
	if id != "" && store.ValidateText(id) == nil {
		return id
	}
	sum := sha256.Sum256(raw)
	return "undecodable:" + hex.EncodeToString(sum[:16])
}

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
