package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// execution is one Run or RetryFailed pass. Its goroutines:
//
//	source ──jobs──▶ workers (Options.Concurrency) ──results──▶ writer
//	   └── what needs no call (refused records, copies, retirements) ──┘
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
	// limiter is the platform's, whose state each Commit hands over; nil
	// when it has none.
	limiter *adplatform.Limiter

	// stopRun stops the run with a cause: a fatal error.
	stopRun context.CancelCauseFunc

	// Counted by the source goroutine; read after it finished.
	total, seen, skipped int
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

func (s *Syncer) newExecution(run store.Run, lease store.Lease, started time.Time, retrying bool) *execution {
	e := &execution{s: s, run: run, lease: lease, started: started, retrying: retrying}
	if lp, ok := s.platform.(LimitedPlatform); ok {
		e.limiter = lp.Limiter()
	}
	e.log = s.log.With("run_id", run.ID, "account", s.opts.AccountID)
	e.client.e = e
	return e
}

// execute runs source through the pipeline and returns the report.
func (e *execution) execute(parent context.Context, source func(context.Context, emitter) error) (Report, error) {
	s := e.s
	s.progress.reset(e.run.ID, e.started)
	defer s.progress.running.Store(false)
	info := RunInfo{RunID: e.run.ID, AccountID: s.opts.AccountID, Resumed: e.run.Resumed, Retry: e.retrying, StartedAt: e.run.StartedAt}
	s.obs.RunStarted(info)
	e.log.Info("run started", "resumed", e.run.Resumed, "retry_failed", e.retrying)
	if e.run.Note != "" {
		e.log.Warn("an unfinished run was not resumed", "note", e.run.Note)
	}

	// runCtx is the run: it ends when the caller cancels or a fatal error
	// stops it. Once it ends, no new request is sent (it is the calls'
	// admission); calls already on the wire finish under graceCtx, which
	// ends GracePeriod later, and the writer stores what they brought back
	// under writeCtx, which ends GracePeriod after that.
	runCtx, stopRun := context.WithCancelCause(parent)
	defer stopRun(nil)
	e.stopRun = stopRun
	detached := context.WithoutCancel(parent)
	graceCtx, cancelGrace := context.WithCancel(detached)
	defer cancelGrace()
	writeCtx, cancelWrites := context.WithCancel(detached)
	defer cancelWrites()
	defer cancelAfter(runCtx, s.opts.GracePeriod, cancelGrace)()
	defer cancelAfter(runCtx, 2*s.opts.GracePeriod, cancelWrites)()
	listCtx := adplatform.WithObserver(runCtx, &e.client)
	callCtx := adplatform.WithAdmission(adplatform.WithObserver(graceCtx, &e.client), runCtx)
	if p, ok := s.obs.(PlatformObserverProvider); ok {
		if o := p.PlatformObserver(info); o != nil {
			listCtx, callCtx = adplatform.WithObserver(listCtx, o), adplatform.WithObserver(callCtx, o)
		}
	}

	jobs := make(chan job)
	results := make(chan result, 2*s.opts.BatchSize)
	var senders sync.WaitGroup
	var sourceErr error
	senders.Go(func() {
		defer close(jobs)
		sourceErr = source(listCtx, emitter{jobs: jobs, results: results})
	})
	for range s.opts.Concurrency {
		senders.Go(func() {
			for j := range jobs {
				if runCtx.Err() != nil {
					continue // stopping: do not start new calls
				}
				results <- e.syncOne(callCtx, graceCtx, j)
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
	if fatal == nil && sourceErr != nil && runCtx.Err() == nil {
		fatal = sourceErr // a source failing as the run stops is the stop's doing
	}
	stopped := parent.Err() != nil || fatal != nil
	status, reason := store.RunCompleted, ""
	if stopped {
		status = store.RunInterrupted
		if fatal != nil {
			reason = fatal.Error()
			if permanent(fatal) {
				status = store.RunFailed
			}
		} else {
			reason = "interrupted: " + context.Cause(parent).Error()
		}
	}
	if err := w.finish(writeCtx, store.RunFinish{Status: status, Error: reason}); err != nil && fatal == nil {
		fatal = fmt.Errorf("syncer: record the end of the run: %w", err)
	}

	rep := w.report
	rep.RunID, rep.AccountID, rep.Resumed, rep.Retry, rep.Note = e.run.ID, s.opts.AccountID, e.run.Resumed, e.retrying, e.run.Note
	rep.Total, rep.Seen, rep.Skipped = e.total, e.seen, e.skipped
	rep.StartedAt, rep.Duration = e.started, time.Since(e.started)
	rep.Err = fatal
	switch {
	case stopped || fatal != nil:
		rep.Status = stoppedStatus(fatal)
	case rep.Failed > 0:
		rep.Status = StatusCompletedWithFailures
	default:
		rep.Status = StatusCompleted
	}
	e.client.fill(&rep)

	// The error that stopped the run is returned: the caller reports it.
	// Logged at Error too, it would be printed twice; it goes with the
	// run's record instead.
	attrs := []any{"status", rep.Status, "seen", rep.Seen, "synced", rep.Synced, "skipped", rep.Skipped,
		"failed", rep.Failed, "pending", rep.Pending(), "duration", rep.Duration, "http_requests", rep.HTTPRequests,
		"http_429", rep.HTTP429, "retries", rep.Retries}
	if fatal != nil {
		attrs = append(attrs, "err", fatal)
	}
	e.log.Info("run finished", attrs...)
	s.obs.RunFinished(rep)
	return rep, fatal
}

// syncOne makes one campaign's sync call. Under callCtx, it sends nothing
// once the run stopped, and a request on the wire then has until graceCtx
// ends to bring its answer back.
func (e *execution) syncOne(callCtx, graceCtx context.Context, j job) result {
	progress := &e.s.progress
	progress.inFlight.Add(1)
	defer progress.inFlight.Add(-1)

	_, err := e.s.platform.SyncCampaign(callCtx, j.c.ID)
	res := result{key: j.c.ID, row: toStore(j.c, j.listedAt, time.Time{}), raw: j.raw}
	switch {
	case err == nil:
		res.row.SyncedAt = time.Now()
	case errors.Is(err, adplatform.ErrStopped), graceCtx.Err() != nil:
		// Abandoned: stopped before it could send what it had to, or cut
		// by the grace period. Nothing to record: the next run syncs it.
		res.abandoned = true
	case stopsTheRun(err):
		// Not the campaign's fault, and every other call would meet the
		// same: stop the run.
		e.stopRun(platformStop("sync campaign "+strconv.Quote(j.c.ID), err))
		res.abandoned = true
	default:
		res.err = err
	}
	return res
}
