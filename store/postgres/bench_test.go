package postgres

import (
	"context"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// benchRows is how many campaigns one iteration of the batch benchmarks
// writes; perRowRows is fewer, for the slow baseline (rows/s compares).
const (
	benchRows  = 20_000
	perRowRows = 2_000
)

const benchAccount = "acct_bench"

func reportRows(b *testing.B, rows int) {
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkUpsertPerRow is the naive baseline: one autocommit INSERT ... ON
// CONFLICT per campaign, new rows.
func BenchmarkUpsertPerRow(b *testing.B) {
	s, schema := newTestStore(b, Options{})
	ctx := context.Background()
	rows := makeCampaigns(perRowRows, 0)
	const q = `INSERT INTO campaigns (account_id, id, name, status, budget, impressions, clicks,
			conversions, created_at, synced_at, listed_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
		ON CONFLICT (account_id, id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status,
			budget = EXCLUDED.budget, impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks,
			conversions = EXCLUDED.conversions, created_at = EXCLUDED.created_at,
			synced_at = COALESCE(EXCLUDED.synced_at, campaigns.synced_at),
			listed_at = EXCLUDED.listed_at, updated_at = now()`
	_ = s
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		schema.DB.MustExecContext(ctx, "TRUNCATE campaigns")
		b.StartTimer()
		for _, c := range rows {
			if _, err := schema.DB.ExecContext(ctx, q, benchAccount, c.ID, c.Name, c.Status, c.Budget,
				c.Impressions, c.Clicks, c.Conversions, nullTime(c.CreatedAt), nullTime(c.SyncedAt), c.ListedAt); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRows(b, len(rows))
}

// BenchmarkUpsertBatch is the store's path for new campaigns.
func BenchmarkUpsertBatch(b *testing.B) {
	s, schema := newTestStore(b, Options{})
	ctx := context.Background()
	rows := makeCampaigns(benchRows, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		schema.DB.MustExecContext(ctx, "TRUNCATE campaigns")
		b.StartTimer()
		if err := s.Upsert(ctx, benchAccount, rows); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, len(rows))
}

// BenchmarkUpsertChanged is the store's path when every campaign exists
// and changed.
func BenchmarkUpsertChanged(b *testing.B) {
	benchUpsertExisting(b, makeCampaigns(benchRows, 0), makeCampaigns(benchRows, 1))
}

// BenchmarkUpsertUnchanged is the store's path when every campaign exists
// unchanged: the same batch, the same listing, written again. No row is
// rewritten.
func BenchmarkUpsertUnchanged(b *testing.B) {
	rows := makeCampaigns(benchRows, 0)
	benchUpsertExisting(b, rows, rows)
}

// BenchmarkUpsertRelisted is the store's path when every campaign exists
// with the same content, listed again later: each row's listed_at is
// rewritten (so that older content can never replace it), its content and
// updated_at are not.
func BenchmarkUpsertRelisted(b *testing.B) {
	rows := makeCampaigns(benchRows, 0)
	later := make([]store.Campaign, len(rows))
	for i, c := range rows {
		c.ListedAt = c.ListedAt.Add(time.Hour)
		later[i] = c
	}
	benchUpsertExisting(b, rows, later)
}

func benchUpsertExisting(b *testing.B, before, after []store.Campaign) {
	s, schema := newTestStore(b, Options{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		schema.DB.MustExecContext(ctx, "TRUNCATE campaigns")
		if err := s.Upsert(ctx, benchAccount, before); err != nil {
			b.Fatal(err)
		}
		schema.DB.MustExecContext(ctx, "VACUUM ANALYZE campaigns")
		b.StartTimer()
		if err := s.Upsert(ctx, benchAccount, after); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, len(after))
}

// BenchmarkCopyFloor is the physical floor: one raw COPY of the same rows
// into an empty table shaped like campaigns (same columns, same primary
// key), in one transaction.
func BenchmarkCopyFloor(b *testing.B) {
	_, schema := newTestStore(b, Options{})
	ctx := context.Background()
	rows := makeCampaigns(benchRows, 0)
	schema.DB.MustExecContext(ctx, "CREATE TABLE copy_floor (LIKE campaigns INCLUDING ALL)")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		schema.DB.MustExecContext(ctx, "TRUNCATE copy_floor")
		b.StartTimer()
		tx, err := schema.DB.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, `COPY copy_floor (account_id, id, name, status, budget,
			impressions, clicks, conversions, created_at, synced_at, listed_at, updated_at) FROM STDIN`)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for j := range rows {
			c := &rows[j]
			if _, err := stmt.ExecContext(ctx, benchAccount, c.ID, c.Name, c.Status, c.Budget,
				c.Impressions, c.Clicks, c.Conversions, nullTime(c.CreatedAt), nullTime(c.SyncedAt),
				c.ListedAt, now); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			b.Fatal(err)
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, len(rows))
}

// BenchmarkUpsertMemory shows that an Upsert's memory is bounded by
// BatchSize, not by the batch: for batches of 1, 10 and 100 chunks of
// 1,000 new campaigns it reports the bytes and allocations per row (the
// same for every batch size) and the peak heap above the input while the
// Upsert ran (a few MiB whatever the batch size: two chunks and the
// garbage between collections). The heap is sampled every 500µs with the
// GC target at 10%, so that the peak follows what is live. Its rows/s are
// slowed by the sampling and are not comparable with the others.
func BenchmarkUpsertMemory(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			s, schema := newTestStore(b, Options{BatchSize: 1000})
			ctx := context.Background()
			rows := makeCampaigns(n, 0)
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			var peak, allocated, allocs uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				schema.DB.MustExecContext(ctx, "TRUNCATE campaigns")
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base, total, mallocs := ms.HeapAlloc, ms.TotalAlloc, ms.Mallocs
				stop, sampled := make(chan struct{}), make(chan uint64)
				go func() {
					var max uint64
					t := time.NewTicker(500 * time.Microsecond)
					defer t.Stop()
					for {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > base && ms.HeapAlloc-base > max {
							max = ms.HeapAlloc - base
						}
						select {
						case <-stop:
							sampled <- max
							return
						case <-t.C:
						}
					}
				}()
				b.StartTimer()
				if err := s.Upsert(ctx, benchAccount, rows); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				close(stop)
				peak = max(peak, <-sampled)
				runtime.ReadMemStats(&ms)
				allocated += ms.TotalAlloc - total
				allocs += ms.Mallocs - mallocs
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/1024, "peak-heap-KiB")
			b.ReportMetric(float64(allocated)/float64(n*b.N), "B/row")
			b.ReportMetric(float64(allocs)/float64(n*b.N), "allocs/row")
		})
	}
}

// BenchmarkCommit is a syncer's batch through a lease: 100 campaigns, each
// synced (a SyncedAt), their dead letters resolved and the run's progress,
// in one Commit; against the same 100 campaigns written by Upsert alone
// (plain, several transactions of the pipelined path), in the same loop.
// It reports the milliseconds of each and their ratio.
func BenchmarkCommit(b *testing.B) {
	s, _ := newTestStore(b, Options{})
	ctx := context.Background()
	lease, err := s.Acquire(ctx, benchAccount)
	if err != nil {
		b.Fatal(err)
	}
	defer lease.Release(ctx)
	run, err := lease.StartRun(ctx, store.StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100
	base := makeCampaigns(n, 0)
	ids := make([]string, n)
	for i := range base {
		ids[i] = base[i].ID
	}
	var inCommit, inUpsert time.Duration
	i := 0
	for b.Loop() {
		batch := makeCampaigns(n, i+1) // new counts every time, as every listing brings
		synced := time.Now()
		for j := range batch {
			batch[j].SyncedAt, batch[j].ListedAt = synced, synced
		}
		t0 := time.Now()
		if err := lease.Commit(ctx, store.Batch{RunID: run.ID, Campaigns: batch, Resolved: ids,
			Progress: store.RunCounts{Seen: n * (i + 1), Synced: n * (i + 1)}}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := s.Upsert(ctx, "upsert-only", batch); err != nil {
			b.Fatal(err)
		}
		inCommit += t1.Sub(t0)
		inUpsert += time.Since(t1)
		i++
	}
	b.ReportMetric(float64(inCommit.Microseconds())/float64(i)/1000, "ms/commit")
	b.ReportMetric(float64(inUpsert.Microseconds())/float64(i)/1000, "ms/upsert")
	b.ReportMetric(float64(inCommit)/float64(inUpsert), "commit/upsert")
}
