package postgres

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
)

// TestStartRunIsSerializedPerAccount starts runs of one account from many
// goroutines at once: the advisory lock lets one start a run and the others
// resume it. Without it, several would each see no run and start one.
func TestStartRunIsSerializedPerAccount(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	const callers, rounds = 12, 8
	for round := range rounds {
		account := "acct-" + strconv.Itoa(round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		ids := make(chan string, callers)
		for range callers {
			wg.Go(func() {
				<-start
				r, err := s.StartRun(context.Background(), account, store.StartOptions{})
				if err != nil {
					t.Errorf("StartRun: %v", err)
					return
				}
				ids <- r.ID
			})
		}
		close(start)
		wg.Wait()
		close(ids)
		distinct := map[string]bool{}
		for id := range ids {
			distinct[id] = true
		}
		var runs int
		if err := s.db.Get(&runs, "SELECT count(*) FROM runs WHERE account_id = $1", account); err != nil {
			t.Fatal(err)
		}
		if len(distinct) != 1 || runs != 1 {
			t.Fatalf("round %d: %d concurrent StartRun calls made %d runs (%d distinct ids returned), want 1",
				round, callers, runs, len(distinct))
		}
	}
}

func TestFreshRunReplacesTheUnfinishedOne(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	old, err := s.StartRun(ctx, "acct", store.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.StartRun(ctx, "acct", store.StartOptions{Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	var replaced store.Run
	err = s.db.QueryRowContext(ctx, "SELECT status, error FROM runs WHERE id = $1", old.ID).Scan(&replaced.Status, &replaced.Error)
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Status != store.RunInterrupted || !strings.Contains(replaced.Error, fresh.ID) {
		t.Errorf("replaced run: status %q, error %q; want interrupted, naming the fresh run", replaced.Status, replaced.Error)
	}
	old.Status = store.RunCompleted
	if err := s.FinishRun(ctx, old); err == nil {
		t.Error("FinishRun of a replaced run = nil, want an error: it stays interrupted")
	}
}

func TestDeadLettersWithLongCampaignIDs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
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
		letters = append(letters, store.DeadLetter{AccountID: "acct", CampaignID: id, RunID: "r", Data: []byte{byte(i), 0, 0xff}, Error: "e"})
	}
	if err := s.PutDeadLetters(ctx, letters); err != nil {
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
	if err := s.ResolveDeadLetters(ctx, "acct", ids[3:]); err != nil {
		t.Fatal(err)
	}
	page, err := s.DeadLetters(ctx, "acct", "", 100)
	if err != nil || len(page) != 3 {
		t.Fatalf("after resolving all but 3: %d letters, %v", len(page), err)
	}
	for _, l := range page {
		i := slices.Index(ids, l.CampaignID)
		if !bytes.Equal(l.Data, []byte{byte(i), 0, 0xff}) {
			t.Errorf("letter %d: data %x", i, l.Data)
		}
	}
}

func TestDeadLetterErrorTextIsKeptStorable(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	l := store.DeadLetter{AccountID: "acct", CampaignID: "c", Data: []byte("{}"), Error: "platform said \x00\xff"}
	if err := s.PutDeadLetters(ctx, []store.DeadLetter{l}); err != nil {
		t.Fatalf("PutDeadLetters with a NUL and invalid UTF-8 in Error = %v, want it kept", err)
	}
	got, err := s.DeadLetters(ctx, "acct", "", 1)
	if err != nil || len(got) != 1 || got[0].Error != "platform said \uFFFD\uFFFD" {
		t.Fatalf("DeadLetters = %+v, %v; want the error with U+FFFD for NUL and the bad byte", got, err)
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
		ask = append(ask, batch[i].ID, "", "bad\x00id", strings.Repeat("x", store.MaxIDBytes+1))
	}
	if err := s.Upsert(ctx, "acct", batch); err != nil {
		t.Fatal(err)
	}
	got, err := s.SyncedSince(ctx, "acct", ask, since)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SyncedSince = %d ids, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}
