package postgres

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/postgres/postgrestest"
)

func TestUpsertStoresHostileTextVerbatim(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	ctx := context.Background()
	hostile := []string{
		"'); DROP TABLE campaigns;--",
		`"; DROP SCHEMA public CASCADE; --`,
		`\.`, "\\.\n", `\N`, `\\N`, "tab\there", "new\nline", "cr\rlf\r\n", `back\slash\`,
		"$1 $$ $tag$ %s %v ?", "\u202eRTL override", "zero\u200bwidth", "🚀👩‍👩‍👧‍👦", "\uFEFFbom",
		"\x01\x1f\x7f control", strings.Repeat("é", store.MaxIDBytes/2), " ", "E'\\x00'",
	}
	account := "acct'); DROP TABLE runs;--"
	var batch []store.Campaign
	for i, h := range hostile {
		batch = append(batch, store.Campaign{
			ID: h, Name: h, Status: h, Budget: "1", Impressions: int64(i),
		})
	}
	if err := s.Upsert(ctx, account, batch); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	for _, want := range batch {
		got := mustGet(t, s, account, want.ID)
		if got.ID != want.ID || got.Name != want.Name || got.Status != want.Status {
			t.Errorf("Get(%q) = %q/%q/%q, want the text stored verbatim", want.ID, got.ID, got.Name, got.Status)
		}
	}
	if n := count(t, schema.DB, "campaigns"); n != len(hostile) {
		t.Fatalf("campaigns has %d rows, want %d (and the table intact)", n, len(hostile))
	}
	count(t, schema.DB, "runs") // still there
}

func TestUpsertRoundTripsExtremeValues(t *testing.T) {
	t.Parallel()
	// An odd session time zone (UTC-03:30, and local mean time before 1900,
	// so that the first instant of the year 1 in UTC is in 1 BC there) must not change what is
	// stored or read.
	schema := postgrestest.New(t)
	db := openPool(t, schema, map[string]string{"TimeZone": "America/St_Johns"})
	s := newStoreOn(t, db, Options{})
	ctx := context.Background()
	nyc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	bigBudget := strings.Repeat("9", 1000) + "." + strings.Repeat("0", 999) + "1"
	cases := []store.Campaign{
		{ID: "max", Name: "n", Status: "s", Budget: bigBudget, Impressions: math.MaxInt64, Clicks: math.MinInt64, Conversions: -1,
			CreatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{ID: "min", Budget: "-0.0000000000000000001", CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			SyncedAt: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{ID: "zeros", Budget: "1100.500", CreatedAt: time.Date(2024, 12, 11, 10, 30, 0, 0, nyc)},
		{ID: "rounded", Budget: "0", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 1500, time.UTC)},
		{ID: "empty text", Budget: "0.0"},
	}
	if err := s.Upsert(ctx, "a", cases); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	for _, in := range cases {
		want := in.Normalize()
		got := mustGet(t, s, "a", in.ID)
		if !store.SameContent(got, want) || got.Budget != want.Budget {
			t.Errorf("Get(%q) content = %+v, want %+v", in.ID, got, want)
		}
		if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC && !got.CreatedAt.IsZero() {
			t.Errorf("Get(%q).CreatedAt = %v, want %v in UTC", in.ID, got.CreatedAt, want.CreatedAt)
		}
		if !got.SyncedAt.Equal(want.SyncedAt) {
			t.Errorf("Get(%q).SyncedAt = %v, want %v", in.ID, got.SyncedAt, want.SyncedAt)
		}
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("Get(%q).UpdatedAt = %v, want a UTC time", in.ID, got.UpdatedAt)
		}
	}
}

func TestUpsertRejectsInvalidCampaignsInGo(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	ctx := context.Background()
	var statements int
	s.hook = func(point string, _ *sql.Tx) error {
		if point == "merged" {
			statements++
		}
		return nil
	}
	batch := []store.Campaign{
		{ID: "ok-1", Budget: "1"},
		{ID: "nul", Name: "a\x00b", Budget: "1"},
		{ID: "utf8", Status: "\xff\xfe", Budget: "1"},
		{ID: "budget", Budget: "1e5"},
		{ID: "", Budget: "1"},
		{ID: "time", Budget: "1", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "ok-2", Budget: "-2.50"},
	}
	err := s.Upsert(ctx, "a", batch)
	var be *store.BatchError
	if !errors.As(err, &be) || !errors.Is(err, store.ErrRejected) {
		t.Fatalf("Upsert = %v, want a *store.BatchError", err)
	}
	want := []struct {
		index int
		field string
	}{{1, "name"}, {2, "status"}, {3, "budget"}, {4, "id"}, {5, "created_at"}}
	if len(be.Rejected) != len(want) {
		t.Fatalf("rejected %d campaigns, want %d: %v", len(be.Rejected), len(want), err)
	}
	for i, w := range want {
		r := be.Rejected[i]
		if r.Index != w.index || r.Field != w.field || r.Reason == "" {
			t.Errorf("rejection %d = %+v, want index %d field %q with a reason", i, r, w.index, w.field)
		}
	}
	if statements != 1 {
		t.Errorf("%d transactions reached the merge, want 1 (invalid campaigns are never sent)", statements)
	}
	if n := count(t, schema.DB, "campaigns"); n != 2 {
		t.Errorf("campaigns has %d rows, want the 2 valid ones", n)
	}
	mustGet(t, s, "a", "ok-2")

	if err := s.Upsert(ctx, "bad\x00account", batch[:1]); err == nil {
		t.Errorf("Upsert with a NUL in the account id = %v, want an error", err)
	}
}

// xmins returns each campaign's xmin and updated_at: a row rewritten in any
// way gets a new xmin.
func xmins(t *testing.T, s *Store, db interface {
	SelectContext(context.Context, any, string, ...any) error
}) map[string]string {
	t.Helper()
	var rows []struct {
		ID      string `db:"id"`
		Xmin    string `db:"xmin"`
		Updated string `db:"updated_at"`
	}
	if err := db.SelectContext(context.Background(), &rows,
		"SELECT id, xmin::text AS xmin, updated_at::text AS updated_at FROM "+s.q.schema+"campaigns"); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.ID] = r.Xmin + "@" + r.Updated
	}
	return out
}

func TestUpsertLeavesUnchangedRowsUntouched(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{BatchSize: 7})
	ctx := context.Background()
	batch := makeCampaigns(20, 0)
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatal(err)
	}
	before := xmins(t, s, schema.DB)
	time.Sleep(2 * time.Millisecond) // a rewrite would get a later updated_at
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatal(err)
	}
	after := xmins(t, s, schema.DB)
	for id, x := range before {
		if after[id] != x {
			t.Errorf("unchanged %s was rewritten: xmin@updated_at %s -> %s", id, x, after[id])
		}
	}

	// Changing one campaign rewrites only it, and moves its UpdatedAt.
	changed := append([]store.Campaign(nil), batch...)
	changed[3].Clicks++
	old := mustGet(t, s, "a", changed[3].ID)
	if err := s.Upsert(ctx, "a", changed); err != nil {
		t.Fatal(err)
	}
	after2 := xmins(t, s, schema.DB)
	for id, x := range after {
		if rewritten := after2[id] != x; rewritten != (id == changed[3].ID) {
			t.Errorf("%s rewritten = %v after changing only %s", id, rewritten, changed[3].ID)
		}
	}
	if got := mustGet(t, s, "a", changed[3].ID); !got.UpdatedAt.After(old.UpdatedAt) || got.Clicks != changed[3].Clicks {
		t.Errorf("changed campaign: UpdatedAt %v -> %v, clicks %d; want a later UpdatedAt and clicks %d",
			old.UpdatedAt, got.UpdatedAt, got.Clicks, changed[3].Clicks)
	}

	// Recording a sync rewrites the row but keeps UpdatedAt; a later write
	// without a sync keeps SyncedAt and rewrites nothing.
	synced := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	withSync := append([]store.Campaign(nil), changed...)
	withSync[5].SyncedAt = synced
	beforeSync := mustGet(t, s, "a", withSync[5].ID)
	if err := s.Upsert(ctx, "a", withSync); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, "a", withSync[5].ID)
	if !got.SyncedAt.Equal(synced) || !got.UpdatedAt.Equal(beforeSync.UpdatedAt) {
		t.Errorf("after a sync: SyncedAt %v UpdatedAt %v; want %v and the unchanged %v",
			got.SyncedAt, got.UpdatedAt, synced, beforeSync.UpdatedAt)
	}
	after3 := xmins(t, s, schema.DB)
	if err := s.Upsert(ctx, "a", changed); err != nil { // SyncedAt zero again
		t.Fatal(err)
	}
	if after4 := xmins(t, s, schema.DB); after4[withSync[5].ID] != after3[withSync[5].ID] {
		t.Errorf("a write recording no sync rewrote a synced campaign")
	}
	if got := mustGet(t, s, "a", withSync[5].ID); !got.SyncedAt.Equal(synced) {
		t.Errorf("SyncedAt = %v after a write without a sync, want it kept: %v", got.SyncedAt, synced)
	}
}

// A later listing of the same content rewrites only listed_at: the row's
// content and updated_at stay, and the next older write cannot replace it.
func TestUpsertRelistedRow(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	batch := makeCampaigns(3, 0)
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatal(err)
	}
	before := mustGet(t, s, "a", batch[1].ID)
	relisted := append([]store.Campaign(nil), batch...)
	for i := range relisted {
		relisted[i].ListedAt = relisted[i].ListedAt.Add(time.Hour)
	}
	if err := s.Upsert(ctx, "a", relisted); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, "a", batch[1].ID)
	if !got.ListedAt.Equal(relisted[1].ListedAt) || !got.UpdatedAt.Equal(before.UpdatedAt) || !store.SameContent(got, before) {
		t.Errorf("after a later listing of the same content: %+v; want ListedAt %v, the content and UpdatedAt %v kept",
			got, relisted[1].ListedAt, before.UpdatedAt)
	}
	older := append([]store.Campaign(nil), makeCampaigns(3, 1)...) // other counts, listed an hour before
	if err := s.Upsert(ctx, "a", older); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "a", batch[1].ID); got.Impressions != batch[1].Impressions {
		t.Errorf("content listed before the stored one replaced it: impressions %d, want %d", got.Impressions, batch[1].Impressions)
	}
}

// A row edited by hand is repaired by the next write of its campaign: the
// content is compared column by column, not by a stored digest.
func TestUpsertRepairsAnOutOfBandEdit(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{})
	ctx := context.Background()
	batch := makeCampaigns(4, 0)
	batch[2].Budget = "1.50"
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []string{
		"name = 'edited by hand'", "status = 'PAUSED'", "budget = 1.5", "impressions = impressions + 1",
		"clicks = 0", "conversions = -1", "created_at = NULL", "created_at = created_at + interval '1 microsecond'",
	} {
		before := mustGet(t, s, "a", batch[2].ID)
		schema.DB.MustExec("UPDATE campaigns SET "+edit+" WHERE id = $1", batch[2].ID)
		time.Sleep(2 * time.Millisecond) // a rewrite would get a later updated_at
		if err := s.Upsert(ctx, "a", batch); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, "a", batch[2].ID)
		if !store.SameContent(got, batch[2].Normalize()) || got.Budget != "1.50" {
			t.Errorf("after an edit by hand (%s) and a write of the campaign: %+v; want the campaign as written", edit, got)
		}
		if !got.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("after an edit by hand (%s) was repaired, UpdatedAt stayed %v; want it moved", edit, got.UpdatedAt)
		}
	}
}

func TestUpsertIsolatesRowsPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{BatchSize: 8})
	ctx := context.Background()
	schema.DB.MustExecContext(ctx, "ALTER TABLE campaigns ADD CONSTRAINT no_poison CHECK (name <> 'poison')")

	// An existing campaign that a later batch tries to poison keeps every
	// old field: a rejected campaign is never partly written.
	existing := store.Campaign{ID: "c7", Name: "fine", Status: "paused", Budget: "7", Clicks: 7}
	if err := s.Upsert(ctx, "a", []store.Campaign{existing}); err != nil {
		t.Fatal(err)
	}
	batch := makeCampaigns(37, 0)
	for i := range batch {
		batch[i].ID = "c" + strconv.Itoa(i)
	}
	poisoned := map[int]bool{0: true, 7: true, 8: true, 36: true}
	for i := range poisoned {
		batch[i].Name = "poison"
		batch[i].Clicks = 999
	}
	batch = append(batch, store.Campaign{ID: "nul", Name: "\x00", Budget: "1"}) // index 37, rejected in Go

	err := s.Upsert(ctx, "a", batch)
	var be *store.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Upsert = %v, want a *store.BatchError", err)
	}
	var gotIdx []int
	for _, r := range be.Rejected {
		gotIdx = append(gotIdx, r.Index)
		if r.Index == 37 {
			continue
		}
		if !poisoned[r.Index] || r.ID != batch[r.Index].ID ||
			!strings.Contains(r.Reason, "23514") || !strings.Contains(r.Reason, "no_poison") {
			t.Errorf("rejection %+v: want a poisoned campaign, with SQLSTATE 23514 and the constraint's name", r)
		}
		if strings.Contains(r.Reason, "Failing row") {
			t.Errorf("reason %q quotes the row", r.Reason)
		}
	}
	if want := []int{0, 7, 8, 36, 37}; !equalInts(gotIdx, want) {
		t.Fatalf("rejected indexes %v, want %v", gotIdx, want)
	}
	for i, c := range batch[:37] {
		got, err := s.Get(ctx, "a", c.ID)
		switch {
		case i == 7:
			if err != nil || got.Name != "fine" || got.Clicks != 7 || got.Status != "paused" {
				t.Errorf("poisoned existing campaign = %+v, %v; want it unchanged", got, err)
			}
		case poisoned[i]:
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("poisoned campaign %s: Get = %v, want not found", c.ID, err)
			}
		case err != nil || got.Name != c.Name:
			t.Errorf("good campaign %s: Get = %+v, %v; want it stored", c.ID, got, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUpsertSpansChunksAndLastDuplicateWins(t *testing.T) {
	t.Parallel()
	s, schema := newTestStore(t, Options{BatchSize: 100})
	ctx := context.Background()
	var merges int
	s.hook = func(point string, _ *sql.Tx) error {
		if point == "merged" {
			merges++
		}
		return nil
	}
	batch := makeCampaigns(1050, 0)
	// Duplicates inside a chunk, across a chunk boundary, and far apart.
	dup := func(of, version int) store.Campaign {
		c := batch[of]
		c.Name = "version " + strconv.Itoa(version)
		return c
	}
	batch = append(batch, dup(5, 1), dup(5, 2), dup(99, 1), dup(1000, 1))
	batch = append(batch[:50], append([]store.Campaign{dup(49, 1)}, batch[50:]...)...)
	if err := s.Upsert(ctx, "a", batch); err != nil {
		t.Fatal(err)
	}
	if n := count(t, schema.DB, "campaigns"); n != 1050 {
		t.Errorf("%d campaigns stored, want 1050", n)
	}
	if merges < 11 {
		t.Errorf("%d chunks merged, want at least 11 of at most 100", merges)
	}
	for id, name := range map[string]string{
		"campaign_5": "version 2", "campaign_99": "version 1", "campaign_1000": "version 1",
		"campaign_49": "version 1", "campaign_50": batch[51].Name, "campaign_1049": batch[1050].Name,
	} {
		if got := mustGet(t, s, "a", id); got.Name != name {
			t.Errorf("%s: name %q, want the last one given: %q", id, got.Name, name)
		}
	}
}

func TestUpsertKeepsAccountsApart(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	if err := s.Upsert(ctx, "a", []store.Campaign{{ID: "x", Name: "of a", Budget: "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(ctx, "b", []store.Campaign{{ID: "x", Name: "of b", Budget: "2"}}); err != nil {
		t.Fatal(err)
	}
	if a, b := mustGet(t, s, "a", "x"), mustGet(t, s, "b", "x"); a.Name != "of a" || b.Name != "of b" {
		t.Errorf("names %q and %q, want each account's own", a.Name, b.Name)
	}
	if _, err := s.Get(ctx, "c", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of another account = %v, want not found", err)
	}
}

// TestUpsertOnASmallPool: the chunk being copied and the chunk being
// merged, and the careful rewrite of a refused chunk, must not wait for
// each other's connection, even with several upserts sharing a pool of one
// or two connections.
func TestUpsertOnASmallPool(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{1, 2} {
		t.Run(strconv.Itoa(conns), func(t *testing.T) {
			t.Parallel()
			schema := postgrestest.New(t)
			db := openPool(t, schema, nil)
			db.SetMaxOpenConns(conns)
			s := newStoreOn(t, db, Options{BatchSize: 10})
			schema.DB.MustExec("ALTER TABLE campaigns ADD CONSTRAINT no_poison CHECK (name <> 'poison')")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for u := range 4 {
				wg.Go(func() {
					batch := makeCampaigns(95, u)
					batch[13].Name, batch[71].Name = "poison", "poison"
					err := s.Upsert(ctx, "acct-"+strconv.Itoa(u), batch)
					var be *store.BatchError
					if !errors.As(err, &be) || len(be.Rejected) != 2 || be.Rejected[0].Index != 13 || be.Rejected[1].Index != 71 {
						t.Errorf("Upsert %d = %v, want campaigns 13 and 71 rejected (and no deadlock)", u, err)
					}
				})
			}
			wg.Wait()
			if n := count(t, schema.DB, "campaigns"); n != 4*93 {
				t.Errorf("%d campaigns stored, want %d", n, 4*93)
			}
		})
	}
}
