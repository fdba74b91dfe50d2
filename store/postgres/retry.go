package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/adsync/adsync/store"
)

// retry runs op until it succeeds, fails for a reason that is not
// transient, or has been tried 1 + Options.MaxRetries times, waiting a
// capped, jittered, doubling backoff between attempts. A cancelled ctx ends
// it with ctx's error; exhausted retries end it with an error wrapping
// store.ErrUnavailable. Every op is one transaction, so retrying it whole is
// safe.
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
				return fmt.Errorf("postgres: %s: %w", what, ctx.Err())
			case <-t.C:
			}
		}
		err = op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("postgres: %s: %w", what, ctx.Err())
		}
		if !isTransient(err) {
			return err
		}
	}
}

// backoff returns the wait before retry number attempt+1: RetryWaitMin
// doubled attempt times, capped at RetryWaitMax, then jittered down by up
// to half so that stores retrying together spread out.
func (s *Store) backoff(attempt int) time.Duration {
	d := s.opts.RetryWaitMin
	for i := 0; i < attempt && d < s.opts.RetryWaitMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryWaitMax)
	half := d / 2
	return half + rand.N(half+1)
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
