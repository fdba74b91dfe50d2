package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/adsync/adsync/internal/backoff"
	"github.com/adsync/adsync/store"
)

// retry runs op until it succeeds, fails for a reason that is not
// transient, or has been tried 1 + Options.MaxRetries times, waiting a
// capped, jittered, doubling backoff between attempts. A cancelled ctx ends
// it with ctx's error; exhausted retries end it with an error wrapping
// store.ErrUnavailable. Every op is one transaction, so retrying it whole is
// safe.
//
// Only the methods of the plain path retry (Upsert, Get, the operator's
// view): a lease makes one attempt per call, so that its caller's retry
// loop is the only one.
func (s *Store) retry(ctx context.Context, what string, op func(context.Context) error) error {
	return s.retryAfter(ctx, what, 0, nil, op)
}

// retryAfter is retry for an operation already tried tried times, the last
// failing with lastErr (transient): it waits, then goes on with the
// attempts left.
func (s *Store) retryAfter(ctx context.Context, what string, tried int, lastErr error, op func(context.Context) error) error {
	err := lastErr
	for attempt := tried; ; attempt++ {
		if attempt > 0 {
			if attempt > s.opts.MaxRetries {
				return fmt.Errorf("postgres: %s: %w after %d attempt(s): %w", what, store.ErrUnavailable, attempt, err)
			}
			wait := s.backoff(attempt - 1)
			s.log.WarnContext(ctx, "postgres: transient failure, retrying",
				"op", what, "attempt", attempt, "wait", wait, "sqlstate", sqlState(err), "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return classify(ctx, what, ctx.Err())
			case <-t.C:
			}
		}
		err = op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !isTransient(err) {
			return classify(ctx, what, err)
		}
	}
}

// backoff returns the wait before retry number attempt+1: the module's
// one backoff (capped exponential from RetryWaitMin to RetryWaitMax, full
// jitter), so that stores retrying together spread out.
func (s *Store) backoff(attempt int) time.Duration {
	return backoff.Jittered(s.opts.RetryWaitMin, s.opts.RetryWaitMax, attempt)
}

// transientCode reports whether a SQLSTATE means the same transaction may
// well succeed if tried again: the server shutting down or starting
// (57P01-57P03), too many connections (53300), serialization failure
// (40001), deadlock (40P01), or any connection exception (class 08).
func transientCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300", "40001", "40P01":
		return true
	}
	return len(code) == 5 && code[:2] == "08"
}

// isTransient reports whether err means "try again": the connection was
// lost or refused, or PostgreSQL answered with a transient SQLSTATE.
func isTransient(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return transientCode(string(pqErr.Code))
	}
	return connectionLost(err)
}

// connectionLost reports whether err means the session is gone: the
// connection was lost, reset or refused, or the server ended it (SQLSTATE
// class 08, 57P01-57P03). A lease must then take its lock again on a new
// connection.
func connectionLost(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		return code == "57P01" || code == "57P02" || code == "57P03" || code[:2] == "08"
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	// Dial failures, resets and timeouts of the socket itself.
	var netErr net.Error
	return errors.As(err, &netErr)
}

// classify wraps an error of one attempt at op for the caller: an error
// that may pass if the call is made again (a transient failure, or the
// attempt's context deadline) wraps store.ErrUnavailable; a cancelled
// context wraps context.Canceled; anything else is permanent.
func classify(ctx context.Context, op string, err error) error {
	var batch *store.BatchError
	var account *store.AccountError
	switch {
	case err == nil, errors.As(err, &batch), errors.As(err, &account), errors.Is(err, store.ErrUnavailable):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	case isTransient(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// sqlState returns the SQLSTATE of a PostgreSQL error, or "".
func sqlState(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return string(pqErr.Code)
	}
	return ""
}

// isDataError reports whether PostgreSQL refused the data itself: SQLSTATE
// class 22 (data exception) or 23 (integrity constraint violation). Those
// are the errors Upsert isolates to the records that cause them.
func isDataError(err error) (*pq.Error, bool) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return nil, false
	}
	class := pqErr.Code.Class()
	return pqErr, class == "22" || class == "23"
}
