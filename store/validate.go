package store

import (
	"crypto/rand"
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
// byte. The id must not be empty nor longer than [MaxIDBytes]; the budget
// must be in the plain decimal notation documented on [Campaign.Budget],
// within PostgreSQL's numeric limits; times must fall in the years 1 to
// 9999.
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
	}{{"created_at", c.CreatedAt}, {"synced_at", c.SyncedAt}, {"listed_at", c.ListedAt}} {
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

// ValidateText reports whether s can be stored as text by every store:
// valid UTF-8 without NUL bytes. It is the rule of every id, cursor and
// text field; Campaign.Validate and ValidateAccountID apply it.
func ValidateText(s string) error {
	if p := textProblem(s); p != "" {
		return errors.New("store: text " + p)
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
	c.ListedAt = normalizeTime(c.ListedAt)
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
// but SyncedAt, ListedAt and UpdatedAt, times compared as instants.
func SameContent(a, b Campaign) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Status == b.Status && a.Budget == b.Budget &&
		a.Impressions == b.Impressions && a.Clicks == b.Clicks && a.Conversions == b.Conversions &&
		a.CreatedAt.Equal(b.CreatedAt)
}

// Prepare checks a batch for a write: it validates every campaign, and of
// several valid copies of one id keeps the one listed last (by ListedAt, a
// zero ListedAt being now; of copies listed at the same time, the later in
// the batch). It returns the positions of the campaigns to write, one per
// id, in the order the ids first appear, and the invalid campaigns, each
// with its position. Every store applies it, so that they all write and
// reject the same campaigns.
func Prepare(campaigns []Campaign, now time.Time) (keep []int, rejected []*RecordError) {
	now = normalizeTime(now)
	listed := func(c *Campaign) time.Time {
		if c.ListedAt.IsZero() {
			return now
		}
		return normalizeTime(c.ListedAt)
	}
	keep = make([]int, 0, len(campaigns))
	at := make(map[string]int, len(campaigns)) // id → its position in keep
	for i := range campaigns {
		c := &campaigns[i]
		if rec := c.reject(); rec != nil {
			rec.Index = i
			rejected = append(rejected, rec)
			continue
		}
		j, dup := at[c.ID]
		switch {
		case !dup:
			at[c.ID] = len(keep)
			keep = append(keep, i)
		case !listed(c).Before(listed(&campaigns[keep[j]])):
			keep[j] = i
		}
	}
	return keep, rejected
}

// reject is Validate's *RecordError, or nil.
func (c *Campaign) reject() *RecordError {
	err := c.Validate()
	if err == nil {
		return nil
	}
	var rec *RecordError
	if !errors.As(err, &rec) {
		return &RecordError{ID: c.ID, Reason: err.Error()}
	}
	return rec
}

// Merge returns the row a store keeps when the valid campaign c is written
// over old, the stored row (the zero Campaign when there is none), at the
// store's time now; and whether the row changed, so must be written.
//
// The content (every field SameContent compares) is c's unless old was
// listed after c: newer content is never replaced by older. ListedAt and
// SyncedAt are the later of old's and c's (a zero ListedAt in c is now);
// UpdatedAt is now when the content changed (never before old's), and
// old's otherwise.
func Merge(old, c Campaign, now time.Time) (Campaign, bool) {
	c, now = c.Normalize(), normalizeTime(now)
	if c.ListedAt.IsZero() {
		c.ListedAt = now
	}
	if old.ID == "" {
		c.UpdatedAt = now
		return c, true
	}
	row, changed := old, false
	if !c.ListedAt.Before(old.ListedAt) {
		if !SameContent(old, c) {
			row = c
			row.SyncedAt, row.UpdatedAt = old.SyncedAt, later(now, old.UpdatedAt)
			changed = true
		}
		if c.ListedAt.After(old.ListedAt) {
			row.ListedAt = c.ListedAt
			changed = true
		}
	}
	if c.SyncedAt.After(old.SyncedAt) {
		row.SyncedAt = c.SyncedAt
		changed = true
	}
	return row, changed
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// Validate reports whether b can be committed, before anything is
// written: RunID, the dead letters' CampaignID and RunID and the Resolved
// and Retired ids must be valid text (see ValidateText), not empty; the
// counts not negative; Finish's Status final. The first problem is
// returned as an error naming the field. Campaigns that cannot be stored
// are returned as a *BatchError listing every one of them.
func (b Batch) Validate() error {
	if b.RunID == "" {
		return errors.New("store: Batch.RunID is empty")
	}
	if p := textProblem(b.RunID); p != "" {
		return errors.New("store: Batch.RunID " + p)
	}
	for i, l := range b.DeadLetters {
		if err := idProblem(l.CampaignID); err != "" {
			return fmt.Errorf("store: Batch.DeadLetters[%d].CampaignID %s", i, err)
		}
		if p := textProblem(l.RunID); p != "" {
			return fmt.Errorf("store: Batch.DeadLetters[%d].RunID %s", i, p)
		}
	}
	for i, id := range b.Resolved {
		if err := idProblem(id); err != "" {
			return fmt.Errorf("store: Batch.Resolved[%d] %s", i, err)
		}
	}
	for i, r := range b.Retired {
		if err := idProblem(r.CampaignID); err != "" {
			return fmt.Errorf("store: Batch.Retired[%d].CampaignID %s", i, err)
		}
	}
	p := b.Progress
	if p.Seen < 0 || p.Synced < 0 || p.Skipped < 0 || p.Failed < 0 {
		return fmt.Errorf("store: Batch.Progress has a negative count: %+v", p)
	}
	if f := b.Finish; f != nil {
		switch f.Status {
		case RunCompleted, RunInterrupted, RunFailed:
		default:
			return fmt.Errorf("store: Batch.Finish.Status %q is not a final status (%q, %q or %q)",
				f.Status, RunCompleted, RunInterrupted, RunFailed)
		}
	}
	var rejected []*RecordError
	for i := range b.Campaigns {
		if rec := b.Campaigns[i].reject(); rec != nil {
			rec.Index = i
			rejected = append(rejected, rec)
		}
	}
	if len(rejected) > 0 {
		return &BatchError{Rejected: rejected}
	}
	return nil
}

// idProblem says what is wrong with a dead letter's campaign id, or "".
func idProblem(id string) string {
	if id == "" {
		return "is empty"
	}
	return textProblem(id)
}

// Normalize returns b as a store records it (b's slices are not changed):
// its dead letters carry the batch's RunID when they have none, and the
// texts a store keeps as messages (letters' Error, retirements' Reason,
// Finish.Error) have NUL bytes and invalid UTF-8 replaced by U+FFFD, so
// that an error message never makes its record unstorable. Data is never
// changed.
func (b Batch) Normalize() Batch {
	if len(b.DeadLetters) > 0 {
		letters := make([]DeadLetter, len(b.DeadLetters))
		for i, l := range b.DeadLetters {
			if l.RunID == "" {
				l.RunID = b.RunID
			}
			l.Error = cleanText(l.Error)
			letters[i] = l
		}
		b.DeadLetters = letters
	}
	if len(b.Retired) > 0 {
		retired := make([]Retirement, len(b.Retired))
		for i, r := range b.Retired {
			r.Reason = cleanText(r.Reason)
			retired[i] = r
		}
		b.Retired = retired
	}
	if b.Finish != nil {
		f := *b.Finish
		f.Error = cleanText(f.Error)
		b.Finish = &f
	}
	return b
}

// cleanText replaces NUL bytes and invalid UTF-8 with U+FFFD.
func cleanText(s string) string {
	if textProblem(s) == "" {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// NewRunID returns a new run id: 26 characters of base32, 130 random bits
// from crypto/rand, so that run ids are unique and cannot be guessed.
func NewRunID() string { return rand.Text() }

// WhyNotResume says why StartRun must not resume the account's unfinished
// sync run r at the time now, given opts: a fresh run was asked for, or r
// started longer ago than opts.MaxResumeAge allows. It returns "" when r
// is to be resumed. Every store applies it.
func WhyNotResume(r Run, opts StartOptions, now time.Time) string {
	if opts.Fresh {
		return "a fresh run was asked for"
	}
	limit := opts.MaxResumeAge
	if limit == 0 {
		limit = DefaultMaxResumeAge
	}
	if age := now.Sub(r.StartedAt); limit > 0 && age > limit {
		return fmt.Sprintf("it started %s ago, longer ago than a run is resumed (MaxResumeAge %s)",
			age.Round(time.Second), limit)
	}
	return ""
}

// DefaultRunLimit is the page size of RunQuery when Limit is 0.
const DefaultRunLimit = 100

// Normalize returns q with its default Limit, or an error naming a field
// that is not valid.
func (q RunQuery) Normalize() (RunQuery, error) {
	switch {
	case q.Limit < 0:
		return q, fmt.Errorf("store: RunQuery.Limit must not be negative, got %d", q.Limit)
	case q.Limit == 0:
		q.Limit = DefaultRunLimit
	}
	switch q.Kind {
	case "", KindSync, KindRetry:
	default:
		return q, fmt.Errorf("store: RunQuery.Kind %q is not %q or %q", q.Kind, KindSync, KindRetry)
	}
	if p := textProblem(q.Before); p != "" {
		return q, errors.New("store: RunQuery.Before " + p)
	}
	return q, nil
}

// Normalize returns opts with its default Kind, or an error naming a
// field that is not valid.
func (o StartOptions) Normalize() (StartOptions, error) {
	switch o.Kind {
	case "":
		o.Kind = KindSync
	case KindSync, KindRetry:
	default:
		return o, fmt.Errorf("store: StartOptions.Kind %q is not %q or %q", o.Kind, KindSync, KindRetry)
	}
	return o, nil
}
