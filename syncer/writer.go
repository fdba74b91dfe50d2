package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// writer is the run's only store writer. It batches results by count or
// by time, and for each batch: upserts the campaigns (synced ones with their
// SyncedAt, failed ones with their listed data and no SyncedAt), turns the
// records the store rejected into failures, records dead letters, and
// resolves the dead letters of campaigns that synced. Only then does it
// count a campaign as synced: Report.Synced means synced and stored.
type writer struct {
	e      *execution
	report Report

	rows    []store.Campaign
	entries []entry // one per pending result with something to record
	broken  bool    // a store write failed for good: drop the rest
}

// entry is a pending result; row is its index in rows, or -1.
type entry struct {
	res result
	row int
}

func newWriter(e *execution) *writer {
	n := e.s.opts.BatchSize
	return &writer{e: e, rows: make([]store.Campaign, 0, n), entries: make([]entry, 0, n)}
}

// consume drains results until the channel is closed.
func (w *writer) consume(ctx context.Context, results <-chan result) {
	ticker := time.NewTicker(w.e.s.opts.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				w.flush(ctx)
				return
			}
			w.add(r)
			if len(w.entries) >= w.e.s.opts.BatchSize {
				w.flush(ctx)
			}
		case <-ticker.C:
			w.flush(ctx)
		}
	}
}

func (w *writer) add(r result) {
	if r.abandoned || w.broken {
		return
	}
	row := -1
	if r.raw == nil {
		row = len(w.rows)
		w.rows = append(w.rows, toStore(r.campaign, r.syncedAt))
	}
	w.entries = append(w.entries, entry{res: r, row: row})
}

func (w *writer) flush(ctx context.Context) {
	if len(w.entries) == 0 {
		return
	}
	defer func() {
		w.rows, w.entries = w.rows[:0], w.entries[:0]
	}()
	e := w.e
	s := e.s

	// 1. The campaigns. Rejected rows become failures.
	rejected := map[int]error{}
	if len(w.rows) > 0 {
		err := w.retry(ctx, "store campaigns", func(ctx context.Context) error {
			return s.store.Upsert(ctx, s.opts.AccountID, w.rows)
		})
		var batchErr *store.BatchError
		switch {
		case errors.As(err, &batchErr):
			for _, r := range batchErr.Rejected {
				rejected[r.Index] = r
			}
		case err != nil:
			w.fail(err)
			return
		}
	}

	// 2. Sort the batch into synced and failed.
	var synced []string
	var letters []store.DeadLetter
	for _, en := range w.entries {
		r := en.res
		if rejErr, ok := rejected[en.row]; en.row >= 0 && ok {
			if r.err == nil {
				r.err = fmt.Errorf("synced on the platform, but the store rejected it: %w", rejErr)
			} else {
				r.err = errors.Join(r.err, rejErr)
			}
		}
		if r.err == nil {
			synced = append(synced, r.campaign.ID)
			continue
		}
		key, data := r.key, r.raw
		if data == nil {
			key = r.campaign.ID
			var err error
			if data, err = json.Marshal(r.campaign); err != nil {
				data = []byte(fmt.Sprintf("%q", err.Error())) // unreachable: a decoded campaign encodes
			}
		}
		letters = append(letters, store.DeadLetter{
			AccountID: s.opts.AccountID, CampaignID: key, RunID: e.run.ID, Data: data, Error: r.err.Error(),
		})
		w.failed(key, r.err)
	}

	// 3. The bookkeeping: dead letters of this batch's failures recorded,
	// those of its synced campaigns resolved.
	if s.books != nil {
		if len(letters) > 0 {
			if err := w.retry(ctx, "record dead letters", func(ctx context.Context) error {
				return s.books.PutDeadLetters(ctx, letters)
			}); err != nil {
				w.fail(err)
				return
			}
		}
		if len(synced) > 0 {
			if err := w.retry(ctx, "resolve dead letters", func(ctx context.Context) error {
				return s.books.ResolveDeadLetters(ctx, s.opts.AccountID, synced)
			}); err != nil {
				w.fail(err)
				return
			}
		}
	}
	for _, id := range synced {
		w.report.Synced++
		s.progress.synced.Add(1)
		s.obs.CampaignSynced(id)
	}
	e.log.Debug("batch stored", "synced", len(synced), "failed", len(letters))
}

// failed records one failure in the report.
func (w *writer) failed(id string, err error) {
	s := w.e.s
	w.report.Failed++
	s.progress.failed.Add(1)
	if len(w.report.Failures) < s.opts.MaxReportedFailures {
		w.report.Failures = append(w.report.Failures, Failure{CampaignID: id, Err: err})
	}
	w.e.log.Warn("campaign failed", "campaign_id", id, "err", err)
	s.obs.CampaignFailed(id, err)
}

// fail stops the run after a store write failed for good. What was pending
// is dropped: those campaigns are not recorded as synced, so the next run
// syncs them again.
func (w *writer) fail(err error) {
	w.broken = true
	w.e.stopRun(fmt.Errorf("syncer: store unavailable: %w", err))
}

// retry runs a store operation, retrying failures of the whole operation
// (not a *store.BatchError, which is a result) with capped, jittered
// backoff.
func (w *writer) retry(ctx context.Context, what string, op func(context.Context) error) error {
	attempts := 1 + w.e.s.opts.StoreRetries
	var err error
	for attempt := 1; ; attempt++ {
		err = op(ctx)
		var batchErr *store.BatchError
		if err == nil || errors.As(err, &batchErr) || attempt >= attempts || ctx.Err() != nil {
			return err
		}
		wait := min(100*time.Millisecond<<(attempt-1), 5*time.Second)
		wait = time.Duration(rand.Int64N(int64(wait)) + 1)
		w.e.log.Warn("store operation failed, retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// toStore maps a platform campaign to the store's record.
func toStore(c adplatform.Campaign, syncedAt time.Time) store.Campaign {
	return store.Campaign{
		ID:          c.ID,
		Name:        c.Name,
		Status:      c.Status,
		Budget:      c.Budget,
		Impressions: c.Impressions,
		Clicks:      c.Clicks,
		Conversions: c.Conversions,
		CreatedAt:   c.CreatedAt,
		SyncedAt:    syncedAt,
	}
}
