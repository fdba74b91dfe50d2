package memory

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/adsync/adsync/store"
)

// The run a fresh one replaced is kept, interrupted, with an Error saying
// so, and cannot be finished any more: the interface cannot show this, the
// store's state can.
func TestFreshRunMarksReplacedInterrupted(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	old, err := s.StartRun(ctx, "acct", store.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.StartRun(ctx, "acct", store.StartOptions{Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	replaced := s.runs[old.ID]
	if replaced.Status != store.RunInterrupted || !strings.Contains(replaced.Error, fresh.ID) || replaced.FinishedAt.IsZero() {
		t.Errorf("the replaced run is %+v; want it interrupted, finished, with an Error naming the fresh run %s", replaced.Run, fresh.ID)
	}
	old.Status = store.RunCompleted
	if err := s.FinishRun(ctx, old); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRun of a replaced run = %v; want an error saying it was replaced", err)
	}
	if s.runs[old.ID].Status != store.RunInterrupted {
		t.Errorf("the replaced run's status is %q after FinishRun; want it to stay interrupted", s.runs[old.ID].Status)
	}
}

// What the store keeps does not share memory with what the caller passed:
// a 1-byte id sliced from a 1 MiB body must not keep the body alive.
func TestStoredTextIsCopied(t *testing.T) {
	t.Parallel()
	s := New()
	body := strings.Repeat("x", 1<<20)
	c := store.Campaign{ID: body[:5], Name: body[5:10], Status: body[10:15], Budget: "1"}
	if err := s.Upsert(t.Context(), "acct", []store.Campaign{c}); err != nil {
		t.Fatal(err)
	}
	within := func(sub string) bool {
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(sub))), uintptr(unsafe.Pointer(unsafe.StringData(body)))
		return p >= start && p < start+uintptr(len(body))
	}
	for key, got := range s.campaigns["acct"] {
		for _, f := range []struct{ name, v string }{{"map key", key}, {"ID", got.ID}, {"Name", got.Name}, {"Status", got.Status}} {
			if within(f.v) {
				t.Errorf("the stored %s points into the caller's buffer", f.name)
			}
		}
	}
}

func TestRunIDsAreRandom(t *testing.T) {
	t.Parallel()
	s := New()
	for range 50 {
		r, err := s.StartRun(t.Context(), "acct", store.StartOptions{Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		// 26 base32 characters: 130 random bits, nothing to guess from.
		if len(r.ID) != 26 || strings.Trim(r.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("run id %q is not 26 characters of base32", r.ID)
		}
	}
}

func TestFinishRunValidates(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	r, err := s.StartRun(ctx, "acct", store.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*store.Run)
		want   string
	}{
		{"running is not an end", func(r *store.Run) { r.Status = store.RunRunning }, "Status"},
		{"unknown status", func(r *store.Run) { r.Status = "done" }, "Status"},
		{"FinishedAt out of range", func(r *store.Run) {
			r.Status, r.FinishedAt = store.RunCompleted, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "FinishedAt"},
		{"negative counts", func(r *store.Run) { r.Status, r.Failed = store.RunFailed, -1 }, "counts"},
	} {
		bad := r
		tc.change(&bad)
		if err := s.FinishRun(ctx, bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: FinishRun = %v; want an error naming %s", tc.name, err, tc.want)
		}
	}
	if got := s.runs[r.ID]; got.Status != store.RunRunning {
		t.Errorf("after rejected FinishRun calls, the run is %q; want it untouched", got.Status)
	}
	// A zero FinishedAt is recorded as now.
	r.Status = store.RunCompleted
	if err := s.FinishRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := s.runs[r.ID].FinishedAt; got.IsZero() || got.Location() != time.UTC {
		t.Errorf("FinishedAt recorded as %v; want now, in UTC", got)
	}
}

func TestPutDeadLettersValidatesAll(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	good := store.DeadLetter{AccountID: "acct", CampaignID: "c-1", Data: []byte("{}")}
	for _, tc := range []struct {
		name   string
		letter store.DeadLetter
		want   string
	}{
		{"empty CampaignID", store.DeadLetter{AccountID: "acct"}, "CampaignID is empty"},
		{"NUL in CampaignID", store.DeadLetter{AccountID: "acct", CampaignID: "a\x00"}, "NUL"},
		{"invalid UTF-8 CampaignID", store.DeadLetter{AccountID: "acct", CampaignID: "\xff"}, "UTF-8"},
		{"empty AccountID", store.DeadLetter{CampaignID: "c-2"}, "account id is empty"},
	} {
		err := s.PutDeadLetters(ctx, []store.DeadLetter{good, tc.letter})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "letter 1") {
			t.Errorf("%s: PutDeadLetters = %v; want an error naming letter 1 and saying %q", tc.name, err, tc.want)
		}
	}
	if got, err := s.DeadLetters(ctx, "acct", "", 10); err != nil || len(got) != 0 {
		t.Errorf("after rejected PutDeadLetters calls: %d letters, %v; want none stored (a call is all or nothing)", len(got), err)
	}
}

func TestDeadLettersLimit(t *testing.T) {
	t.Parallel()
	s := New()
	for _, limit := range []int{0, -1} {
		if _, err := s.DeadLetters(t.Context(), "acct", "", limit); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("DeadLetters(limit %d) = %v; want an error naming the limit", limit, err)
		}
	}
}

// Of several valid campaigns with the same id the last is stored; an
// invalid one among them is rejected and does not hide the valid ones.
func TestDuplicateWithInvalid(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	batch := []store.Campaign{
		{ID: "c", Name: "first", Budget: "1"},
		{ID: "c", Name: "second", Budget: "2"},
		{ID: "c", Name: "bad", Budget: "007"},
	}
	var be *store.BatchError
	if err := s.Upsert(ctx, "acct", batch); !errors.As(err, &be) || len(be.Rejected) != 1 || be.Rejected[0].Index != 2 {
		t.Fatalf("Upsert = %v; want a BatchError rejecting index 2", err)
	}
	if got, err := s.Get(ctx, "acct", "c"); err != nil || got.Name != "second" {
		t.Errorf("Get = %q, %v; want the last valid version, \"second\"", got.Name, err)
	}
}

// The lazily ordered dead letters page exactly like a sorted map, through
// any mix of puts, resolves, re-puts and reads.
func TestLetterBoxMatchesModel(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]int{} // id → attempts
	for step := range 5000 {
		id := fmt.Sprintf("c-%02d", rng.IntN(60))
		switch op := rng.IntN(10); {
		case op < 5:
			if err := s.PutDeadLetters(ctx, []store.DeadLetter{{AccountID: "acct", CampaignID: id, Data: []byte(id)}}); err != nil {
				t.Fatal(err)
			}
			model[id]++
		case op < 8:
			if err := s.ResolveDeadLetters(ctx, "acct", []string{id, "absent"}); err != nil {
				t.Fatal(err)
			}
			delete(model, id)
		default:
			limit := 1 + rng.IntN(7)
			var got []string
			for after := ""; ; {
				page, err := s.DeadLetters(ctx, "acct", after, limit)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range page {
					if l.Attempts != model[l.CampaignID] || string(l.Data) != l.CampaignID {
						t.Fatalf("step %d: letter %s has %d attempts, data %q; want %d, %q",
							step, l.CampaignID, l.Attempts, l.Data, model[l.CampaignID], l.CampaignID)
					}
					got = append(got, l.CampaignID)
					after = l.CampaignID
				}
				if len(page) < limit {
					break
				}
			}
			want := slices.Sorted(maps.Keys(model))
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, pages of %d: got %q; want %q", step, limit, got, want)
			}
		}
	}
}

// Letters put and resolved with no page read between do not pile up.
func TestResolvedLettersDoNotAccumulate(t *testing.T) {
	t.Parallel()
	s := New()
	ctx := t.Context()
	if err := s.PutDeadLetters(ctx, []store.DeadLetter{{AccountID: "acct", CampaignID: "kept"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		id := fmt.Sprint("c-", i)
		if err := s.PutDeadLetters(ctx, []store.DeadLetter{{AccountID: "acct", CampaignID: id}}); err != nil {
			t.Fatal(err)
		}
		if err := s.ResolveDeadLetters(ctx, "acct", []string{id}); err != nil {
			t.Fatal(err)
		}
	}
	box := s.letters["acct"]
	if n := len(box.sorted) + len(box.pending); n > 10 {
		t.Errorf("after 10,000 letters put and resolved, the order holds %d ids for 1 letter", n)
	}
}
