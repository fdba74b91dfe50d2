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

	// ErrUnavailable is wrapped by errors that mean the store could not be
	// reached or failed as a whole (connection lost, database shut down,
	// retries exhausted). The operation may succeed if tried again later.
	ErrUnavailable = errors.New("store: unavailable")

	// ErrNotFound is wrapped by errors for a campaign or run that does not
	// exist.
	ErrNotFound = errors.New("store: not found")
)

// RecordError is one campaign a store rejected, and why. None of its fields
// was written.
type RecordError struct {
	// ID is the campaign's id (possibly invalid itself: it is what the
	// caller gave).
	ID string
	// Index is the campaign's position in the batch given to Upsert.
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

// BatchError reports the campaigns of an Upsert batch that were rejected.
// Every campaign of the batch not listed here was stored.
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
