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
// by time, and records each batch in one Commit (the campaigns, synced
// ones with their SyncedAt and failed ones with their listed data, the
// dead letters of the failures, the resolution of those of the synced,
// the run's progress). Records the
// store rejects become failures. Only then does it count a campaign as
// synced: Report.Synced means synced and stored.
type writer struct {
	e      *execution
	report Report

	rows    []store.Campaign
	entries []entry // one per pending result with something to record
	broken  bool    // a store write failed for good: drop the rest
	lost    bool    // ... because the lease was lost: write nothing more
}

// entry is a pending result; row is its index in rows, or -1.
type entry struct {
	res result
	row int
}

// failure is a campaign of a batch that failed.
type failure struct {
	key  string
	data []byte
	err  error
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
		w.rows = append(w.rows, toStore(r.campaign, r.listedAt, r.syncedAt))
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
	synced, failures, ok := w.commit(ctx)
	if !ok {
		return
	}
	for _, f := range failures {
		w.failed(f.key, f.err)
	}
	s := w.e.s
	for _, id := range synced {
		w.report.Synced++
		s.progress.synced.Add(1)
		s.obs.CampaignSynced(id)
	}
	w.e.log.Debug("batch stored", "synced", len(synced), "failed", len(failures))
}

// commit records the batch through the lease, in one Commit. Campaigns the
// store rejects are moved to the batch's failures, and the batch committed
// again without them.
func (w *writer) commit(ctx context.Context) ([]string, []failure, bool) {
	s := w.e.s
	rejected := map[int]error{}
	for {
		synced, failures := w.sort(rejected)
		rows := make([]store.Campaign, 0, len(w.rows))
		at := make([]int, 0, len(w.rows)) // rows[i] is w.rows[at[i]]
		for i, c := range w.rows {
			if _, bad := rejected[i]; !bad {
				rows, at = append(rows, c), append(at, i)
			}
		}
		letters := make([]store.DeadLetter, len(failures))
		for i, f := range failures {
			letters[i] = store.DeadLetter{CampaignID: f.key, Data: f.data, Error: f.err.Error()}
		}
		b := store.Batch{
			RunID: w.e.run.ID, Campaigns: rows, DeadLetters: letters, Resolved: synced,
			Progress: store.RunCounts{
				Seen: int(s.progress.seen.Load()), Skipped: int(s.progress.skipped.Load()),
				Synced: w.report.Synced + len(synced), Failed: w.report.Failed + len(failures),
			},
		}
		err := w.retry(ctx, "commit", func(ctx context.Context) error { return w.e.lease.Commit(ctx, b) })
		var batchErr *store.BatchError
		if errors.As(err, &batchErr) && len(rejected) == 0 {
			for _, r := range batchErr.Rejected {
				rejected[at[r.Index]] = r
			}
			continue
		}
		if err != nil {
			w.fail(err)
			return nil, nil, false
		}
		return synced, failures, true
	}
}

// sort sorts the batch into the ids of the campaigns synced and the
// failures, given the rows the store rejected.
func (w *writer) sort(rejected map[int]error) (synced []string, failures []failure) {
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
		failures = append(failures, failure{key: key, data: data, err: r.err})
	}
	return synced, failures
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
	if errors.Is(err, store.ErrAccountLost) {
		w.lost = true
		w.e.stopRun(fmt.Errorf("syncer: stopped, writing nothing more: %w", err))
		return
	}
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
		if err == nil || errors.As(err, &batchErr) || errors.Is(err, store.ErrAccountLost) || attempt >= attempts || ctx.Err() != nil {
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
func toStore(c adplatform.Campaign, listedAt, syncedAt time.Time) store.Campaign {
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
		ListedAt:    listedAt,
	}
}
