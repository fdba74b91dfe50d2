package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

var (
	t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

func campaign(name string, listed, synced time.Time) store.Campaign {
	return store.Campaign{ID: "c", Name: name, Status: "ACTIVE", Budget: "1.50", ListedAt: listed, SyncedAt: synced}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	stored := campaign("stored", t1, t1)
	stored.UpdatedAt = t0
	now := t2.Add(time.Hour)
	for _, tc := range []struct {
		name        string
		old, c      store.Campaign
		wantName    string
		wantListed  time.Time
		wantSynced  time.Time
		wantUpdated time.Time
		changed     bool
	}{
		{"a new row", store.Campaign{}, campaign("new", t1, time.Time{}), "new", t1, time.Time{}, now, true},
		{"a new row listed now", store.Campaign{}, campaign("new", time.Time{}, t1), "new", now, t1, now, true},
		{"newer content", stored, campaign("newer", t2, time.Time{}), "newer", t2, t1, now, true},
		{"older content, later sync", stored, campaign("older", t0, t2), "stored", t1, t2, t0, true},
		{"older content, older sync", stored, campaign("older", t0, t0), "stored", t1, t1, t0, false},
		{"same listing, other content", stored, campaign("same time", t1, time.Time{}), "same time", t1, t1, now, true},
		{"same listing, same content", stored, campaign("stored", t1, time.Time{}), "stored", t1, t1, t0, false},
		{"same content listed later", stored, campaign("stored", t2, time.Time{}), "stored", t2, t1, t0, true},
		{"other budget digits are other content", stored, func() store.Campaign {
			c := campaign("stored", t1, time.Time{})
			c.Budget = "1.5"
			return c
		}(), "stored", t1, t1, now, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := store.Merge(tc.old, tc.c, now)
			if got.Name != tc.wantName || !got.ListedAt.Equal(tc.wantListed) || !got.SyncedAt.Equal(tc.wantSynced) ||
				!got.UpdatedAt.Equal(tc.wantUpdated) || changed != tc.changed {
				t.Errorf("Merge = {Name %q, ListedAt %v, SyncedAt %v, UpdatedAt %v}, changed %v; want {%q, %v, %v, %v}, %v",
					got.Name, got.ListedAt, got.SyncedAt, got.UpdatedAt, changed,
					tc.wantName, tc.wantListed, tc.wantSynced, tc.wantUpdated, tc.changed)
			}
		})
	}
	// A clock stepped back never moves UpdatedAt backwards.
	if got, _ := store.Merge(stored, campaign("changed", t2, time.Time{}), t0.Add(-time.Hour)); !got.UpdatedAt.Equal(t0) {
		t.Errorf("Merge with a clock before the stored UpdatedAt: UpdatedAt %v; want %v kept", got.UpdatedAt, t0)
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	now := t2
	batch := []store.Campaign{
		{ID: "a", Name: "a1", Budget: "1"},
		{ID: "b", Name: "b1", Budget: "1", ListedAt: t1},
		{ID: "a", Name: "a2", Budget: "1"},                // the last of a listed now
		{ID: "b", Name: "b2", Budget: "1", ListedAt: t0},  // listed before b1: b1 wins
		{ID: "c", Name: "bad\x00", Budget: "1"},           // invalid
		{ID: "a", Name: "a3", Budget: "1", ListedAt: t1},  // listed before now
		{ID: "c", Name: "c1", Budget: "1"},                // valid after an invalid copy
		{ID: "d", Name: "d1", Budget: "1", ListedAt: now}, // listed now, like a zero ListedAt
		{ID: "d", Name: "d2", Budget: "1"},
	}
	keep, rejected := store.Prepare(batch, now)
	var names []string
	for _, i := range keep {
		names = append(names, batch[i].Name)
	}
	if got := strings.Join(names, ","); got != "a2,b1,c1,d2" {
		t.Errorf("Prepare kept %s; want a2,b1,c1,d2 (per id, in the order ids first appear, the copy listed last, the later of equals)", got)
	}
	if len(rejected) != 1 || rejected[0].Index != 4 || rejected[0].Field != "name" {
		t.Errorf("Prepare rejected %+v; want index 4, on its name", rejected)
	}
}

func TestBatchValidate(t *testing.T) {
	t.Parallel()
	valid := store.Batch{
		RunID:       "run",
		Campaigns:   []store.Campaign{{ID: "c", Budget: "1"}},
		DeadLetters: []store.DeadLetter{{CampaignID: strings.Repeat("x", 5000), Data: []byte{0, 0xff}}},
		Resolved:    []string{"r"},
		Retired:     []store.Retirement{{CampaignID: "t", Reason: "gone \x00"}},
		Finish:      &store.RunFinish{Status: store.RunCompleted},
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate of a valid batch = %v", err)
	}
	for _, tc := range []struct {
		name, want string
		change     func(*store.Batch)
	}{
		{"no run", "Batch.RunID is empty", func(b *store.Batch) { b.RunID = "" }},
		{"run id not UTF-8", "Batch.RunID is not valid UTF-8", func(b *store.Batch) { b.RunID = "\xff" }},
		{"letter without id", "Batch.DeadLetters[0].CampaignID is empty", func(b *store.Batch) { b.DeadLetters[0].CampaignID = "" }},
		{"letter run id with NUL", "Batch.DeadLetters[0].RunID contains a NUL byte", func(b *store.Batch) { b.DeadLetters[0].RunID = "\x00" }},
		{"resolved empty", "Batch.Resolved[0] is empty", func(b *store.Batch) { b.Resolved[0] = "" }},
		{"retired with NUL", "Batch.Retired[0].CampaignID contains a NUL byte", func(b *store.Batch) { b.Retired[0].CampaignID = "\x00" }},
		{"negative count", "Batch.Progress has a negative count", func(b *store.Batch) { b.Progress.Skipped = -1 }},
		{"finish running", `Batch.Finish.Status "running" is not a final status`, func(b *store.Batch) { b.Finish.Status = store.RunRunning }},
	} {
		b := valid
		b.DeadLetters = append([]store.DeadLetter(nil), valid.DeadLetters...)
		b.Resolved = append([]string(nil), valid.Resolved...)
		b.Retired = append([]store.Retirement(nil), valid.Retired...)
		f := *valid.Finish
		b.Finish = &f
		tc.change(&b)
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, store.ErrRejected) {
			t.Errorf("%s: Validate = %v; want an error saying %q", tc.name, err, tc.want)
		}
	}
	b := valid
	b.Campaigns = []store.Campaign{{ID: "ok", Budget: "1"}, {ID: "", Budget: "1"}, {ID: "x", Budget: "1e3"}}
	var be *store.BatchError
	if err := b.Validate(); !errors.As(err, &be) || len(be.Rejected) != 2 || be.Rejected[0].Index != 1 || be.Rejected[1].Index != 2 {
		t.Errorf("Validate of a batch with 2 invalid campaigns = %v; want a *BatchError listing indexes 1 and 2", err)
	}
}

func TestBatchNormalize(t *testing.T) {
	t.Parallel()
	b := store.Batch{
		RunID:       "run",
		DeadLetters: []store.DeadLetter{{CampaignID: "a", Error: "bad \x00\xff", Data: []byte{0, 0xff}}, {CampaignID: "b", RunID: "other"}},
		Retired:     []store.Retirement{{CampaignID: "c", Reason: "\xfe"}},
		Finish:      &store.RunFinish{Status: store.RunFailed, Error: "x\x00"},
	}
	n := b.Normalize()
	if l := n.DeadLetters[0]; l.Error != "bad \uFFFD\uFFFD" || l.RunID != "run" || string(l.Data) != "\x00\xff" {
		t.Errorf("normalized letter %+v; want its Error cleaned, the batch's RunID, its Data as it was", l)
	}
	if n.DeadLetters[1].RunID != "other" || n.Retired[0].Reason != "\uFFFD" || n.Finish.Error != "x\uFFFD" {
		t.Errorf("normalized batch %+v; want an explicit RunID kept and every message cleaned", n)
	}
	if b.DeadLetters[0].Error != "bad \x00\xff" || b.Finish.Error != "x\x00" || b.Retired[0].Reason != "\xfe" {
		t.Error("Normalize changed the caller's batch")
	}
}

func TestWhyNotResume(t *testing.T) {
	t.Parallel()
	r := store.Run{ID: "r", StartedAt: t0}
	for _, tc := range []struct {
		name   string
		opts   store.StartOptions
		now    time.Time
		resume bool
	}{
		{"recent, default limit", store.StartOptions{}, t0.Add(23 * time.Hour), true},
		{"older than the default day", store.StartOptions{}, t0.Add(25 * time.Hour), false},
		{"within a set limit", store.StartOptions{MaxResumeAge: time.Hour}, t0.Add(time.Hour), true},
		{"beyond a set limit", store.StartOptions{MaxResumeAge: time.Hour}, t0.Add(time.Hour + time.Second), false},
		{"no limit", store.StartOptions{MaxResumeAge: -1}, t0.Add(1000 * time.Hour), true},
		{"fresh", store.StartOptions{Fresh: true}, t0, false},
	} {
		why := store.WhyNotResume(r, tc.opts, tc.now)
		if (why == "") != tc.resume {
			t.Errorf("%s: WhyNotResume = %q; want resumed %v", tc.name, why, tc.resume)
		}
	}
}

func TestOptionsNormalize(t *testing.T) {
	t.Parallel()
	if q, err := (store.RunQuery{}).Normalize(); err != nil || q.Limit != store.DefaultRunLimit {
		t.Errorf("RunQuery{}.Normalize() = %+v, %v; want Limit %d", q, err, store.DefaultRunLimit)
	}
	for _, q := range []store.RunQuery{{Limit: -1}, {Kind: "other"}, {Before: "\x00"}} {
		if _, err := q.Normalize(); err == nil || !strings.Contains(err.Error(), "RunQuery.") {
			t.Errorf("%+v.Normalize() = %v; want an error naming the field", q, err)
		}
	}
	if o, err := (store.StartOptions{}).Normalize(); err != nil || o.Kind != store.KindSync {
		t.Errorf("StartOptions{}.Normalize() = %+v, %v; want Kind sync", o, err)
	}
	if _, err := (store.StartOptions{Kind: "x"}).Normalize(); err == nil || !strings.Contains(err.Error(), "StartOptions.Kind") {
		t.Errorf("StartOptions{Kind: x}.Normalize() = %v; want an error naming the field", err)
	}
}

func TestAccountError(t *testing.T) {
	t.Parallel()
	busy := error(&store.AccountError{AccountID: "acme", Err: store.ErrAccountBusy, Reason: "another holder has it"})
	lost := error(&store.AccountError{AccountID: "acme", Err: store.ErrAccountLost, Reason: "released"})
	if busy.Error() != `store: account "acme" is busy: another holder has it` || !errors.Is(busy, store.ErrAccountBusy) || errors.Is(busy, store.ErrAccountLost) {
		t.Errorf("busy: %q", busy)
	}
	if lost.Error() != `store: account "acme" was lost: released` || !errors.Is(lost, store.ErrAccountLost) || errors.Is(lost, store.ErrAccountBusy) {
		t.Errorf("lost: %q", lost)
	}
}
