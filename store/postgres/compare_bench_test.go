package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// BenchmarkUnchangedCompare measures how the store recognises an unchanged
// campaign, on 20,000 unchanged rows: by comparing its columns, as it does
// (a row edited by hand is then repaired by the next write), against
// comparing a content hash computed in Go and stored in a column, as it
// did. Both ways run in the same loop, each a whole write (hashing in Go,
// COPY, merge, commit), so that the machine's load weighs on both alike.
// It reports rows/s of each and their ratio.
func BenchmarkUnchangedCompare(b *testing.B) {
	s, schema := newTestStore(b, Options{})
	ctx := context.Background()
	rows := stageRows(makeCampaigns(benchRows, 0), seq(benchRows), now())
	schema.DB.MustExec("ALTER TABLE campaigns ADD COLUMN content_hash bytea")
	hashed := strings.NewReplacer(
		`EXCLUDED.listed_at >= c.listed_at AND (c.name, c.status, c.budget, c.impressions, c.clicks, c.conversions, c.created_at, scale(c.budget)) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.status, EXCLUDED.budget, EXCLUDED.impressions, EXCLUDED.clicks, EXCLUDED.conversions, EXCLUDED.created_at, scale(EXCLUDED.budget))`,
		`EXCLUDED.listed_at >= c.listed_at AND c.content_hash IS DISTINCT FROM EXCLUDED.content_hash`,
		`listed_at, updated_at)`, `listed_at, updated_at, content_hash)`,
		`listed_at, now()`, `listed_at, now(), content_hash`,
		stageTable, "pg_temp.bench_stage_hashed",
	).Replace(s.q.merge)
	if !strings.Contains(hashed, "content_hash IS DISTINCT") {
		b.Fatal("the merge statement changed: update the hash variant")
	}
	write := func(withHash bool) time.Duration {
		start := time.Now()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		if !withHash {
			if err := s.stage(ctx, tx, benchAccount, rows); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, s.q.merge); err != nil {
				b.Fatal(err)
			}
		} else {
			if _, err := tx.ExecContext(ctx, strings.NewReplacer(stageTable, "pg_temp.bench_stage_hashed",
				"listed_at timestamptz", "listed_at timestamptz, content_hash bytea").Replace(s.q.createStage)); err != nil {
				b.Fatal(err)
			}
			copyHashed(ctx, b, tx, rows)
			if _, err := tx.ExecContext(ctx, hashed); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Both ways store the same rows first, the hash way with its hashes.
	write(true)
	write(false)
	write(true)
	var byColumns, byHash time.Duration
	for b.Loop() {
		byColumns += write(false)
		byHash += write(true)
	}
	rowsPerSec := func(d time.Duration) float64 { return float64(len(rows)*b.N) / d.Seconds() }
	b.ReportMetric(rowsPerSec(byColumns), "rows/s-columns")
	b.ReportMetric(rowsPerSec(byHash), "rows/s-hash")
	b.ReportMetric(float64(byHash)/float64(byColumns), "columns/hash-speed")
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// copyHashed copies rows into the hash variant's stage, each with the
// SHA-256 of its length-prefixed content, as the store computed it.
func copyHashed(ctx context.Context, b *testing.B, tx *sql.Tx, rows []staged) {
	stmt, err := tx.PrepareContext(ctx, `COPY pg_temp.bench_stage_hashed (account_id, ord, id, name, status, budget,
		impressions, clicks, conversions, created_at, synced_at, listed_at, content_hash) FROM STDIN`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	buf := make([]byte, 0, 256)
	for i := range rows {
		c := &rows[i].c
		sum := contentHash(buf[:0], c)
		if _, err := stmt.ExecContext(ctx, benchAccount, i, c.ID, c.Name, c.Status, c.Budget,
			c.Impressions, c.Clicks, c.Conversions, nullTime(c.CreatedAt), nullTime(c.SyncedAt), c.ListedAt, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		b.Fatal(err)
	}
}

func contentHash(buf []byte, c *store.Campaign) [sha256.Size]byte {
	for _, s := range [...]string{c.ID, c.Name, c.Status, c.Budget} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, n := range [...]int64{c.Impressions, c.Clicks, c.Conversions} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(c.CreatedAt.UnixMicro()))
	return sha256.Sum256(buf)
}
