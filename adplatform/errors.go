package adplatform

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// OptionError is New's error for an Options field that is not valid. It
// names the field as Options spells it (e.g. "RateWindow"), so that a
// program can tell its user which of its own settings is at fault.
type OptionError struct {
	Field string
	Err   error
}

func (e *OptionError) Error() string { return "adplatform: Options." + e.Field + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// APIError is a response the platform answered with a status adsync does
// not treat more specifically: a 4xx, or a 5xx that was still failing after
// the retries. Message is a short, sanitized excerpt of the body, never the
// whole body.
type APIError struct {
	Endpoint   Endpoint
	StatusCode int
	// Code is the body's "error" field (e.g. "Service temporarily
	// unavailable"), if it had one.
	Code string
	// Message is a short excerpt of the body's "message" field, or of the
	// body itself when it was not the platform's JSON error shape.
	Message string
	// Attempts is how many times the request was sent.
	Attempts int
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "adplatform: %s: HTTP %d", e.Endpoint, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Temporary reports whether the failure is worth retrying later: a 5xx or a
// 408.
func (e *APIError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == 408
}

// RateLimitError reports that the platform asked the client to wait longer
// than it was allowed to (see Options.MaxRateLimitWait), or kept answering
// 429 past the retries allowed. RetryAfter is what the platform asked for;
// the caller decides whether to wait that long.
type RateLimitError struct {
	Endpoint Endpoint
	// RetryAfter is the wait the platform asked for, from when it asked.
	RetryAfter time.Duration
	// Until is when the platform will take requests again. Until then the
	// client sends nothing: calls fail at once with this error.
	Until time.Time
	// Attempts is how many times the request was sent (0: the call failed
	// without a request, because the platform had already said to wait).
	Attempts int
}

func (e *RateLimitError) Error() string {
	msg := fmt.Sprintf("adplatform: %s: rate limited: the platform asks to wait %s", e.Endpoint, e.RetryAfter.Round(time.Millisecond))
	if !e.Until.IsZero() {
		msg += ", until " + e.Until.UTC().Format(time.RFC3339)
	}
	switch e.Attempts {
	case 0:
		msg += " (not sent)"
	case 1:
	default:
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return msg
}

// AuthError reports that the platform refused the credentials, or refused
// a freshly issued token. It never carries the credentials, the
// Authorization header or the token.
type AuthError struct {
	Endpoint   Endpoint
	StatusCode int
	// Reason is the platform's short reason ("Invalid credentials",
	// "Token expired"), or adsync's own when no request was made.
	Reason string
	// Err is an underlying cause, such as the credentials provider's error.
	Err error
}

func (e *AuthError) Error() string {
	msg := "adplatform: " + string(e.Endpoint) + ": authentication failed"
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *AuthError) Unwrap() error { return e.Err }

// ErrMalformedResponse is wrapped by a *[DecodeError] whose response body
// is not well-formed JSON or was cut short: the body may have been
// truncated in transfer, so retrying may help. A *DecodeError without it
// reports a body that is well-formed but breaks the contract (a missing
// field, a value of the wrong type), which retrying does not change. Test
// it with errors.Is. It is never in a [*RecordError]: a listing that
// could be followed yields its broken records, which stay broken.
var ErrMalformedResponse = errors.New("adplatform: malformed or truncated response body")

// DecodeError reports a response, or a field of one, that is not what the
// contract promises: malformed JSON (wrapping [ErrMalformedResponse]), a
// body over the size limit, a missing field or a value of the wrong type.
// Field names the offending JSON field when there is one.
type DecodeError struct {
	Endpoint Endpoint
	Field    string
	Err      error
}

func (e *DecodeError) Error() string {
	msg := "adplatform: "
	if e.Endpoint != "" {
		msg += string(e.Endpoint) + ": "
	}
	msg += "decode response"
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	return msg + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// malformedBody is the *DecodeError of a body that is not well-formed
// JSON; detail says where, never what.
func malformedBody(ep Endpoint, field, detail string) *DecodeError {
	return &DecodeError{Endpoint: ep, Field: field, Err: &malformedError{detail}}
}

type malformedError struct{ detail string }

func (e *malformedError) Error() string        { return "malformed or truncated body: " + e.detail }
func (e *malformedError) Is(target error) bool { return target == ErrMalformedResponse }

// RecordError reports one campaign record of a listed page that could not
// be decoded. The rest of the page is unaffected: iteration goes on past a
// RecordError, and the record's raw bytes are kept so that nothing is lost.
type RecordError struct {
	// Page and Index locate the record: the page number and its position
	// in the page's data array (empty elements, as in [a,,b], not counted).
	Page, Index int
	// ID is the record's id when it had a usable one, else "": a string
	// "id" that parsed before whatever broke the record.
	ID string
	// Raw is the record exactly as the platform sent it, byte for byte. It
	// is not valid JSON when the record is what broke the page's JSON (a
	// raw control byte in a string, say).
	Raw json.RawMessage
	// Err is the *DecodeError that names the field.
	Err error
}

func (e *RecordError) Error() string {
	id := e.ID
	if id == "" {
		id = "(no id)"
	}
	return fmt.Sprintf("adplatform: page %d record %d, campaign %q: %v", e.Page, e.Index, id, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
