package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// staged is one campaign on its way to the database.
type staged struct {
	index int            // position in the caller's batch, for a RecordError
	c     store.Campaign // normalized, ListedAt set
}

// stageRows returns campaigns[keep] (see store.Prepare) ready to stage,
// listed at t when their ListedAt is zero.
func stageRows(campaigns []store.Campaign, keep []int, t time.Time) []staged {
	rows := make([]staged, len(keep))
	for j, i := range keep {
		rows[j] = stagedAt(i, campaigns[i], t)
	}
	return rows
}

func stagedAt(index int, c store.Campaign, t time.Time) staged {
	c = c.Normalize()
	if c.ListedAt.IsZero() {
		c.ListedAt = t
	}
	return staged{index: index, c: c}
}

// Upsert inserts or updates campaigns of one account, as [store.Store]
// specifies.
//
// Every campaign is validated in Go first, and duplicates are resolved
// across the whole batch (store.Prepare); an invalid campaign is rejected
// with its reason and never sent. The others are written BatchSize at a
// time, each chunk in one transaction: copied into a temporary stage, then
// merged into campaigns by one INSERT ... ON CONFLICT that leaves
// unchanged rows untouched. While one chunk is merged and committed, the
// next is already being copied on a second connection. A chunk PostgreSQL
// refuses for a data reason (a constraint the service added, say) is
// written again, each half under a savepoint, until the refused campaigns
// are isolated; they are rejected with PostgreSQL's reason and every other
// campaign is stored. Transient failures are retried.
//
// Rejected campaigns are reported in a *store.BatchError; any other error
// means nothing can be assumed stored and the batch may be written again.
func (s *Store) Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("postgres: upsert: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	if len(campaigns) == 0 {
		return nil
	}
	t := now()
	keep, rejected := store.Prepare(campaigns, t)
	w := s.newChunkWriter(accountID, min(len(keep), s.opts.BatchSize))
	w.rejected = rejected
	defer w.abort()
	for _, i := range keep {
		w.fill = append(w.fill, stagedAt(i, campaigns[i], t))
		if len(w.fill) >= s.opts.BatchSize {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.finishInflight(ctx); err != nil {
		return err
	}
	if len(w.rejected) == 0 {
		return nil
	}
	s.log.WarnContext(ctx, "postgres: upsert rejected campaigns",
		"account", accountID, "rejected", len(w.rejected), "of", len(campaigns))
	return &store.BatchError{Rejected: sortByIndex(w.rejected)}
}

// chunkWriter writes chunks of up to BatchSize distinct campaigns, one
// chunk in flight while the next fills. It holds two chunk buffers, reused
// from chunk to chunk, so that an Upsert's memory follows BatchSize; only
// its index of the batch's ids (store.Prepare) follows the batch.
type chunkWriter struct {
	s        *Store
	account  string
	fill     []staged     // the chunk being filled
	spare    []staged     // a free buffer for the next one
	inflight *stagedChunk // copied (or being copied), not yet merged
	rejected []*store.RecordError
}

func (s *Store) newChunkWriter(account string, size int) *chunkWriter {
	return &chunkWriter{s: s, account: account, fill: make([]staged, 0, size)}
}

// flush starts copying the filled chunk on its own connection and, while
// that runs, merges and commits the chunk before it. Chunks commit in
// order.
func (w *chunkWriter) flush(ctx context.Context) error {
	if len(w.fill) == 0 {
		return nil
	}
	prev := w.ready(ctx, w.inflight)
	next := w.s.startStaging(ctx, w.account, w.fill)
	var err error
	if prev != nil {
		err = w.finish(ctx, prev, next)
		w.spare = prev.rows
	}
	w.inflight = next
	clear(w.spare) // drop references to the caller's strings
	w.fill, w.spare = w.spare[:0], nil
	return err
}

// finishInflight merges and commits the last chunk.
func (w *chunkWriter) finishInflight(ctx context.Context) error {
	c := w.ready(ctx, w.inflight)
	if c == nil {
		return nil
	}
	w.inflight = nil
	return w.finish(ctx, c, nil)
}

// ready waits for the end of c's copy, and copies c again if its copy was
// rolled back to free a connection.
//
// The next chunk's copy starts only once the previous one's has ended,
// holding its connection (or failed, holding none): else the next could
// take the last free connection of the pool while the previous waits for
// one, and finish would wait forever. So an Upsert holds at most two
// connections, and never waits for one while holding one it could release.
func (w *chunkWriter) ready(ctx context.Context, c *stagedChunk) *stagedChunk {
	if c == nil {
		return nil
	}
	<-c.done
	if c.err == errRestage {
		c.tx, c.err = w.s.beginStaged(ctx, w.account, c.rows)
	}
	return c
}

// abort rolls back a chunk still in flight when Upsert returns early.
func (w *chunkWriter) abort() {
	if w.inflight != nil {
		w.inflight.cancel()
		w.inflight = nil
	}
}

// finish merges and commits c, whose copy has ended (see ready);
// concurrent is the chunk being copied meanwhile, if any. If c fails for a
// transient or data reason, it is written again the careful way: retried,
// and merged half by half to isolate refused rows.
func (w *chunkWriter) finish(ctx context.Context, c, concurrent *stagedChunk) error {
	err := c.err
	if err == nil {
		err = w.s.mergeAndCommit(ctx, c.tx)
	}
	if err == nil {
		return nil
	}
	if c.tx != nil {
		c.tx.Rollback() // the error that matters is err; the connection may be gone
	}
	if ctx.Err() != nil {
		return classify(ctx, "upsert", err)
	}
	tried := 0 // attempts at a transient failure, for the retry budget
	_, isData := isDataError(err)
	switch {
	case isData:
		w.s.log.DebugContext(ctx, "postgres: chunk refused, isolating the refused campaigns",
			"rows", len(c.rows), "sqlstate", sqlState(err))
	case isTransient(err):
		tried = 1
	default:
		return classify(ctx, "upsert", err)
	}
	// The careful path opens a transaction of its own. Release the
	// connection the concurrent copy holds first: on a small pool it may be
	// the only one. That chunk is copied again by ready.
	if concurrent != nil {
		concurrent.cancel()
	}
	return w.s.writeCareful(ctx, w.account, c.rows, &w.rejected, tried, err)
}

// errRestage marks a chunk whose copy was rolled back on purpose, to be
// written again.
var errRestage = errors.New("postgres: chunk to be copied again")

// stagedChunk is a chunk copied into the stage of an open transaction, or
// being copied: done is closed when tx and err are set.
type stagedChunk struct {
	rows []staged
	done chan struct{}
	tx   *sql.Tx
	err  error
}

// startStaging begins a transaction and copies rows into its stage, in a
// goroutine.
func (s *Store) startStaging(ctx context.Context, account string, rows []staged) *stagedChunk {
	c := &stagedChunk{rows: rows, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.tx, c.err = s.beginStaged(ctx, account, rows)
	}()
	return c
}

// cancel waits for the copy to end and rolls it back, freeing its
// connection; ready copies the chunk again.
func (c *stagedChunk) cancel() {
	<-c.done
	if c.tx != nil {
		c.tx.Rollback()
	}
	c.err = errRestage
}

// writeCareful writes rows in one transaction, merged half by half under
// savepoints down to the rows PostgreSQL refuses, which are added to
// rejected; it retries transient failures (tried attempts were made
// already, the last failing with lastErr). k refused rows among n cost
// about 2k·log2(n) extra statements, and every other row lands.
func (s *Store) writeCareful(ctx context.Context, account string, rows []staged, rejected *[]*store.RecordError, tried int, lastErr error) error {
	var found []*store.RecordError
	err := s.retryAfter(ctx, "upsert", tried, lastErr, func(ctx context.Context) error {
		found = found[:0]
		tx, err := s.beginStaged(ctx, account, rows)
		if err == nil {
			err = s.runHook("staged", tx)
		}
		if err == nil {
			err = s.isolate(ctx, tx, rows, 0, len(rows), &found)
		}
		if err == nil {
			err = s.runHook("merged", tx)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil && tx != nil {
			tx.Rollback()
		}
		return err
	})
	*rejected = append(*rejected, found...)
	return err
}

// isolate merges the staged rows [lo, hi) of tx under a savepoint; if
// PostgreSQL refuses them for a data reason, it merges each half the same
// way, down to single rows, which are added to refused with PostgreSQL's
// reason.
func (s *Store) isolate(ctx context.Context, tx *sql.Tx, rows []staged, lo, hi int, refused *[]*store.RecordError) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT adsync_isolate"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q.mergeRange, lo, hi)
	if err == nil {
		_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT adsync_isolate")
		return err
	}
	pqErr, isData := isDataError(err)
	if !isData {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT adsync_isolate; RELEASE SAVEPOINT adsync_isolate"); err != nil {
		return err
	}
	if hi-lo == 1 {
		*refused = append(*refused, &store.RecordError{ID: rows[lo].c.ID, Index: rows[lo].index, Reason: pgReason(pqErr)})
		return nil
	}
	mid := (lo + hi) / 2
	if err := s.isolate(ctx, tx, rows, lo, mid, refused); err != nil {
		return err
	}
	return s.isolate(ctx, tx, rows, mid, hi, refused)
}

// beginStaged begins a transaction on the pool and copies rows into its
// stage. On error the transaction, if any, is returned for the caller to
// roll back.
func (s *Store) beginStaged(ctx context.Context, account string, rows []staged) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return tx, s.stage(ctx, tx, account, rows)
}

// stage copies rows into tx's stage: the one data round trip of a chunk.
func (s *Store) stage(ctx context.Context, tx *sql.Tx, account string, rows []staged) error {
	if _, err := tx.ExecContext(ctx, s.q.createStage); err != nil {
		return err
	}
	return copyRows(ctx, tx, s.q.copyStage, account, rows)
}

// mergeAndCommit merges the stage into campaigns and commits.
func (s *Store) mergeAndCommit(ctx context.Context, tx *sql.Tx) error {
	if err := s.merge(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// merge merges tx's whole stage into campaigns.
func (s *Store) merge(ctx context.Context, tx *sql.Tx) error {
	if err := s.runHook("staged", tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q.merge); err != nil {
		return err
	}
	return s.runHook("merged", tx)
}

func (s *Store) runHook(point string, tx *sql.Tx) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(point, tx)
}

// copyRows streams rows to PostgreSQL with COPY ... FROM STDIN: lib/pq
// buffers them into 64 KiB messages and the final Exec ends the COPY and
// reports any error.
func copyRows(ctx context.Context, tx *sql.Tx, query, account string, rows []staged) (err error) {
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := stmt.Close(); err == nil {
			err = cerr
		}
	}()
	for i := range rows {
		c := &rows[i].c
		if _, err := stmt.ExecContext(ctx, account, i, c.ID, c.Name, c.Status, c.Budget,
			c.Impressions, c.Clicks, c.Conversions, nullTime(c.CreatedAt), nullTime(c.SyncedAt), c.ListedAt); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// pgReason is the reason given for a record PostgreSQL refused: the
// SQLSTATE and PostgreSQL's message, short. The message names the
// constraint; the detail, which quotes the row, is left out.
func pgReason(err *pq.Error) string {
	const maxLen = 200
	msg := err.Message
	if len(msg) > maxLen {
		msg = strings.ToValidUTF8(msg[:maxLen], "") + "…"
	}
	return "refused by PostgreSQL: SQLSTATE " + string(err.Code) + ": " + msg
}

// sortByIndex sorts rejections by their position in the batch: validation
// and PostgreSQL reject in different passes.
func sortByIndex(recs []*store.RecordError) []*store.RecordError {
	slices.SortFunc(recs, func(a, b *store.RecordError) int { return cmp.Compare(a.Index, b.Index) })
	return recs
}
