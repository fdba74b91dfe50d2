package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of what a store accepts, shared by every implementation so that
// they accept and reject exactly the same campaigns.
const (
	// MaxBudgetIntegerDigits and MaxBudgetFractionDigits are PostgreSQL's
	// numeric limits.
	MaxBudgetIntegerDigits  = 131072
	MaxBudgetFractionDigits = 16383

	// MaxIDBytes bounds campaign and account ids. Ids are keys: a database
	// indexes them, and PostgreSQL refuses index entries over about 2.7 kB,
	// so (account id, campaign id) together must stay well under that.
	// Real platforms' ids are a few dozen bytes.
	MaxIDBytes = 1024
)

var (
	minTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// Validate reports whether c can be stored exactly. It returns a
// *RecordError (with Index 0) naming the first offending field, or nil.
//
// Text (id, name, status) must be valid UTF-8 without NUL bytes. adsync's
// policy for NUL is to reject and report the record rather than store a
// replacement: a replaced character would be a silent change of the data,
// while a rejected record is reported and kept as a dead letter, byte for
// byte. The id must not be empty nor longer than [MaxIDBytes]; the budget must be in the plain decimal
// notation documented on [Campaign.Budget], within PostgreSQL's numeric
// limits; times must fall in the years 1 to 9999.
func (c Campaign) Validate() error {
	reject := func(field, reason string) error {
		return &RecordError{ID: c.ID, Field: field, Reason: reason}
	}
	if c.ID == "" {
		return reject("id", "empty")
	}
	if len(c.ID) > MaxIDBytes {
		return reject("id", fmt.Sprintf("longer than %d bytes", MaxIDBytes))
	}
	for _, f := range []struct{ name, value string }{{"id", c.ID}, {"name", c.Name}, {"status", c.Status}} {
		if reason := textProblem(f.value); reason != "" {
			return reject(f.name, reason)
		}
	}
	if err := validDecimal(c.Budget); err != nil {
		return reject("budget", err.Error())
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", c.CreatedAt}, {"synced_at", c.SyncedAt}} {
		if !f.t.IsZero() && (f.t.Before(minTime) || f.t.After(maxTime)) {
			return reject(f.name, "outside the years 1 to 9999")
		}
	}
	return nil
}

// ValidateAccountID reports whether id can be used as an account id: the
// same rules as a campaign id.
func ValidateAccountID(id string) error {
	if id == "" {
		return errors.New("store: account id is empty")
	}
	if len(id) > MaxIDBytes {
		return fmt.Errorf("store: account id is longer than %d bytes", MaxIDBytes)
	}
	if reason := textProblem(id); reason != "" {
		return errors.New("store: account id " + reason)
	}
	return nil
}

func textProblem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL byte"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return ""
}

// validDecimal checks the plain decimal notation of Campaign.Budget:
// -?(0|[1-9][0-9]*)(\.[0-9]+)? and not a negative zero.
func validDecimal(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	digits := strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(digits, ".")
	switch {
	case intPart == "" || !allDigits(intPart) || (hasPoint && (frac == "" || !allDigits(frac))):
		return errors.New("not a plain decimal number")
	case len(intPart) > 1 && intPart[0] == '0':
		return errors.New("leading zero")
	case len(intPart) > MaxBudgetIntegerDigits || len(frac) > MaxBudgetFractionDigits:
		return errors.New("too many digits")
	case s[0] == '-' && strings.Trim(intPart+frac, "0") == "":
		return errors.New("negative zero")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Normalize returns c as a store keeps it: times in UTC and rounded to the
// microsecond (PostgreSQL's precision), and UpdatedAt cleared. Stores apply
// it before comparing or storing, so that every implementation returns
// the same values.
func (c Campaign) Normalize() Campaign {
	c.CreatedAt = normalizeTime(c.CreatedAt)
	c.SyncedAt = normalizeTime(c.SyncedAt)
	c.UpdatedAt = time.Time{}
	return c
}

func normalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Round(time.Microsecond).UTC()
}

// SameContent reports whether a and b have the same content: every field
// but SyncedAt and UpdatedAt, times compared as instants.
func SameContent(a, b Campaign) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Status == b.Status && a.Budget == b.Budget &&
		a.Impressions == b.Impressions && a.Clicks == b.Clicks && a.Conversions == b.Conversions &&
		a.CreatedAt.Equal(b.CreatedAt)
}
