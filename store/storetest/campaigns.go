package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// settle is how long rules wait before a write whose UpdatedAt must not
// move, so that a store which sets UpdatedAt on every write shows it even
// with a clock of coarse resolution.
const settle = 5 * time.Millisecond

func testInsert(t *testing.T, s store.Store) {
	c := sample("campaign-1")
	c.SyncedAt = time.Now() // a monotonic clock reading and nanoseconds: Normalize drops both
	c.UpdatedAt = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	upsert(t, s, acctA, c)
	got, _ := checkGet(t, s, acctA, c, "after inserting it")
	if got.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("UpdatedAt is %s, the value given to Upsert; the store sets it and Upsert ignores it", timeString(got.UpdatedAt))
	}
}

func testUpdate(t *testing.T, s store.Store) {
	old := sample("campaign-1")
	upsert(t, s, acctA, old)
	neu := store.Campaign{
		ID:          old.ID,
		Name:        "Renamed",
		Status:      "PAUSED",
		Budget:      "-0.01",
		Impressions: old.Impressions + 1,
		Clicks:      old.Clicks + 2,
		Conversions: old.Conversions + 3,
		CreatedAt:   old.CreatedAt.Add(time.Hour),
		SyncedAt:    old.SyncedAt.Add(time.Minute),
	}
	upsert(t, s, acctA, neu)
	checkGet(t, s, acctA, neu, "after updating every field")

	// CreatedAt, unlike SyncedAt, has no "zero keeps the stored value" rule.
	cleared := neu
	cleared.CreatedAt = time.Time{}
	upsert(t, s, acctA, cleared)
	checkGet(t, s, acctA, cleared, "after an update with a zero CreatedAt (only a zero SyncedAt keeps the stored value)")
}

func testIdempotent(t *testing.T, s store.Store) {
	batch := variedBatch("idem", 30)
	upsert(t, s, acctA, batch...)
	first := make([]store.Campaign, len(batch))
	for i, c := range batch {
		got, ok := checkGet(t, s, acctA, c, "after the first upsert")
		if !ok {
			return
		}
		first[i] = got
	}
	time.Sleep(settle)
	upsert(t, s, acctA, batch...)
	for _, row := range first {
		checkUnchanged(t, s, acctA, row, "after upserting the same batch again")
	}
}

func testUpdatedAt(t *testing.T, s store.Store) {
	cur := sample("u-1")
	upsert(t, s, acctA, cur)
	first, ok := checkGet(t, s, acctA, cur, "after inserting it")
	if !ok {
		return
	}

	// Writes that leave the content as it is keep UpdatedAt.
	withUpdatedAt := cur
	withUpdatedAt.UpdatedAt = time.Now().Add(time.Hour)
	syncedOnly := cur
	syncedOnly.SyncedAt = cur.SyncedAt.Add(time.Hour)
	sameInstant := syncedOnly // CreatedAt is the same once normalized: another zone, under a microsecond apart
	sameInstant.CreatedAt = time.Date(2024, 3, 10, 16, 0, 45, 123456600, time.FixedZone("+09:00", 9*3600))
	if !sameInstant.CreatedAt.Round(time.Microsecond).Equal(cur.CreatedAt.Round(time.Microsecond)) {
		t.Fatal("storetest: the same-instant fixture is wrong")
	}
	for _, step := range []struct {
		what string
		c    store.Campaign
	}{
		{"re-upserting the same content", cur},
		{"an upsert giving an UpdatedAt (Upsert ignores it)", withUpdatedAt},
		{"a change of SyncedAt alone (not content)", syncedOnly},
		{"a CreatedAt that is the same instant once normalized (another zone, under a microsecond apart)", sameInstant},
	} {
		time.Sleep(settle)
		upsert(t, s, acctA, step.c)
		got, ok := checkGet(t, s, acctA, step.c, "after "+step.what)
		if ok && !got.UpdatedAt.Equal(first.UpdatedAt) {
			t.Errorf("after %s, UpdatedAt moved from %s to %s; content did not change, so it must stay",
				step.what, timeString(first.UpdatedAt), timeString(got.UpdatedAt))
		}
	}
	cur = sameInstant

	// Every content field moves it.
	prev := first.UpdatedAt
	for _, step := range []struct {
		what   string
		change func(c store.Campaign, i int) store.Campaign
	}{
		{"a new Name", func(c store.Campaign, i int) store.Campaign { c.Name = fmt.Sprintf("Renamed %d", i); return c }},
		{"a new Status", func(c store.Campaign, i int) store.Campaign { c.Status = fmt.Sprintf("PAUSED-%d", i); return c }},
		{"a Budget of the same value in other digits (1100.5 for 1100.50)", func(c store.Campaign, i int) store.Campaign {
			c.Budget = "1100.5" + strings.Repeat("0", i-1)
			return c
		}},
		{"new Impressions", func(c store.Campaign, i int) store.Campaign { c.Impressions += int64(i); return c }},
		{"new Clicks", func(c store.Campaign, i int) store.Campaign { c.Clicks += int64(i); return c }},
		{"new Conversions", func(c store.Campaign, i int) store.Campaign { c.Conversions += int64(i); return c }},
		{"a CreatedAt a microsecond later", func(c store.Campaign, i int) store.Campaign {
			c.CreatedAt = c.CreatedAt.Add(time.Duration(i) * time.Microsecond)
			return c
		}},
		{"a cleared CreatedAt", func(c store.Campaign, i int) store.Campaign {
			if i%2 == 1 {
				c.CreatedAt = time.Time{}
			} else {
				c.CreatedAt = c.CreatedAt.Add(time.Duration(i) * time.Hour)
			}
			return c
		}},
	} {
		var ok bool
		cur, prev, ok = changeMoves(t, s, step.what, cur, prev, step.change)
		if !ok {
			return
		}
	}
}

// changeMoves upserts change(base, 1), change(base, 2), ... (each differs
// from the one before) until the stored UpdatedAt is after prev, and fails
// if it ever goes back or has not moved within two seconds: a clock of any
// resolution moves in that time, and only a store that does not set
// UpdatedAt on a change stays put.
func changeMoves(t *testing.T, s store.Store, what string, base store.Campaign, prev time.Time,
	change func(c store.Campaign, i int) store.Campaign) (store.Campaign, time.Time, bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for i := 1; ; i++ {
		time.Sleep(time.Millisecond)
		c := change(base, i)
		upsert(t, s, acctA, c)
		got, ok := checkGet(t, s, acctA, c, "after "+what)
		switch {
		case !ok:
			return c, prev, false
		case got.UpdatedAt.Before(prev):
			t.Errorf("after %s, UpdatedAt went back from %s to %s", what, timeString(prev), timeString(got.UpdatedAt))
			return c, prev, false
		case got.UpdatedAt.After(prev):
			return c, got.UpdatedAt, true
		case time.Now().After(deadline):
			t.Errorf("after %s (%d times over two seconds), UpdatedAt stayed %s: a change of content must move it",
				what, i, timeString(prev))
			return c, prev, false
		}
	}
}

func testSyncedAt(t *testing.T, s store.Store) {
	c := sample("synced")
	c.SyncedAt = time.Time{}
	upsert(t, s, acctA, c)
	checkGet(t, s, acctA, c, "after inserting it without a SyncedAt (it must read back zero)")

	c.SyncedAt = time.Date(2025, 5, 5, 5, 5, 5, 5000, time.UTC)
	upsert(t, s, acctA, c)
	checkGet(t, s, acctA, c, "after a write with a SyncedAt")

	noSync := c
	noSync.SyncedAt = time.Time{}
	noSync.Name = "renamed by a write that records no sync"
	upsert(t, s, acctA, noSync)
	want := noSync
	want.SyncedAt = c.SyncedAt
	checkGet(t, s, acctA, want, "after a write with a zero SyncedAt (the stored SyncedAt must stay)")

	later := noSync
	later.SyncedAt = c.SyncedAt.Add(90*time.Minute + time.Microsecond)
	upsert(t, s, acctA, later)
	checkGet(t, s, acctA, later, "after a later sync (its SyncedAt must replace the stored one)")

	again := later
	again.SyncedAt = time.Time{}
	upsert(t, s, acctA, again)
	checkGet(t, s, acctA, later, "after re-upserting the same content with a zero SyncedAt")

	// SyncedAt never goes back, whether the content changes or not.
	earlier := later
	earlier.SyncedAt = c.SyncedAt
	upsert(t, s, acctA, earlier)
	checkGet(t, s, acctA, later, "after a write with an earlier SyncedAt (SyncedAt never goes back)")
	renamed := earlier
	renamed.Name = "renamed by a write with an earlier SyncedAt"
	upsert(t, s, acctA, renamed)
	want = renamed
	want.SyncedAt = later.SyncedAt
	checkGet(t, s, acctA, want, "after a new content with an earlier SyncedAt (the content changes, SyncedAt stays)")

	// In one batch: a new row without a sync and one with.
	without, with := sample("new-without"), sample("new-with")
	without.SyncedAt = time.Time{}
	upsert(t, s, acctA, without, with)
	checkGet(t, s, acctA, without, "after inserting it without a SyncedAt next to one with")
	checkGet(t, s, acctA, with, "after inserting it with a SyncedAt next to one without")
}

// testNewerWins: content listed later is never replaced by content listed
// earlier, while a later SyncedAt still moves forward. This is how a retry
// that writes a failed campaign's old listed data can never undo a newer
// sync.
func testNewerWins(t *testing.T, s store.Store) {
	t2 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	t1 := t2.Add(-time.Hour)
	newer := sample("newer-wins")
	newer.ListedAt, newer.Impressions, newer.SyncedAt = t2, 500, t2.Add(time.Minute)
	upsert(t, s, acctA, newer)
	row, ok := checkGet(t, s, acctA, newer, "after writing it listed at t2 with 500 impressions")
	if !ok {
		return
	}

	time.Sleep(settle)
	older := sample("newer-wins")
	older.ListedAt, older.Impressions, older.Name = t1, 100, "the name listed at t1"
	older.SyncedAt = t2.Add(time.Hour) // synced later, from data listed earlier
	upsert(t, s, acctA, older)
	want := newer
	want.SyncedAt = older.SyncedAt
	got, ok := checkGet(t, s, acctA, want,
		"after a write of data listed at t1 < t2 with a later SyncedAt (the content listed at t2 stays; SyncedAt moves forward)")
	if ok && !got.UpdatedAt.Equal(row.UpdatedAt) {
		t.Errorf("after a write of older content, UpdatedAt moved from %s to %s; the content did not change",
			timeString(row.UpdatedAt), timeString(got.UpdatedAt))
	}

	stale := older
	stale.SyncedAt = t1
	upsert(t, s, acctA, stale)
	checkUnchanged(t, s, acctA, got, "after a write of older content with an older SyncedAt (nothing is newer: nothing changes)")

	same := newer
	same.Impressions, same.SyncedAt = 600, time.Time{}
	upsert(t, s, acctA, same)
	want = same
	want.SyncedAt = older.SyncedAt
	checkGet(t, s, acctA, want, "after a write listed at the same t2 (of writes listed at the same time, the last wins)")

	later := same
	later.ListedAt, later.Impressions = t2.Add(time.Hour), 700
	upsert(t, s, acctA, later)
	want = later
	want.SyncedAt = older.SyncedAt
	checkGet(t, s, acctA, want, "after a write listed after t2 (it replaces the content; ListedAt moves to it)")
}

// testListedAtNow: a zero ListedAt is the store's current time.
func testListedAtNow(t *testing.T, s store.Store) {
	c := sample("listed-now")
	c.ListedAt = time.Time{}
	upsert(t, s, acctA, c)
	first, ok := checkGet(t, s, acctA, c, "after writing it with a zero ListedAt (the store's current time)")
	if !ok {
		return
	}
	past := c
	past.ListedAt, past.Name = time.Now().Add(-24*time.Hour), "listed a day ago"
	upsert(t, s, acctA, past)
	checkUnchanged(t, s, acctA, first, "after a write listed a day before the stored content (written with a zero ListedAt, now)")

	time.Sleep(settle)
	again := c
	again.Name = "listed now again"
	upsert(t, s, acctA, again)
	got, ok := checkGet(t, s, acctA, again, "after another write with a zero ListedAt (now, later than the stored one)")
	if ok && got.ListedAt.Before(first.ListedAt) {
		t.Errorf("ListedAt went back from %s to %s", timeString(first.ListedAt), timeString(got.ListedAt))
	}
}

func testAccounts(t *testing.T, s store.Store) {
	// Account ids that a careless store would merge or mangle.
	accounts := []string{acctA, acctB, "ACCT-A", "acct-a ", "\u00e9", "e\u0301", "🏳️‍🌈 team", "'; DROP TABLE runs;--", `acct\a`}
	shared := make([]store.Campaign, len(accounts))
	for i, a := range accounts {
		c := sample("shared-id")
		c.Name = "belongs to " + a
		c.Budget = fmt.Sprint(i)
		c.Impressions = int64(i)
		shared[i] = c
		own := sample(fmt.Sprintf("only-%d", i))
		upsert(t, s, a, c, own)
	}
	rows := make([]store.Campaign, len(accounts))
	for i, a := range accounts {
		got, ok := checkGet(t, s, a, shared[i], "(each account has its own campaign \"shared-id\")")
		if !ok {
			return
		}
		rows[i] = got
		if i > 0 {
			expectNotFound(t, s, a, "only-0", fmt.Sprintf("(a campaign of account %s only)", quote(accounts[0])))
		}
	}
	time.Sleep(settle)
	changed := shared[0]
	changed.Name = "changed in one account"
	changed.SyncedAt = changed.SyncedAt.Add(time.Hour)
	upsert(t, s, accounts[0], changed)
	checkGet(t, s, accounts[0], changed, "after updating it")
	for i := 1; i < len(accounts); i++ {
		checkUnchanged(t, s, accounts[i], rows[i], fmt.Sprintf("after the same id was updated in account %s", quote(accounts[0])))
	}
	expectNotFound(t, s, "acct-c", "shared-id", "(an account that never stored anything)")
}

func testExactNumbers(t *testing.T, s store.Store) {
	values := []int64{1<<53 + 1, math.MaxInt64, math.MinInt64, -(1<<53 + 1), 1<<53 - 1, 0, -1, math.MaxInt32 + 1, math.MinInt32 - 1, 1<<32 + 1}
	var batch []store.Campaign
	for i := range values {
		c := sample(fmt.Sprintf("num-%02d", i))
		c.Impressions = values[i]
		c.Clicks = values[(i+1)%len(values)]
		c.Conversions = values[(i+2)%len(values)]
		batch = append(batch, c)
	}
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, "after storing int64 extremes")
	}
}

// thousandDigits is a budget of 1000 digits, 500 on each side of the point.
func thousandDigits() string {
	return strings.Repeat("9876543210", 50) + "." + strings.Repeat("0123456789", 50)
}

func testExactBudgets(t *testing.T, s store.Store) {
	budgets := []string{
		"0", "0.00", "-1.10", "1100.50", "100", "7",
		"12345678901234567890.123456789012345678901234567890",
		thousandDigits(), "-" + thousandDigits(),
		"0.000000000000000000000000000001", "-0.5", "0.1", "123456789.987654321",
		"9223372036854775808", "-9223372036854775809", "18446744073709551616",
		"1" + strings.Repeat("0", 40), "1" + strings.Repeat("0", 40) + "." + strings.Repeat("0", 40),
	}
	var batch []store.Campaign
	for i, b := range budgets {
		c := sample(fmt.Sprintf("budget-%02d", i))
		c.Budget = b
		batch = append(batch, c)
	}
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, "after storing an exact decimal budget (it must read back digit for digit)")
	}
}

func testBudgetLimits(t *testing.T, s store.Store) {
	integer := "1" + strings.Repeat("0", store.MaxBudgetIntegerDigits-2) + "9"
	fraction := strings.Repeat("7", store.MaxBudgetFractionDigits-1) + "1"
	for i, b := range []string{integer, "0." + fraction, "-" + integer + "." + fraction} {
		c := sample(fmt.Sprintf("limit-%d", i))
		c.Budget = b
		upsert(t, s, acctA, c)
		checkGet(t, s, acctA, c, fmt.Sprintf("after storing a budget at the limits (%d integer, %d fraction digits at most)",
			store.MaxBudgetIntegerDigits, store.MaxBudgetFractionDigits))
	}
}

func testExactTimes(t *testing.T, s store.Store) {
	ist := time.FixedZone("+05:30", 5*3600+1800)
	pst := time.FixedZone("-08:00", -8*3600)
	cases := []struct {
		name string
		at   time.Time
	}{
		{"nanoseconds in +05:30", time.Date(2024, 3, 10, 12, 30, 45, 123456789, ist)},
		{"half a microsecond (rounds up, where PostgreSQL's rounding of text input would round to even)", time.Date(2024, 3, 10, 12, 30, 45, 2500, time.UTC)},
		{"rounding into the next year", time.Date(2024, 12, 31, 23, 59, 59, 999999500, time.UTC)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999998500, pst)},
		{"the earliest non-zero microsecond", time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{"the latest microsecond of 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"a clock reading with a monotonic part", time.Now()},
		{"local time", time.Date(2020, 2, 29, 1, 2, 3, 4, time.Local)},
	}
	var batch []store.Campaign
	for i, tc := range cases {
		c := sample(fmt.Sprintf("time-%02d", i))
		c.CreatedAt, c.SyncedAt = tc.at, tc.at
		batch = append(batch, c)
	}
	absent := sample("time-absent")
	absent.CreatedAt = time.Time{}
	batch = append(batch, absent)
	upsert(t, s, acctA, batch...)
	for i, tc := range cases {
		checkGet(t, s, acctA, batch[i], "after storing times: "+tc.name+" (they must read back in UTC, rounded to the microsecond)")
	}
	checkGet(t, s, acctA, absent, "after storing it without a CreatedAt (it must read back zero)")
}

// megabyteText is 1 MiB of mixed-width UTF-8.
func megabyteText() string {
	const unit = "Ω🚀é漢a"
	return strings.Repeat(unit, (1<<20)/len(unit)+1)
}

func testUnicodeText(t *testing.T, s store.Store) {
	texts := []struct{ name, text string }{
		{"emoji", "🚀 Launch 🎉 👍🏽"},
		{"ZWJ sequences", "👨‍👩‍👧‍👦 and 🏳️‍🌈"},
		{"zero-width characters", "a\u200db\u200cc\u200bd\u2060e"},
		{"right-to-left", "مرحبا بالعالم \u200fשלום\u202e reversed\u202c"},
		{"combining marks", "e\u0301\u0302\u0303 Z̸̢͎̈́a̵l̷g̸o̶"},
		{"non-BMP", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎𠜱 \U0001F600 \U0010FFFD"},
		{"noncharacters and specials", "\uFFFE\uFFFF\U0010FFFF \uFFFD \uFEFFbom"},
		{"line separators", "one\u2028two\u2029three\u0085four"},
		{"CJK", "中文广告系列 日本語キャンペーン 한국어 캠페인"},
		{"precomposed and decomposed", "Amélie Ame\u0301lie"},
		{"only spaces", "   "},
	}
	var batch []store.Campaign
	for i, tx := range texts {
		c := sample(fmt.Sprintf("text-%02d", i))
		c.Name, c.Status = tx.text, tx.text
		byID := sample(tx.text)
		byID.Name = "its id is " + tx.name
		batch = append(batch, c, byID)
	}
	empty := sample("text-empty")
	empty.Name, empty.Status = "", ""
	huge := sample("text-huge")
	huge.Name = megabyteText()
	batch = append(batch, empty, huge)
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, "after storing Unicode text in its name, status or id (it must read back verbatim)")
	}
}

func testHostileText(t *testing.T, s store.Store) {
	texts := []string{
		"'); DROP TABLE campaigns;--",
		`Robert'); DROP TABLE students;-- "; DELETE FROM runs; --`,
		`"double" 'single' ` + "`back`",
		`back\slash \\ \' \"`,
		`\x00`, `\0`, `\u0000`, `\\x00`,
		"%s %d %v %!s(MISSING) %%",
		"line one\nline two\r\nline three\r",
		"tab\there\vvertical\fform feed",
		"$1 $$ ? :name @p1 {{.}} ${x}",
		"\x01\x02\x1b[31mred\x1b[0m\x7f",
		"<script>alert(1)</script> &amp; ]]>",
		"' OR '1'='1",
		`E'\x41'`,
		"-- comment", "/* comment", ";",
		`{"json": [1, "two"], "null": null}`,
		" leading and trailing spaces ",
	}
	var batch []store.Campaign
	for i, tx := range texts {
		c := sample(fmt.Sprintf("hostile-%02d", i))
		c.Name, c.Status = tx, tx
		byID := sample(tx)
		byID.Name = fmt.Sprintf("its id is hostile text %d", i)
		batch = append(batch, c, byID)
	}
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, "after storing hostile text in its name, status or id (it must read back verbatim)")
	}
}

func testDistinctIDs(t *testing.T, s store.Store) {
	// Ids that collations, case folding, Unicode normalization, trimming or
	// number parsing would merge: each is its own campaign.
	list := []string{
		"abc", "ABC", "Abc",
		"\u00e9", "e\u0301",
		"\ufb01", "fi",
		"a", "a ", " a", "a\t",
		"ß", "ss", "SS",
		"Ａ", "A",
		"1", "01", "1.0", "+1",
		"İ", "i\u0307", "i",
		"x", "x\u200b",
	}
	var batch []store.Campaign
	for i, id := range list {
		c := sample(id)
		c.Name = "distinct id " + quote(id)
		c.Clicks = int64(i)
		batch = append(batch, c)
	}
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, "after storing ids that differ only in case, normalization, spaces or number format (each is its own campaign)")
	}
}

// longText returns n bytes of text that does not compress: each byte
// follows from a small linear congruential generator.
func longText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = alphabet[x>>26]
	}
	return string(b)
}

func testLongID(t *testing.T, s store.Store) {
	// Ids as long as store.MaxIDBytes allows, two of them differing only in
	// their last byte: a store that indexes a prefix or truncates would
	// merge them. One byte more is rejected.
	prefix := longText(store.MaxIDBytes - 1)
	batch := []store.Campaign{sample(prefix + "1"), sample(prefix + "2")}
	for i := range batch {
		batch[i].Name = fmt.Sprintf("long id %d", i)
	}
	upsert(t, s, acctA, batch...)
	for _, c := range batch {
		checkGet(t, s, acctA, c, fmt.Sprintf("after storing a campaign with a %d-byte id", len(c.ID)))
	}
	tooLong := sample(prefix + "12")
	err := s.Upsert(context.Background(), acctA, []store.Campaign{tooLong})
	var batchErr *store.BatchError
	if !errors.As(err, &batchErr) || len(batchErr.Rejected) != 1 || batchErr.Rejected[0].Field != "id" {
		t.Errorf("Upsert of a campaign with a %d-byte id (store.MaxIDBytes is %d) returned %v; want a *store.BatchError rejecting its id",
			len(tooLong.ID), store.MaxIDBytes, err)
	}
}

// badRecord is a campaign Validate rejects, made from a valid one.
type badRecord struct {
	name  string
	field string // the Field its RecordError names
	make  func(c store.Campaign) store.Campaign
}

func badRecords() []badRecord {
	id := func(v string) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.ID = v; return c }
	}
	name := func(v string) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.Name = v; return c }
	}
	status := func(v string) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.Status = v; return c }
	}
	budget := func(v string) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.Budget = v; return c }
	}
	created := func(v time.Time) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.CreatedAt = v; return c }
	}
	synced := func(v time.Time) func(store.Campaign) store.Campaign {
		return func(c store.Campaign) store.Campaign { c.SyncedAt = v; return c }
	}
	ist := time.FixedZone("+05:30", 5*3600+1800)
	return []badRecord{
		{"id_empty", "id", id("")},
		{"id_nul", "id", id("bad\x00id")},
		{"id_invalid_utf8", "id", id("bad\xffid")},
		{"id_truncated_utf8", "id", id("bad id \xe2\x82")},
		{"name_nul", "name", name("SeCrEt\x00name")},
		{"name_invalid_utf8", "name", name("SeCrEt\xc3\x28")},
		{"name_utf8_surrogate", "name", name("SeCrEt\xed\xa0\x80")},
		{"status_nul", "status", status("ACTIVE\x00SeCrEt")},
		{"status_invalid_utf8", "status", status("SeCrEt\xfe\xff")},
		{"budget_exponent_1e3", "budget", budget("1e3")},
		{"budget_leading_zeros_007", "budget", budget("007")},
		{"budget_negative_zero", "budget", budget("-0")},
		{"budget_negative_zero_fraction", "budget", budget("-0.00")},
		{"budget_empty", "budget", budget("")},
		{"budget_abc", "budget", budget("abc")},
		{"budget_trailing_point", "budget", budget("1.")},
		{"budget_leading_point", "budget", budget(".5")},
		{"budget_plus_sign", "budget", budget("+1")},
		{"budget_spaces", "budget", budget(" 1 ")},
		{"budget_comma", "budget", budget("1,5")},
		{"budget_hex", "budget", budget("0x10")},
		{"budget_NaN", "budget", budget("NaN")},
		{"budget_Infinity", "budget", budget("Infinity")},
		{"budget_arabic_indic_digits", "budget", budget("١٢")},
		{"budget_two_points", "budget", budget("1.2.3")},
		{"budget_double_minus", "budget", budget("--1")},
		{"budget_underscore", "budget", budget("1_000")},
		{"budget_too_many_integer_digits", "budget", budget("1" + strings.Repeat("0", store.MaxBudgetIntegerDigits))},
		{"budget_too_many_fraction_digits", "budget", budget("0." + strings.Repeat("1", store.MaxBudgetFractionDigits+1))},
		{"created_at_year_0", "created_at", created(time.Date(0, 12, 31, 12, 0, 0, 0, time.UTC))},
		{"created_at_year_10000", "created_at", created(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))},
		{"created_at_year_1_but_year_0_in_utc", "created_at", created(time.Date(1, 1, 1, 3, 0, 0, 0, ist))},
		{"created_at_past_9999_by_nanoseconds", "created_at", created(time.Date(9999, 12, 31, 23, 59, 59, 999999600, time.UTC))},
		{"synced_at_year_10000", "synced_at", synced(time.Date(10000, 6, 1, 0, 0, 0, 0, time.UTC))},
		{"synced_at_negative_year", "synced_at", synced(time.Date(-44, 3, 15, 12, 0, 0, 0, time.UTC))},
		{"listed_at_year_10000", "listed_at", func(c store.Campaign) store.Campaign {
			c.ListedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return c
		}},
	}
}

// changedFrom returns c with every field changed, so that any field of it
// written shows.
func changedFrom(c store.Campaign) store.Campaign {
	c.Name += " (changed)"
	c.Status = "PAUSED"
	c.Budget = "1"
	c.Impressions++
	c.Clicks++
	c.Conversions++
	c.CreatedAt = c.CreatedAt.Add(time.Hour)
	c.SyncedAt = c.SyncedAt.Add(time.Hour)
	return c
}

// rejection is a RecordError a rule expects, by its identifying fields.
type rejection struct {
	id    string
	index int
	field string
}

// checkRejected checks that err is a *store.BatchError listing exactly
// want, inspectable with errors.Is and errors.As.
func checkRejected(t *testing.T, call string, err error, want []rejection) {
	t.Helper()
	if err == nil {
		t.Errorf("%s of a batch with %d invalid campaign(s) returned nil; want a *store.BatchError listing them", call, len(want))
		return
	}
	if !errors.Is(err, store.ErrRejected) {
		t.Errorf("%s of a batch with invalid campaigns: errors.Is(err, store.ErrRejected) is false for %s", call, errText(err))
	}
	var be *store.BatchError
	if !errors.As(err, &be) || be == nil {
		t.Errorf("%s of a batch with invalid campaigns: error %s (%T) is not a *store.BatchError", call, errText(err), err)
		return
	}
	var re *store.RecordError
	if !errors.As(err, &re) {
		t.Errorf("%s of a batch with invalid campaigns: errors.As(err, **store.RecordError) finds nothing in %s", call, errText(err))
	}
	got := slices.Clone(be.Rejected)
	if slices.Contains(got, nil) {
		t.Errorf("BatchError.Rejected holds a nil *RecordError")
		got = slices.DeleteFunc(got, func(r *store.RecordError) bool { return r == nil })
	}
	slices.SortStableFunc(got, func(a, b *store.RecordError) int { return a.Index - b.Index })
	describe := func(id string, index int, field string) string {
		return fmt.Sprintf("{ID: %s, Index: %d, Field: %q}", quote(id), index, field)
	}
	var wantText, gotText []string
	for _, w := range want {
		wantText = append(wantText, describe(w.id, w.index, w.field))
	}
	for _, r := range got {
		gotText = append(gotText, describe(r.ID, r.Index, r.Field))
		if r.Reason == "" {
			t.Errorf("RecordError %s has an empty Reason", describe(r.ID, r.Index, r.Field))
		}
		if strings.Contains(r.Reason, "SeCrEt") {
			t.Errorf("RecordError %s: Reason %s echoes the offending value", describe(r.ID, r.Index, r.Field), quote(r.Reason))
		}
	}
	if !slices.Equal(gotText, wantText) {
		t.Errorf("BatchError.Rejected, by Index:\n\tgot  %s\n\twant %s", strings.Join(gotText, ", "), strings.Join(wantText, ", "))
	}
}

func testRejected(t *testing.T, s store.Store) {
	for i, bad := range badRecords() {
		t.Run(bad.name, func(t *testing.T) {
			prefix := fmt.Sprintf("rej%02d", i)
			existing := sample(prefix + "-existing")
			fresh := sample(prefix + "-new")
			other := sample(prefix + "-other")
			upsert(t, s, acctA, existing, other)
			oldRow, ok := getRow(t, s, acctA, existing.ID, "before the batch")
			if !ok {
				return
			}
			invalid := bad.make(changedFrom(existing))
			otherUpdate := other
			otherUpdate.Name = "updated in the batch that rejected another campaign"
			time.Sleep(settle)
			err := s.Upsert(t.Context(), acctA, []store.Campaign{fresh, invalid, otherUpdate})
			checkRejected(t, "Upsert", err, []rejection{{invalid.ID, 1, bad.field}})
			checkGet(t, s, acctA, fresh, "(inserted by the batch that rejected another campaign)")
			checkGet(t, s, acctA, otherUpdate, "(updated by the batch that rejected another campaign)")
			if bad.field == "id" {
				if c, err := s.Get(t.Context(), acctA, invalid.ID); err == nil {
					t.Errorf("Get of the rejected id %s found campaign %s; want an error", quote(invalid.ID), quote(c.Name))
				}
				return
			}
			checkUnchanged(t, s, acctA, oldRow, "after a batch rejected a new version of it with a bad "+bad.field)
		})
	}
}

func testRejectedInOneBatch(t *testing.T, s store.Store) {
	bads := badRecords()
	var batch, existing []store.Campaign
	var want []rejection
	for i, bad := range bads {
		good := sample(fmt.Sprintf("one-%02d-good", i))
		old := sample(fmt.Sprintf("one-%02d-bad", i))
		existing = append(existing, old)
		invalid := bad.make(changedFrom(old))
		batch = append(batch, good, invalid)
		want = append(want, rejection{invalid.ID, 2*i + 1, bad.field})
	}
	upsert(t, s, acctA, existing...)
	rows := make(map[string]store.Campaign)
	for _, c := range existing {
		row, ok := getRow(t, s, acctA, c.ID, "before the batch")
		if !ok {
			return
		}
		rows[c.ID] = row
	}
	time.Sleep(settle)
	checkRejected(t, "Upsert", s.Upsert(t.Context(), acctA, batch), want)
	for i := 0; i < len(batch); i += 2 {
		checkGet(t, s, acctA, batch[i], "(valid, in a batch where every other campaign was rejected)")
	}
	for _, c := range existing {
		checkUnchanged(t, s, acctA, rows[c.ID], "after a batch rejected a new version of it")
	}
}

func testDuplicates(t *testing.T, s store.Store) {
	first := sample("dup")
	first.Name = "first version"
	last := first
	last.Name, last.Budget, last.Clicks = "last version", "2.50", 99
	last.SyncedAt = first.SyncedAt.Add(time.Minute)
	other := sample("dup-other")
	batch := []store.Campaign{first, other, last}
	upsert(t, s, acctA, batch...)
	row, _ := checkGet(t, s, acctA, last, "after a batch holding it twice (the last one wins)")
	checkGet(t, s, acctA, other, "after a batch holding another id twice")
	time.Sleep(settle)
	upsert(t, s, acctA, batch...)
	checkUnchanged(t, s, acctA, row, "after the same batch, holding it twice, again (idempotent: its content did not change)")

	v := []store.Campaign{sample("dup3"), sample("dup3"), sample("dup3")}
	for i := range v {
		v[i].Name = fmt.Sprintf("version %d", i+1)
	}
	upsert(t, s, acctA, v...)
	checkGet(t, s, acctA, v[2], "after a batch holding it three times (the last one wins)")

	// The copy listed last wins, wherever it stands.
	newer, older := sample("dup-listed"), sample("dup-listed")
	newer.Name, newer.ListedAt = "listed later, first in the batch", newer.ListedAt.Add(time.Hour)
	older.Name = "listed earlier, last in the batch"
	upsert(t, s, acctA, newer, older)
	checkGet(t, s, acctA, newer, "after a batch holding it twice, the first copy listed later (the copy listed last wins)")
}

// testDuplicatesFarApart: duplicates are resolved across the whole batch,
// however far apart and however a store splits a batch into chunks; of
// several copies the one listed last wins (the last of those listed at the
// same time), and UpdatedAt moves only if the content that wins differs
// from the stored one.
func testDuplicatesFarApart(t *testing.T, s store.Store) {
	const n = 2500
	batch := variedBatch("far", n)
	upsert(t, s, acctA, batch...)
	rows := map[int]store.Campaign{}
	for _, i := range []int{7, 30, 1500} {
		row, ok := checkGet(t, s, acctA, batch[i], "after the first batch")
		if !ok {
			return
		}
		rows[i] = row
	}
	time.Sleep(settle)
	second := slices.Clone(batch)
	// 7: changed early in the batch, and back to the stored content at its end.
	second[7].Name = "changed, then changed back"
	second = append(second, batch[7])
	// 1500: the stored content early, a change at the end.
	changed := batch[1500]
	changed.Name = "changed at the end of the batch"
	second = append(second, changed)
	// 30: listed later early in the batch, an older copy at the end.
	newer := batch[30]
	newer.Name, newer.ListedAt = "listed later", newer.ListedAt.Add(time.Hour)
	second[30] = newer
	second = append(second, batch[30])
	upsert(t, s, acctA, second...)

	checkUnchanged(t, s, acctA, rows[7],
		fmt.Sprintf("after a batch of %d changing it at position 7 and back at position %d (the last copy wins, and it is what was stored)", len(second), n))
	if got, ok := checkGet(t, s, acctA, changed, fmt.Sprintf("after a batch of %d changing it at its end", len(second))); ok && !got.UpdatedAt.After(rows[1500].UpdatedAt) {
		t.Errorf("campaign %s changed, yet its UpdatedAt stayed %s", quote(changed.ID), timeString(got.UpdatedAt))
	}
	checkGet(t, s, acctA, newer, fmt.Sprintf("after a batch of %d holding it listed later at position 30 and earlier at its end (the copy listed last wins)", len(second)))
}

func testEmptyBatch(t *testing.T, s store.Store) {
	c := sample("kept")
	upsert(t, s, acctA, c)
	row, ok := getRow(t, s, acctA, c.ID, "after inserting it")
	if !ok {
		return
	}
	for _, batch := range [][]store.Campaign{nil, {}} {
		if err := s.Upsert(t.Context(), acctA, batch); err != nil {
			t.Errorf("Upsert of an empty batch (%#v) = %s; want nil", batch, errText(err))
		}
		if err := s.Upsert(t.Context(), acctB, batch); err != nil {
			t.Errorf("Upsert of an empty batch (%#v) to an account with no campaigns = %s; want nil", batch, errText(err))
		}
	}
	checkUnchanged(t, s, acctA, row, "after empty batches")
	expectNotFound(t, s, acctB, c.ID, "(only empty batches were written to this account)")
}

func testBigBatch(t *testing.T, s store.Store) {
	const n = 5000
	batch := variedBatch("big", n)
	upsert(t, s, acctA, batch...)
	rows := make([]store.Campaign, n)
	failures := 0
	for i, c := range batch {
		got, ok := checkGet(t, s, acctA, c, fmt.Sprintf("after a batch of %d", n))
		if !ok {
			if failures++; failures == 5 {
				t.Fatalf("stopping after %d wrong campaigns of the big batch", failures)
			}
		}
		rows[i] = got
	}
	time.Sleep(settle)
	changed := slices.Clone(batch)
	for i := 0; i < n; i += 10 {
		changed[i].Name += " (changed)"
	}
	upsert(t, s, acctA, changed...)
	for i, c := range changed {
		got, ok := checkGet(t, s, acctA, c, fmt.Sprintf("after the batch of %d again, every tenth changed", n))
		switch {
		case !ok:
		case i%10 != 0 && !got.UpdatedAt.Equal(rows[i].UpdatedAt):
			t.Errorf("campaign %s did not change, yet its UpdatedAt moved from %s to %s",
				quote(c.ID), timeString(rows[i].UpdatedAt), timeString(got.UpdatedAt))
			ok = false
		case i%10 == 0 && got.UpdatedAt.Before(rows[i].UpdatedAt):
			t.Errorf("campaign %s changed, and its UpdatedAt went back from %s to %s",
				quote(c.ID), timeString(rows[i].UpdatedAt), timeString(got.UpdatedAt))
			ok = false
		}
		if !ok {
			if failures++; failures == 5 {
				t.Fatalf("stopping after %d wrong campaigns of the big batch", failures)
			}
		}
	}
}

func testInvalidAccount(t *testing.T, s store.Store) {
	c := sample("campaign-1")
	for _, bad := range []struct {
		name, id   string
		lookalikes []string // what a store that sanitized the id might have written to
	}{
		{"empty", "", []string{" ", "-", "_"}},
		{"with a NUL byte", "acct\x00x", []string{"acctx", "acct", "acct x", "acct\uFFFDx"}},
		{"not valid UTF-8", "acct\xffx", []string{"acctx", "acct", "acct\uFFFDx", "acctÿx"}},
		{"truncated UTF-8", "acct\xc3", []string{"acct", "acct\uFFFD", "acctÃ"}},
	} {
		err := s.Upsert(t.Context(), bad.id, []store.Campaign{c})
		var be *store.BatchError
		switch {
		case err == nil:
			t.Errorf("Upsert to an invalid account id (%s: %s) returned nil; want an error", bad.name, quote(bad.id))
		case errors.As(err, &be):
			t.Errorf("Upsert to an invalid account id (%s) returned a *store.BatchError (%s), which says the campaigns it does not list were stored; want an error for the whole call",
				bad.name, errText(err))
		}
		if got, err := s.Get(t.Context(), bad.id, c.ID); err == nil {
			t.Errorf("Get from an invalid account id (%s) found campaign %s; want an error", bad.name, quote(got.ID))
		}
		for _, l := range bad.lookalikes {
			expectNotFound(t, s, l, c.ID, fmt.Sprintf("(after an upsert to an invalid account id: %s)", bad.name))
		}
	}
}

func testNotFound(t *testing.T, s store.Store) {
	expectNotFound(t, s, acctA, "missing", "(in an empty store)")
	upsert(t, s, acctA, sample("present"))
	for _, id := range []string{"missing", "Present", "present ", "presen", ""} {
		expectNotFound(t, s, acctA, id, "(no such campaign; \"present\" exists)")
	}
	expectNotFound(t, s, acctB, "present", "(it exists in another account only)")
	if _, err := s.Get(t.Context(), acctA, "missing"); errors.Is(err, store.ErrRejected) {
		t.Errorf("Get of a missing campaign: error %s matches store.ErrRejected; want only store.ErrNotFound", errText(err))
	}
}

// versioned returns the campaign writer g writes in round r: every field
// derives from (g, r), so that a record mixing two writes shows.
func versioned(id string, g, r int) store.Campaign {
	v := int64(g*1000 + r)
	return store.Campaign{
		ID: id, Name: fmt.Sprintf("writer %d round %d", g, r), Status: fmt.Sprintf("W%d-R%d", g, r),
		Budget: fmt.Sprintf("%d.%02d", g, r), Impressions: v, Clicks: v, Conversions: v,
		CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g) * time.Hour),
		SyncedAt:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(v) * time.Second),
	}
}

// consistent reports whether c's content is exactly some writer's version,
// and which. Its SyncedAt, the latest of every write, may be another's,
// but never before its content's.
func consistent(c store.Campaign) (g, r int, ok bool) {
	g, r = int(c.Impressions/1000), int(c.Impressions%1000)
	v := versioned(c.ID, g, r)
	return g, r, c.Impressions >= 0 && store.SameContent(c, v) && !c.SyncedAt.Before(v.SyncedAt)
}

func testConcurrent(t *testing.T, s store.Store) {
	const writers, rounds, shared, own = 8, 4, 50, 25
	sharedIDs := make([]string, shared)
	for i := range sharedIDs {
		sharedIDs[i] = fmt.Sprintf("shared-%02d", i)
	}
	var writing, reading sync.WaitGroup
	done := make(chan struct{})
	for g := range writers {
		writing.Go(func() {
			for r := range rounds {
				var batch []store.Campaign
				// Half the writers go through the shared ids backwards: a
				// store that locks rows in batch order deadlocks here.
				for i := range shared {
					j := i
					if g%2 == 1 {
						j = shared - 1 - i
					}
					batch = append(batch, versioned(sharedIDs[j], g, r))
				}
				for i := range own {
					batch = append(batch, versioned(fmt.Sprintf("own-%d-%02d", g, i), g, r))
				}
				if err := s.Upsert(t.Context(), acctA, batch); err != nil {
					t.Errorf("concurrent Upsert (writer %d, round %d) = %s; want nil", g, r, errText(err))
					return
				}
			}
		})
	}
	for range 2 {
		reading.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				id := sharedIDs[i%shared]
				c, err := s.Get(t.Context(), acctA, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
				case err != nil:
					t.Errorf("Get(%s) during concurrent upserts = %s", quote(id), errText(err))
					return
				default:
					if _, _, ok := consistent(c); !ok {
						t.Errorf("Get(%s) during concurrent upserts read a record mixing two writes: %+v", quote(id), c)
						return
					}
				}
			}
		})
	}
	writing.Wait()
	close(done)
	reading.Wait()
	if t.Failed() {
		return
	}
	for _, id := range sharedIDs {
		c, ok := getRow(t, s, acctA, id, "after concurrent upserts")
		if !ok {
			continue
		}
		// Whichever writer wrote last, it was that writer's last round.
		if g, r, ok := consistent(c); !ok || r != rounds-1 {
			t.Errorf("Get(%s) after concurrent upserts: got %s (writer %d, round %d); want some writer's last round (%d), whole",
				quote(id), quote(c.Name), g, r, rounds-1)
		}
	}
	for g := range writers {
		for i := range own {
			checkGet(t, s, acctA, versioned(fmt.Sprintf("own-%d-%02d", g, i), g, rounds-1), "after concurrent upserts")
		}
	}
}

func testCancelled(t *testing.T, s store.Store) {
	c := sample("cancel-1")
	upsert(t, s, acctA, c)
	ctx := cancelledContext(t)
	changed := changedFrom(c)
	expectCanceled(t, "Upsert", s.Upsert(ctx, acctA, []store.Campaign{changed, sample("cancel-2")}), context.Canceled)
	got, err := s.Get(ctx, acctA, c.ID)
	expectCanceled(t, "Get", err, context.Canceled)
	if err == nil {
		t.Errorf("Get with a cancelled context returned campaign %s", quote(got.ID))
	}

	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	expectCanceled(t, "Upsert", s.Upsert(expired, acctA, []store.Campaign{changed}), context.DeadlineExceeded)
	_, err = s.Get(expired, acctA, c.ID)
	expectCanceled(t, "Get", err, context.DeadlineExceeded)

	// The store still works.
	c3 := sample("cancel-3")
	upsert(t, s, acctA, changed, c3)
	checkGet(t, s, acctA, changed, "after calls with cancelled contexts")
	checkGet(t, s, acctA, c3, "after calls with cancelled contexts")
}

func testCancelledMidway(t *testing.T, s store.Store) {
	batch := variedBatch("midway", 2000)
	pad := strings.Repeat("padding ", 64)
	for i := range batch {
		batch[i].Name += pad
	}
	for _, delay := range []time.Duration{0, 50 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond, 10 * time.Millisecond} {
		ctx, cancel := context.WithCancel(t.Context())
		result := make(chan error, 1)
		go func() { result <- s.Upsert(ctx, acctA, batch) }()
		time.Sleep(delay)
		cancel()
		if err := <-result; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Upsert cancelled after %v: error %s does not satisfy errors.Is(err, context.Canceled)", delay, errText(err))
		}
	}
	// Whatever the cancelled calls left, the store works and the batch,
	// retried, lands whole.
	upsert(t, s, acctA, batch...)
	for i := 0; i < len(batch); i += 7 {
		if _, ok := checkGet(t, s, acctA, batch[i], "after cancelled upserts and a retry"); !ok {
			return
		}
	}
}

func testCallerMutation(t *testing.T, s store.Store) {
	batch := []store.Campaign{sample("m-1"), sample("m-2"), sample("m-3")}
	before := slices.Clone(batch)
	upsert(t, s, acctA, batch...)
	for i := range batch {
		if d := valueDiffs(batch[i], before[i]); len(d) > 0 {
			t.Errorf("Upsert changed element %d of the caller's slice; it must only read it:%s", i, joinDiffs(d))
		}
	}
	// The caller reuses its slice; the store must have kept its own copy.
	batch[0].Name = "mutated by the caller"
	batch[1] = store.Campaign{ID: "m-2"}
	batch[2].ID = "m-other"
	for _, c := range before {
		checkGet(t, s, acctA, c, "after the caller reused the slice it passed to Upsert")
	}
}
