package postgres

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for the zero values of [Options].
const (
	DefaultBatchSize    = 1000
	DefaultMaxRetries   = 3
	DefaultRetryWaitMin = 50 * time.Millisecond
	DefaultRetryWaitMax = 2 * time.Second
)

// maxIdentifierLength is PostgreSQL's NAMEDATALEN-1: a longer name would be
// silently truncated, and the store would work in a schema it was not told.
const maxIdentifierLength = 63

// Options configure a [Store]. The zero value is valid: every field has a
// default.
type Options struct {
	// Schema is the schema the store's tables live in. "" uses the
	// connection's current schema (the first existing schema of its
	// search_path) through unqualified names; any other value qualifies
	// every table name with it, quoted, and Migrate creates the schema if
	// it is missing. It may be any name up to 63 bytes of valid UTF-8
	// without NUL.
	Schema string

	// BatchSize is how many campaigns one transaction of Upsert writes,
	// and how many ids SyncedSince asks at once (default 1000). It bounds
	// the memory and the time of one round trip; larger batches are not
	// faster.
	BatchSize int

	// Logger receives retries, rejections and migrations. nil is silent.
	Logger *slog.Logger

	// MaxRetries is how many times an operation of the plain methods
	// (Upsert, Get, Migrate, the operator's view) that failed for a
	// transient reason (connection lost, server restarting, serialization
	// failure, deadlock) is retried. 0 means DefaultMaxRetries; -1 means
	// never. A lease's calls are never retried: they make one attempt, and
	// their caller retries what wraps store.ErrUnavailable.
	MaxRetries int

	// RetryWaitMin and RetryWaitMax bound the wait before a retry: it
	// doubles from RetryWaitMin up to RetryWaitMax, with jitter. 0 means
	// DefaultRetryWaitMin and DefaultRetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
}

// withDefaults validates o and fills in its defaults. Errors name the
// offending field.
func (o Options) withDefaults() (Options, error) {
	if err := validSchemaName(o.Schema); err != nil {
		return o, fmt.Errorf("postgres: Options.Schema %w", err)
	}
	switch {
	case o.BatchSize < 0:
		return o, fmt.Errorf("postgres: Options.BatchSize must not be negative, got %d", o.BatchSize)
	case o.BatchSize == 0:
		o.BatchSize = DefaultBatchSize
	}
	switch {
	case o.MaxRetries < -1:
		return o, fmt.Errorf("postgres: Options.MaxRetries must be -1 (never), 0 (default) or positive, got %d", o.MaxRetries)
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries == -1:
		o.MaxRetries = 0
	}
	if o.RetryWaitMin < 0 {
		return o, fmt.Errorf("postgres: Options.RetryWaitMin must not be negative, got %v", o.RetryWaitMin)
	}
	if o.RetryWaitMax < 0 {
		return o, fmt.Errorf("postgres: Options.RetryWaitMax must not be negative, got %v", o.RetryWaitMax)
	}
	if o.RetryWaitMin == 0 {
		o.RetryWaitMin = DefaultRetryWaitMin
	}
	if o.RetryWaitMax == 0 {
		o.RetryWaitMax = max(DefaultRetryWaitMax, o.RetryWaitMin)
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		return o, fmt.Errorf("postgres: Options.RetryWaitMax (%v) is less than Options.RetryWaitMin (%v)", o.RetryWaitMax, o.RetryWaitMin)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func validSchemaName(s string) error {
	switch {
	case s == "":
		return nil
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("contains a NUL byte")
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	case len(s) > maxIdentifierLength:
		return fmt.Errorf("is longer than %d bytes (%d): PostgreSQL would truncate it", maxIdentifierLength, len(s))
	}
	return nil
}
