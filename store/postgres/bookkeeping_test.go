package postgres

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

func TestDeadLettersWithLongCampaignIDs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	l := mustAcquire(t, s, "acct")
	run := mustStart(t, l)
	// A campaign refused for its over-long id is still kept as a dead
	// letter. Ids sharing the indexed 256-character prefix must still come
	// in byte order.
	prefix := strings.Repeat("é", 256)
	ids := []string{
		prefix + "b", prefix + "a", prefix, prefix + strings.Repeat("z", 20000),
		strings.Repeat("é", 255) + "f", "a", strings.Repeat("é", 255), "😀",
	}
	var letters []store.DeadLetter
	for i, id := range ids {
		letters = append(letters, store.DeadLetter{CampaignID: id, Data: []byte{byte(i), 0, 0xff}, Error: "e"})
	}
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, DeadLetters: letters}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	for _, limit := range []int{1, 2, 100} {
		var got []string
		after := ""
		for {
			page, err := s.DeadLetters(ctx, "acct", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range page {
				got = append(got, l.CampaignID)
				after = l.CampaignID
			}
			if len(page) < limit {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: ids out of byte order or missing:\n got %d ids\nwant %d ids", limit, len(got), len(want))
		}
	}
	if err := l.Commit(ctx, store.Batch{RunID: run.ID, Resolved: ids[3:], Retired: []store.Retirement{{CampaignID: ids[0], Reason: "gone"}}}); err != nil {
		t.Fatal(err)
	}
	page, err := s.DeadLetters(ctx, "acct", "", 100)
	if err != nil || len(page) != 3 {
		t.Fatalf("after resolving all but 3: %d letters, %v", len(page), err)
	}
	for _, dl := range page {
		i := slices.Index(ids, dl.CampaignID)
		if !bytes.Equal(dl.Data, []byte{byte(i), 0, 0xff}) || (i == 0) != !dl.RetiredAt.IsZero() {
			t.Errorf("letter %d: data %x, retired at %v", i, dl.Data, dl.RetiredAt)
		}
	}
	if err := s.DiscardDeadLetter(ctx, "acct", ids[1]); err != nil {
		t.Errorf("DiscardDeadLetter of a long id = %v", err)
	}
}

func TestSyncedSinceAsksInBatches(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{BatchSize: 16})
	ctx := context.Background()
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := makeCampaigns(100, 0)
	var want, ask []string
	for i := range batch {
		if i%3 != 0 {
			batch[i].SyncedAt = since.Add(time.Duration(i-50) * time.Second)
		}
		if i%3 != 0 && i >= 50 {
			want = append(want, batch[i].ID)
		}
		ask = append(ask, batch[i].ID, "", "bad\x00id", strings.Repeat("x", store.MaxIDBytes+1), batch[i].ID)
	}
	if err := s.Upsert(ctx, "acct", batch); err != nil {
		t.Fatal(err)
	}
	got, err := mustAcquire(t, s, "acct").SyncedSince(ctx, ask, since)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SyncedSince = %d ids, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}
