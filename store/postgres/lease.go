package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/adsync/adsync/store"
)

// Acquire takes the account for the returned lease, as store.RunStore
// specifies: a session-level advisory lock, held on a connection of the
// pool dedicated to the lease until it is released. The lock is keyed by
// (the schema's oid, the account's lock_key), unique in the database, so
// two accounts never share one. Each Acquire bumps the account's
// generation.
//
// A process that dies loses its connection, and PostgreSQL ends the
// session and frees the lock at once: a new Acquire succeeds. While the
// account is held, Acquire fails at once with an *store.AccountError
// matching store.ErrAccountBusy. It makes one attempt.
func (s *Store) Acquire(ctx context.Context, accountID string) (store.Lease, error) {
	if err := store.ValidateAccountID(accountID); err != nil {
		return nil, fmt.Errorf("postgres: acquire: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	key, err := s.lockKey(ctx, accountID)
	if err != nil {
		return nil, classify(ctx, "acquire", err)
	}
	l := &lease{s: s, account: accountID, key: key}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, classify(ctx, "acquire", err)
	}
	held, sess, err := l.lock(ctx, conn)
	if err != nil {
		discard(conn)
		return nil, classify(ctx, "acquire", err)
	}
	if !held {
		conn.Close()
		return nil, s.busy(ctx, accountID)
	}
	l.session = sess
	if err := conn.GetContext(ctx, &l.generation, s.q.bumpGeneration, accountID, now()); err != nil {
		l.unlock(conn)
		return nil, classify(ctx, "acquire", err)
	}
	l.conn = conn
	return l, nil
}

// lockKey returns the second key of the account's advisory lock, making
// the account's row if it has none.
func (s *Store) lockKey(ctx context.Context, accountID string) (lockKey, error) {
	var key int32
	err := s.db.GetContext(ctx, &key, s.q.accountKey, accountID)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err = s.db.ExecContext(ctx, s.q.insertAccount, accountID); err == nil {
			err = s.db.GetContext(ctx, &key, s.q.accountKey, accountID)
		}
	}
	return lockKey{schema: s.schemaKey, account: key}, err
}

// busy is the error of an Acquire of a held account, saying since when it
// is held when the database tells.
func (s *Store) busy(ctx context.Context, accountID string) error {
	reason := "another holder has it"
	var since sql.NullTime
	if err := s.db.GetContext(ctx, &since, s.q.accountHeldSince, accountID); err == nil && since.Valid {
		reason += " since " + since.Time.UTC().Format(time.RFC3339)
	}
	return &store.AccountError{AccountID: accountID, Err: store.ErrAccountBusy, Reason: reason}
}

// lockKey is an account's advisory lock: pg_advisory_lock(int4, int4)
// with the schema's oid and the account's lock_key.
type lockKey struct {
	schema  uint32
	account int32
}

// lease is a hold on one account: its lock, on its own connection.
//
// Every write runs in a transaction on that connection, the lock's own
// session: when the session is gone (the database restarted, the
// connection was cut or terminated), so is the lock, and the lease can
// write nothing until it takes the lock back on a new connection. It does
// so only if the lock is free and the account's generation is the one it
// acquired: if another holder took the account in between, the lease is
// lost for good.
type lease struct {
	s       *Store
	account string
	key     lockKey

	mu         sync.Mutex // serializes writes, and guards conn and session
	conn       *sqlx.Conn // nil while the connection is lost
	session    session    // the backend of conn: its pid and start
	generation int64

	// lost is set once the lease is released or lost; reads check it
	// without waiting for a write in progress.
	lost atomic.Pointer[store.AccountError]
}

// session identifies a server process: pids are reused, (pid, start) is
// not.
type session struct {
	pid   int
	start time.Time
}

// AccountID is the account the lease holds.
func (l *lease) AccountID() string { return l.account }

// lock tries the account's lock on conn, and returns conn's session.
func (l *lease) lock(ctx context.Context, conn *sqlx.Conn) (held bool, sess session, err error) {
	err = conn.QueryRowxContext(ctx, `SELECT pg_try_advisory_lock($1, $2), pg_backend_pid(),
			(SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())`,
		int32(l.key.schema), l.key.account).Scan(&held, &sess.pid, &sess.start)
	return held, sess, err
}

// unlock frees the lock held on conn and returns conn to the pool, or
// discards conn, which ends its session and frees the lock that way.
func (l *lease) unlock(conn *sqlx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var freed bool
	if err := conn.GetContext(ctx, &freed, "SELECT pg_advisory_unlock($1, $2)", int32(l.key.schema), l.key.account); err != nil || !freed {
		discard(conn)
		return
	}
	conn.Close()
}

// discard closes conn instead of returning it to the pool.
func discard(conn *sqlx.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// lose marks the lease lost, for reason, and returns the error every call
// now returns.
func (l *lease) lose(reason string) error {
	err := &store.AccountError{AccountID: l.account, Err: store.ErrAccountLost, Reason: reason}
	l.lost.Store(err)
	return err
}

// lostErr returns the error of a lease released or lost, or nil.
func (l *lease) lostErr() error {
	if err := l.lost.Load(); err != nil {
		return err
	}
	return nil
}

// reattach takes the account back on a new connection after the lease's
// was lost, if nobody took it in between. l.mu is held.
func (l *lease) reattach(ctx context.Context) error {
	conn, err := l.s.db.Connx(ctx)
	if err != nil {
		return classify(ctx, "reconnect", err)
	}
	held, sess, err := l.lock(ctx, conn)
	if err == nil && !held {
		// The lost session may still be ending, or still alive on the
		// other side of a broken connection: end it, it is of no use.
		var holder session
		err = conn.QueryRowxContext(ctx, `SELECT a.pid, a.backend_start FROM pg_locks k
				JOIN pg_stat_activity a ON a.pid = k.pid
				WHERE k.locktype = 'advisory' AND k.classid = $1::bigint::oid AND k.objid = $2::bigint::oid
					AND k.objsubid = 2 AND k.granted
					AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			int64(l.key.schema), int64(l.key.account)).Scan(&holder.pid, &holder.start)
		switch {
		case errors.Is(err, sql.ErrNoRows): // freed meanwhile
			held, sess, err = l.lock(ctx, conn)
		case err == nil && holder.pid == l.session.pid && holder.start.Equal(l.session.start):
			if _, err = conn.ExecContext(ctx, "SELECT pg_terminate_backend($1, 5000)", holder.pid); err == nil {
				held, sess, err = l.lock(ctx, conn)
			}
		}
	}
	if err != nil {
		discard(conn)
		return classify(ctx, "reconnect", err)
	}
	if !held {
		conn.Close()
		return l.lose("another holder took the account while this lease's connection was down")
	}
	var generation int64
	if err := conn.GetContext(ctx, &generation, l.s.q.generation, l.account); err != nil {
		l.unlock(conn)
		return classify(ctx, "reconnect", err)
	}
	if generation != l.generation {
		l.unlock(conn)
		return l.lose(fmt.Sprintf("another holder took the account while this lease's connection was down (generation %d, this lease's %d)",
			generation, l.generation))
	}
	l.conn, l.session = conn, sess
	return nil
}

// detach drops the lease's connection, whose session is gone or going.
func (l *lease) detach() {
	if l.conn != nil {
		discard(l.conn)
		l.conn = nil
	}
}

// write runs fn in one transaction on the lease's connection, taking the
// account back on a new connection first if it was lost. A connection
// found dead before the transaction could commit is replaced once, and fn
// run again on the new one: nothing of the first attempt was written. A
// connection that died while committing leaves the outcome unknown: the
// error wraps store.ErrUnavailable.
func (l *lease) write(ctx context.Context, op string, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lostErr(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return classify(ctx, op, err)
	}
	for retried := false; ; retried = true {
		reused := l.conn != nil
		if !reused {
			if err := l.reattach(ctx); err != nil {
				return err
			}
		}
		committing, err := l.inTx(ctx, fn)
		if err == nil {
			return nil
		}
		if sqlState(err) == "57014" && hasDeadline(ctx) {
			// The statement_timeout inTx set: the attempt's deadline.
			return fmt.Errorf("postgres: %s: %w: %w: %w", op, store.ErrUnavailable, context.DeadlineExceeded, err)
		}
		if ctx.Err() != nil || !connectionLost(err) {
			return classify(ctx, op, err)
		}
		l.detach()
		if committing || !reused || retried {
			return classify(ctx, op, err)
		}
	}
}

// inTx runs fn in a transaction on l.conn and commits it; committing
// reports whether the commit was sent.
//
// lib/pq marks a connection bad when a context ends a query on it: the
// lease's session, and its lock, would end with it. So a deadline of ctx
// is first enforced by the server, with a statement_timeout a little
// short of it, which leaves the session as it was; ctx itself is the
// backstop for a server that does not answer at all.
func (l *lease) inTx(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) (committing bool, err error) {
	tx, err := l.conn.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		left -= min(left/10, time.Second)
		if left < time.Millisecond {
			tx.Rollback()
			return false, context.DeadlineExceeded
		}
		if _, err := tx.ExecContext(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(left.Milliseconds(), 10)); err != nil {
			tx.Rollback()
			return false, err
		}
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return false, err
	}
	return true, tx.Commit()
}

func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

// read checks that the lease still holds the account, for a read: reads
// go to the pool, and need no fence.
func (l *lease) read(ctx context.Context, op string) error {
	if err := l.lostErr(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return classify(ctx, op, err)
	}
	return nil
}

// SyncedSince returns those of ids whose stored SyncedAt is at or after
// since, each once. It asks the pool, BatchSize ids at a time.
func (l *lease) SyncedSince(ctx context.Context, ids []string, since time.Time) ([]string, error) {
	if err := l.read(ctx, "synced since"); err != nil {
		return nil, err
	}
	return l.s.syncedSince(ctx, l.account, ids, since)
}

// DeadLetters returns a page of the account's dead letters that are not
// retired.
func (l *lease) DeadLetters(ctx context.Context, after string, limit int) ([]store.DeadLetter, error) {
	if err := l.read(ctx, "dead letters"); err != nil {
		return nil, err
	}
	return l.s.deadLetters(ctx, l.s.q.activeDeadLetters, l.account, after, limit, false)
}

// State returns the account's handover state.
func (l *lease) State(ctx context.Context) (store.AccountState, error) {
	if err := l.read(ctx, "state"); err != nil {
		return store.AccountState{}, err
	}
	var row struct {
		Data    []byte       `db:"state"`
		SavedAt sql.NullTime `db:"state_saved_at"`
	}
	if err := l.s.db.GetContext(ctx, &row, l.s.q.state, l.account); err != nil {
		return store.AccountState{}, classify(ctx, "state", err)
	}
	return store.AccountState{Data: row.Data, SavedAt: utcTime(row.SavedAt)}, nil
}

// Release frees the account. It is idempotent, and works with a cancelled
// ctx: it is what a stopping process does last.
func (l *lease) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.unlock(l.conn)
		l.conn = nil
	}
	l.lose("the lease was released")
	return nil
}
