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
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// staged is one campaign on its way to the database.
type staged struct {
	index int // position in the caller's batch, for a RecordError
	c     store.Campaign
	hash  [hashSize]byte // the content hash
}

// Upsert inserts or updates campaigns of one account, as [store.Store]
// specifies.
//
// Every campaign is validated in Go first; an invalid one is rejected with
// its reason and never sent. The valid ones are written BatchSize at a time,
// each chunk in one transaction: copied into a temporary stage, then merged
// into campaigns by one INSERT ... ON CONFLICT that leaves unchanged rows
// untouched. While one chunk is merged and committed, the next is already
// being copied on a second connection. A chunk PostgreSQL refuses for a data
// reason (a constraint the service added, say) is split in halves until the
// refused campaigns are isolated; they are rejected with PostgreSQL's reason
// and every other campaign is stored. Transient failures are retried.
//
// Within a batch, the last valid campaign of an id wins. Rejected campaigns
// are reported in a *store.BatchError; any other error means nothing can be
// assumed stored and the batch may be retried.
func (s *Store) Upsert(ctx context.Context, accountID string, campaigns []store.Campaign) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("postgres: upsert: %w", err)
	}
	if len(campaigns) == 0 {
		return nil
	}
	w := s.newChunkWriter(accountID, min(len(campaigns), s.opts.BatchSize))
	defer w.abort()
	for i := range campaigns {
		if err := campaigns[i].Validate(); err != nil {
			var rec *store.RecordError
			if !errors.As(err, &rec) {
				rec = &store.RecordError{ID: campaigns[i].ID, Reason: err.Error()}
			}
			rec.Index = i
			w.rejected = append(w.rejected, rec)
			continue
		}
		if w.add(i, campaigns[i].Normalize()) {
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

// chunkWriter gathers up to BatchSize distinct campaigns and writes them,
// one chunk in flight while the next fills. It holds two chunk buffers,
// reused from chunk to chunk: an Upsert's memory is bounded by BatchSize,
// not by the size of the batch.
type chunkWriter struct {
	s        *Store
	account  string
	fill     []staged       // the chunk being filled
	spare    []staged       // a free buffer for the next one
	pos      map[string]int // id -> position in fill, to dedupe
	hasher   *contentHasher
	inflight *stagedChunk // copied (or being copied), not yet merged
	rejected []*store.RecordError
}

func (s *Store) newChunkWriter(account string, size int) *chunkWriter {
	return &chunkWriter{
		s:       s,
		account: account,
		fill:    make([]staged, 0, size),
		pos:     make(map[string]int, size),
		hasher:  newContentHasher(),
	}
}

// add stages c (valid, normalized), replacing an earlier campaign of the
// same id in the chunk: a statement of ON CONFLICT cannot touch one row
// twice, and the last one wins. It reports whether the chunk is full.
func (w *chunkWriter) add(index int, c store.Campaign) bool {
	i, dup := w.pos[c.ID]
	if !dup {
		i = len(w.fill)
		w.pos[c.ID] = i
		w.fill = append(w.fill, staged{})
	}
	r := &w.fill[i]
	r.index, r.c = index, c
	w.hasher.sum(&r.hash, &r.c)
	return len(w.fill) >= w.s.opts.BatchSize
}

// flush starts copying the filled chunk on its own connection and, while
// that runs, merges and commits the chunk before it. Chunks commit in
// order, so that across chunks too the last campaign of an id wins.
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
	clear(w.pos)
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
		c.tx, c.err = w.s.stage(ctx, w.account, c.rows)
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
// and split to isolate refused rows.
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
		return fmt.Errorf("postgres: upsert: %w", ctx.Err())
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
		return fmt.Errorf("postgres: upsert: %w", err)
	}
	// The careful path opens transactions of its own. Release the
	// connection the concurrent copy holds first: on a small pool it may be
	// the only one. That chunk is copied again by ready.
	if concurrent != nil {
		concurrent.cancel()
	}
	return w.s.writeIsolating(ctx, w.account, c.rows, &w.rejected, tried, err)
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
		c.tx, c.err = s.stage(ctx, account, rows)
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

// writeIsolating writes rows in one transaction, retrying transient
// failures (tried attempts were made already, the last failing with
// lastErr). If PostgreSQL refuses it for a data reason, it writes each half
// the same way, down to single rows, which are then rejected with
// PostgreSQL's reason: k bad rows among n cost about 2k·log2(n) extra
// transactions, and every good row lands.
func (s *Store) writeIsolating(ctx context.Context, account string, rows []staged, rejected *[]*store.RecordError, tried int, lastErr error) error {
	err := s.retryAfter(ctx, "upsert", tried, lastErr, func(ctx context.Context) error {
		tx, err := s.stage(ctx, account, rows)
		if err == nil {
			err = s.mergeAndCommit(ctx, tx)
		}
		if err != nil && tx != nil {
			tx.Rollback()
		}
		return err
	})
	if err == nil {
		return nil
	}
	pqErr, isData := isDataError(err)
	if !isData {
		if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("postgres: upsert: %w", err)
	}
	if len(rows) == 1 {
		*rejected = append(*rejected, &store.RecordError{
			ID: rows[0].c.ID, Index: rows[0].index, Reason: pgReason(pqErr),
		})
		return nil
	}
	mid := len(rows) / 2
	if err := s.writeIsolating(ctx, account, rows[:mid], rejected, 0, nil); err != nil {
		return err
	}
	return s.writeIsolating(ctx, account, rows[mid:], rejected, 0, nil)
}

// stage begins a transaction and copies rows into its stage: the one data
// round trip of a chunk. On error the transaction, if any, is returned for
// the caller to roll back.
func (s *Store) stage(ctx context.Context, account string, rows []staged) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.q.createStage); err != nil {
		return tx, err
	}
	if err := copyRows(ctx, tx, s.q.copyStage, account, rows); err != nil {
		return tx, err
	}
	return tx, nil
}

// mergeAndCommit merges the stage into campaigns and commits.
func (s *Store) mergeAndCommit(ctx context.Context, tx *sql.Tx) error {
	if err := s.runHook("staged", tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q.merge); err != nil {
		return err
	}
	if err := s.runHook("merged", tx); err != nil {
		return err
	}
	return tx.Commit()
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
		if _, err := stmt.ExecContext(ctx, account, c.ID, c.Name, c.Status, c.Budget,
			c.Impressions, c.Clicks, c.Conversions, nullTime(c.CreatedAt), nullTime(c.SyncedAt),
			rows[i].hash[:]); err != nil {
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

// validText reports whether s can be sent as text: PostgreSQL refuses NUL
// and invalid UTF-8.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
