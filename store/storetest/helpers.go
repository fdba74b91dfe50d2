package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// The accounts most rules use.
const (
	acctA = "acct-a"
	acctB = "acct-b"
)

// clockSkew bounds how far a time the store sets (UpdatedAt, StartedAt,
// FailedAt) may be from the test's clock: generous, because a database
// server keeps its own clock, yet far closer than any value a caller passed.
const clockSkew = time.Hour

// sampleListedAt is the ListedAt of sample campaigns: writes of them are
// all listed at the same time, so that the last write wins.
func sampleListedAt() time.Time {
	return time.Date(2025, 2, 3, 4, 5, 6, 700000800, time.FixedZone("+02:00", 2*3600))
}

// sample returns a campaign with every field set, and times that are not
// in UTC and not on a microsecond, so that a store that skips Normalize
// shows it.
func sample(id string) store.Campaign {
	return store.Campaign{
		ID:          id,
		Name:        "Campaign " + id,
		Status:      "ACTIVE",
		Budget:      "1100.50",
		Impressions: 120000,
		Clicks:      3400,
		Conversions: 56,
		CreatedAt:   time.Date(2024, 3, 10, 12, 30, 45, 123456789, time.FixedZone("+05:30", 5*3600+1800)),
		SyncedAt:    time.Date(2025, 1, 2, 3, 4, 5, 600000700, time.FixedZone("-08:00", -8*3600)),
		ListedAt:    sampleListedAt(),
	}
}

// variedBatch returns n campaigns with ids prefix-0000, prefix-0001, ...:
// every third has no SyncedAt, every fourth no CreatedAt, and the numbers
// and budgets differ.
func variedBatch(prefix string, n int) []store.Campaign {
	budgets := []string{"0", "0.00", "1100.50", "-1.10", "99999999999999999999.99", "7"}
	cs := make([]store.Campaign, n)
	for i := range cs {
		c := sample(fmt.Sprintf("%s-%04d", prefix, i))
		c.Name = fmt.Sprintf("%s №%d ✓", prefix, i)
		c.Budget = budgets[i%len(budgets)]
		c.Impressions = int64(i) * 1_000_003
		c.Clicks = int64(i) * 7
		c.Conversions = -int64(i)
		c.CreatedAt = c.CreatedAt.Add(time.Duration(i) * time.Minute)
		c.SyncedAt = c.SyncedAt.Add(time.Duration(i) * time.Second)
		if i%3 == 0 {
			c.SyncedAt = time.Time{}
		}
		if i%4 == 0 {
			c.CreatedAt = time.Time{}
		}
		cs[i] = c
	}
	return cs
}

// ids returns the ids of cs.
func ids(cs []store.Campaign) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// quote quotes s for a message, shortened when long: a 1 MiB name must not
// flood the test log.
func quote(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:max]), len(s))
}

// errText is err's message, shortened: a store may echo a huge id.
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// textDiff describes how got differs from want, or returns "".
func textDiff(got, want string) string {
	if got == want {
		return ""
	}
	if len(got) <= 48 && len(want) <= 48 {
		if isASCII(got) && isASCII(want) {
			return fmt.Sprintf("got %s, want %s", strconv.Quote(got), strconv.Quote(want))
		}
		// Text that differs in its code points may look the same: show them.
		return fmt.Sprintf("got %s (%s), want %s (%s)",
			strconv.Quote(got), strconv.QuoteToASCII(got), strconv.Quote(want), strconv.QuoteToASCII(want))
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("got %d bytes, want %d bytes, first difference at byte %d: got %s, want %s",
		len(got), len(want), i, quote(got[i:min(len(got), i+16)]), quote(want[i:min(len(want), i+16)]))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// timeString formats t for a message, with its location when not UTC.
func timeString(t time.Time) string {
	if t.IsZero() {
		return "the zero time"
	}
	s := t.Format(time.RFC3339Nano)
	if t.Location() != time.UTC {
		s += fmt.Sprintf(" (location %q)", t.Location())
	}
	return s
}

// timeDiff describes how a time read back differs from want (the
// normalized time written), or returns "".
func timeDiff(got, want time.Time) string {
	switch {
	case want.IsZero() && !got.IsZero():
		return fmt.Sprintf("got %s, want the zero time", timeString(got))
	case !got.Equal(want):
		return fmt.Sprintf("got %s, want %s", timeString(got), timeString(want))
	case !got.IsZero() && got.Location() != time.UTC:
		return fmt.Sprintf("got %s, want it in UTC", timeString(got))
	}
	return ""
}

// storeTimeProblem says what is wrong with a time the store set itself, or
// returns "".
func storeTimeProblem(got time.Time) string {
	now := time.Now()
	switch {
	case got.IsZero():
		return "is the zero time: the store must set it"
	case got.Location() != time.UTC:
		return fmt.Sprintf("is %s, want it in UTC", timeString(got))
	case got.Nanosecond()%1000 != 0:
		return fmt.Sprintf("is %s, want it rounded to the microsecond", timeString(got))
	case got.Before(now.Add(-clockSkew)) || got.After(now.Add(clockSkew)):
		return fmt.Sprintf("is %s, far from the current time %s", timeString(got), timeString(now.UTC()))
	}
	return ""
}

// campaignDiffs lists how got differs from want.Normalize(), UpdatedAt
// aside; a zero ListedAt in want must read back as a time the store set.
func campaignDiffs(got, want store.Campaign) []string {
	want = want.Normalize()
	var d []string
	add := func(field, diff string) {
		if diff != "" {
			d = append(d, field+": "+diff)
		}
	}
	addInt := func(field string, got, want int64) {
		if got != want {
			add(field, fmt.Sprintf("got %d, want %d", got, want))
		}
	}
	add("ID", textDiff(got.ID, want.ID))
	add("Name", textDiff(got.Name, want.Name))
	add("Status", textDiff(got.Status, want.Status))
	add("Budget", textDiff(got.Budget, want.Budget))
	addInt("Impressions", got.Impressions, want.Impressions)
	addInt("Clicks", got.Clicks, want.Clicks)
	addInt("Conversions", got.Conversions, want.Conversions)
	add("CreatedAt", timeDiff(got.CreatedAt, want.CreatedAt))
	add("SyncedAt", timeDiff(got.SyncedAt, want.SyncedAt))
	if want.ListedAt.IsZero() {
		if p := storeTimeProblem(got.ListedAt); p != "" {
			add("ListedAt", p+" (written zero: the store's current time)")
		}
	} else {
		add("ListedAt", timeDiff(got.ListedAt, want.ListedAt))
	}
	return d
}

// rowDiffs lists how two reads of a row differ, ListedAt and UpdatedAt
// included.
func rowDiffs(got, want store.Campaign) []string {
	d := campaignDiffs(got, want)
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		d = append(d, fmt.Sprintf("UpdatedAt: got %s, want %s", timeString(got.UpdatedAt), timeString(want.UpdatedAt)))
	}
	return d
}

// valueDiffs lists the fields of a and b that are not the same values,
// times by their internal representation (location and monotonic reading
// included): what a caller passed must not change at all.
func valueDiffs(got, want store.Campaign) []string {
	var d []string
	text := func(field, got, want string) {
		if got != want {
			d = append(d, field+": "+textDiff(got, want))
		}
	}
	number := func(field string, got, want int64) {
		if got != want {
			d = append(d, fmt.Sprintf("%s: got %d, want %d", field, got, want))
		}
	}
	moment := func(field string, got, want time.Time) {
		if got != want {
			d = append(d, fmt.Sprintf("%s: got %s, want %s", field, got, want))
		}
	}
	text("ID", got.ID, want.ID)
	text("Name", got.Name, want.Name)
	text("Status", got.Status, want.Status)
	text("Budget", got.Budget, want.Budget)
	number("Impressions", got.Impressions, want.Impressions)
	number("Clicks", got.Clicks, want.Clicks)
	number("Conversions", got.Conversions, want.Conversions)
	moment("CreatedAt", got.CreatedAt, want.CreatedAt)
	moment("SyncedAt", got.SyncedAt, want.SyncedAt)
	moment("ListedAt", got.ListedAt, want.ListedAt)
	moment("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func joinDiffs(d []string) string { return "\n\t" + strings.Join(d, "\n\t") }

// upsert calls Upsert and fails the test when it returns an error.
func upsert(t *testing.T, s store.Store, accountID string, cs ...store.Campaign) {
	t.Helper()
	if err := s.Upsert(t.Context(), accountID, cs); err != nil {
		t.Fatalf("Upsert(account %s, %d campaign(s)) = %s; want nil", quote(accountID), len(cs), errText(err))
	}
}

// checkGet reads want.ID back and reports every field that differs from
// want.Normalize(), and an UpdatedAt the store did not set properly. when
// says at which step of the rule it reads.
func checkGet(t *testing.T, s store.Store, accountID string, want store.Campaign, when string) (store.Campaign, bool) {
	t.Helper()
	got, err := s.Get(t.Context(), accountID, want.ID)
	if err != nil {
		t.Errorf("Get(account %s, id %s) %s: %s; want the campaign", quote(accountID), quote(want.ID), when, errText(err))
		return got, false
	}
	ok := true
	if d := campaignDiffs(got, want); len(d) > 0 {
		t.Errorf("Get(account %s, id %s) %s: the campaign read back differs from the one written:%s",
			quote(accountID), quote(want.ID), when, joinDiffs(d))
		ok = false
	}
	if p := storeTimeProblem(got.UpdatedAt); p != "" {
		t.Errorf("Get(account %s, id %s) %s: UpdatedAt %s", quote(accountID), quote(want.ID), when, p)
		ok = false
	}
	return got, ok
}

// getRow reads a row for comparing it with another read.
func getRow(t *testing.T, s store.Store, accountID, id, when string) (store.Campaign, bool) {
	t.Helper()
	got, err := s.Get(t.Context(), accountID, id)
	if err != nil {
		t.Errorf("Get(account %s, id %s) %s: %s; want the campaign", quote(accountID), quote(id), when, errText(err))
		return got, false
	}
	return got, true
}

// checkUnchanged reads the row again and reports any difference from
// before, UpdatedAt included.
func checkUnchanged(t *testing.T, s store.Store, accountID string, before store.Campaign, when string) {
	t.Helper()
	got, ok := getRow(t, s, accountID, before.ID, when)
	if !ok {
		return
	}
	if d := rowDiffs(got, before); len(d) > 0 {
		t.Errorf("Get(account %s, id %s) %s: the row changed, want it untouched:%s", quote(accountID), quote(before.ID), when, joinDiffs(d))
	}
}

// expectNotFound checks that Get returns an error wrapping ErrNotFound.
func expectNotFound(t *testing.T, s store.Store, accountID, id, why string) {
	t.Helper()
	got, err := s.Get(t.Context(), accountID, id)
	switch {
	case err == nil:
		t.Errorf("Get(account %s, id %s) %s: found campaign %s; want an error wrapping store.ErrNotFound",
			quote(accountID), quote(id), why, quote(got.ID))
	case !errors.Is(err, store.ErrNotFound):
		t.Errorf("Get(account %s, id %s) %s: error %s does not wrap store.ErrNotFound", quote(accountID), quote(id), why, errText(err))
	}
}

// expectCanceled checks that err reports a cancelled context.
func expectCanceled(t *testing.T, call string, err error, want error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s with a context that is done returned no error; want one satisfying errors.Is(err, %v)", call, want)
	case !errors.Is(err, want):
		t.Errorf("%s with a context that is done: error %s does not satisfy errors.Is(err, %v)", call, errText(err), want)
	}
}

// cancelledContext returns a context that is already cancelled.
func cancelledContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
