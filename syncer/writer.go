package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// writer is the run's only store writer. It batches results by count or
// by time, and records each batch in one Lease.Commit: the campaigns
// (synced ones with their SyncedAt, failed ones with their listed data),
// the dead letters of the failures, the resolution of those of the synced,
// and the run's progress. The last Commit of a run also carries its end.
// Records the store rejects become failures, and the batch is committed
// again without them. Only once a batch is committed does it count a
// campaign as synced: Report.Synced means synced and stored.
//
// A Commit that fails because the database is unavailable is retried with
// patience (see patience): meanwhile the writer reads no result, so the
// workers block on the bounded results channel and the source on theirs,
// and nothing a sync call brought back is dropped.
type writer struct {
	e       *execution
	p       patience
	report  Report
	pending []result
	// copies holds the content of later copies of listed campaigns whose
	// own result has not come yet: when it does, it is written with the
	// copy's content, so that the last copy wins whichever lands first.
	// It holds only duplicated ids, a handful.
	copies map[string]store.Campaign

	broken bool // a Commit failed for good: drop the rest
	lost   bool // ... because the lease was lost: write nothing more
}

// failure is a campaign of a batch that failed.
type failure struct {
	key  string
	data []byte
	err  error
}

func newWriter(e *execution) *writer {
	return &writer{e: e, p: e.patience(), pending: make([]result, 0, e.s.opts.BatchSize), copies: map[string]store.Campaign{}}
}

// consume drains results until the channel is closed, committing a batch
// when it is full or FlushInterval has passed. What is pending when the
// channel closes is left for finish.
func (w *writer) consume(ctx context.Context, results <-chan result) {
	ticker := time.NewTicker(w.e.s.opts.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				return
			}
			if r.abandoned || w.broken {
				continue
			}
			w.add(r)
			if len(w.pending) >= w.e.s.opts.BatchSize {
				w.flush(ctx, nil)
			}
		case <-ticker.C:
			w.flush(ctx, nil)
		}
	}
}

// add takes a result into the pending batch.
//
// A listing's later copy of a campaign wins over its first copy, whose
// sync call may return before or after the copy arrives; its row keeps the
// first copy's SyncedAt. So a copy whose first copy's row is in this batch
// replaces that row's content; otherwise it is written on its own (store
// content is newer-wins: it replaces a row already stored), and kept aside
// until the first copy's result comes, which then carries its content.
func (w *writer) add(r result) {
	if r.copy {
		for i := range w.pending {
			if p := &w.pending[i]; p.key == r.key && !p.copy && p.row.ID != "" {
				p.row = newerContent(p.row, r.row)
				return
			}
		}
		w.copies[r.key] = r.row
	} else if c, ok := w.copies[r.key]; ok {
		delete(w.copies, r.key)
		if r.row.ID != "" {
			r.row = newerContent(r.row, c)
		}
	}
	w.pending = append(w.pending, r)
}

// newerContent returns row with the content and ListedAt of c when c was
// listed no earlier, and row's SyncedAt either way.
func newerContent(row, c store.Campaign) store.Campaign {
	if c.ListedAt.Before(row.ListedAt) {
		return row
	}
	c.SyncedAt = row.SyncedAt
	return c
}

// finish commits what is pending with the run's end, as patiently as any
// batch. It returns the error that kept the end from being recorded, if
// any. After the writer broke, it makes one attempt: the database may be
// back; if it is not, the run stays running in the store, and the next
// run resumes it.
func (w *writer) finish(ctx context.Context, end store.RunFinish) error {
	if w.lost {
		return nil
	}
	if w.broken {
		w.pending = w.pending[:0]
		return w.p.once(ctx, func(ctx context.Context) error { return w.e.lease.Commit(ctx, w.batch(nil, &end)) })
	}
	return w.flush(ctx, &end)
}

// flush commits the pending results (and end, when set) in one Commit.
// Campaigns the store rejects are moved to the batch's failures, and the
// batch is committed again without them. A failure to commit breaks the
// writer and stops the run; it is returned too.
func (w *writer) flush(ctx context.Context, end *store.RunFinish) error {
	if (len(w.pending) == 0 && end == nil) || w.broken {
		return nil
	}
	defer func() { w.pending = w.pending[:0] }()
	rejected := map[int]error{} // pending index → why the store rejected its row
	for round := 1; ; round++ {
		b := w.batch(rejected, end)
		err := w.p.do(ctx, func(ctx context.Context) error { return w.e.lease.Commit(ctx, b) })
		var batchErr *store.BatchError
		if errors.As(err, &batchErr) && round < 3 {
			// Rows are the pending results with one, in order.
			rows := w.rowOwners(rejected)
			for _, r := range batchErr.Rejected {
				if r.Index >= 0 && r.Index < len(rows) {
					rejected[rows[r.Index]] = r
				}
			}
			continue
		}
		if err != nil {
			w.fail(err)
			return err
		}
		w.committed(rejected)
		return nil
	}
}

// rowOwners returns, for each row of the batch built with rejected, the
// index of the pending result it came from.
func (w *writer) rowOwners(rejected map[int]error) []int {
	var owners []int
	for i, r := range w.pending {
		if _, bad := rejected[i]; !bad && r.row.ID != "" {
			owners = append(owners, i)
		}
	}
	return owners
}

// batch builds the Commit of the pending results, the rows in rejected
// left out and failed, with end when set.
func (w *writer) batch(rejected map[int]error, end *store.RunFinish) store.Batch {
	s := w.e.s
	b := store.Batch{RunID: w.e.run.ID, Finish: end, State: w.e.handover(end != nil)}
	synced, failed := 0, 0
	for i, r := range w.pending {
		if _, bad := rejected[i]; !bad && r.row.ID != "" {
			b.Campaigns = append(b.Campaigns, r.row)
		}
		if r.retire != "" {
			b.Retired = append(b.Retired, store.Retirement{CampaignID: r.key, Reason: r.retire})
			continue
		}
		if r.copy {
			continue
		}
		if f, ok := w.failureOf(i, rejected); ok {
			b.DeadLetters = append(b.DeadLetters, store.DeadLetter{CampaignID: f.key, Data: f.data, Error: f.err.Error()})
			failed++
			continue
		}
		b.Resolved = append(b.Resolved, r.key)
		synced++
	}
	b.Progress = store.RunCounts{
		Seen: int(s.progress.seen.Load()), Skipped: int(s.progress.skipped.Load()),
		Synced: w.report.Synced + synced, Failed: w.report.Failed + failed,
	}
	return b
}

// failureOf returns the failure of pending result i, given the rows the
// store rejected, or false when it synced.
func (w *writer) failureOf(i int, rejected map[int]error) (failure, bool) {
	r := w.pending[i]
	err := r.err
	if rejErr, ok := rejected[i]; ok {
		if err == nil {
			err = fmt.Errorf("synced on the platform, but the store rejected it: %w", rejErr)
		} else {
			err = errors.Join(err, rejErr)
		}
	}
	if err == nil {
		return failure{}, false
	}
	return failure{key: r.key, data: r.raw, err: err}, true
}

// committed counts a committed batch in the report and tells the
// observer.
func (w *writer) committed(rejected map[int]error) {
	s := w.e.s
	synced, failed := 0, 0
	retired := 0
	for i, r := range w.pending {
		if r.retire != "" {
			w.report.Retired++
			retired++
			continue
		}
		if r.copy {
			if err, bad := rejected[i]; bad {
				w.e.log.Warn("a later copy of a campaign in the listing was not stored", "campaign_id", r.key, "err", err)
			}
			continue
		}
		if f, ok := w.failureOf(i, rejected); ok {
			w.failed(f.key, f.err)
			failed++
			continue
		}
		w.report.Synced++
		synced++
		s.progress.synced.Add(1)
		s.obs.CampaignSynced(r.key)
	}
	w.e.log.Debug("batch stored", "synced", synced, "failed", failed, "retired", retired)
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

// fail stops the run after a Commit failed for good. What was pending is
// dropped: those campaigns are not recorded as synced, so the next run
// syncs them again.
func (w *writer) fail(err error) {
	w.broken = true
	if errors.Is(err, store.ErrAccountLost) {
		w.lost = true
		w.e.stopRun(fmt.Errorf("syncer: stopped, writing nothing more: %w", err))
		return
	}
	w.e.stopRun(fmt.Errorf("syncer: record a batch: %w", err))
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
