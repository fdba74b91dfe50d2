package store

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrRejected is matched (errors.Is) by errors that report records a
	// store refused: a *RecordError, or a *BatchError listing them.
	ErrRejected = errors.New("store: record rejected")

	// ErrUnavailable is wrapped by every error that may pass if the same
	// call is made again later: the database unreachable, shutting down
	// or starting, a lost connection, a serialization failure or
	// deadlock, the call's context deadline, retries exhausted. It is the
	// one rule a retry loop needs; every other error is permanent (a
	// cancelled context wraps context.Canceled, and not this).
	ErrUnavailable = errors.New("store: unavailable")

	// ErrNotFound is wrapped by errors for a campaign, run or dead letter
	// that does not exist.
	ErrNotFound = errors.New("store: not found")

	// ErrAccountBusy is matched by the *AccountError of an Acquire whose
	// account another holder has.
	ErrAccountBusy = errors.New("store: account busy")

	// ErrAccountLost is matched by the *AccountError of every call of a
	// lease that was released, or lost: its connection died and another
	// holder took the account meanwhile. It is permanent: the holder must
	// stop writing.
	ErrAccountLost = errors.New("store: account lost")
)

// AccountError says that an account is busy (Err is ErrAccountBusy) or was
// lost (Err is ErrAccountLost), and why.
type AccountError struct {
	AccountID string
	// Err is ErrAccountBusy or ErrAccountLost.
	Err error
	// Reason says why, e.g. "another holder has it since ...".
	Reason string
}

func (e *AccountError) Error() string {
	what := "is busy"
	if e.Err == ErrAccountLost {
		what = "was lost"
	}
	msg := fmt.Sprintf("store: account %q %s", e.AccountID, what)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Unwrap returns Err, so that errors.Is(err, ErrAccountBusy) or
// errors.Is(err, ErrAccountLost) tells them apart.
func (e *AccountError) Unwrap() error { return e.Err }

// RecordError is one campaign a store rejected, and why. None of its fields
// was written.
type RecordError struct {
	// ID is the campaign's id (possibly invalid itself: it is what the
	// caller gave).
	ID string
	// Index is the campaign's position in the batch given to Upsert or
	// in Batch.Campaigns.
	Index int
	// Field names the offending field ("name", "budget", ...), or "" when
	// the reason concerns the whole record.
	Field string
	// Reason says what is wrong, without echoing the offending value.
	Reason string
}

func (e *RecordError) Error() string {
	msg := fmt.Sprintf("store: campaign %q rejected", e.ID)
	if e.Field != "" {
		msg += ": " + e.Field
	}
	return msg + ": " + e.Reason
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RecordError) Is(target error) bool { return target == ErrRejected }

// BatchError reports the campaigns of a batch that were rejected. After
// Upsert, every campaign of the batch not listed here was stored; after
// Lease.Commit, nothing of the batch was.
type BatchError struct {
	Rejected []*RecordError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: %d campaign(s) rejected", len(e.Rejected))
	for i, r := range e.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Rejected)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(strings.TrimPrefix(r.Error(), "store: "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *BatchError) Is(target error) bool { return target == ErrRejected }

// Unwrap returns the individual *RecordError values, so that errors.As
// finds the first of them.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Rejected))
	for i, r := range e.Rejected {
		errs[i] = r
	}
	return errs
}
