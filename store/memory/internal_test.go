package memory

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/adsync/adsync/store"
)

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
	l, err := New().Acquire(t.Context(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		r, err := l.StartRun(t.Context(), store.StartOptions{Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		// 26 base32 characters: 130 random bits, nothing to guess from.
		if len(r.ID) != 26 || strings.Trim(r.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("run id %q is not 26 characters of base32", r.ID)
		}
	}
}

// Each Acquire bumps the account's generation, and a lease holds the
// account until it is released.
func TestGenerations(t *testing.T) {
	t.Parallel()
	s := New()
	for want := int64(1); want <= 3; want++ {
		l, err := s.Acquire(t.Context(), "acct")
		if err != nil {
			t.Fatal(err)
		}
		if got := l.(*lease).generation; got != want {
			t.Errorf("Acquire %d: generation %d; want %d", want, got, want)
		}
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// The default MaxResumeAge is a day, on the store's clock.
func TestDefaultMaxResumeAge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := New()
		l, err := s.Acquire(t.Context(), "acct")
		if err != nil {
			t.Fatal(err)
		}
		first, err := l.StartRun(t.Context(), store.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(store.DefaultMaxResumeAge - time.Second)
		if again, err := l.StartRun(t.Context(), store.StartOptions{}); err != nil || again.ID != first.ID || !again.Resumed {
			t.Fatalf("StartRun a second short of a day later = %+v, %v; want the run resumed", again, err)
		}
		time.Sleep(2 * time.Second)
		fresh, err := l.StartRun(t.Context(), store.StartOptions{})
		if err != nil || fresh.ID == first.ID || fresh.Resumed {
			t.Fatalf("StartRun a second more than a day later = %+v, %v; want a new run", fresh, err)
		}
		if !strings.Contains(fresh.Note, first.ID) || !strings.Contains(fresh.Note, "24h0m0s") {
			t.Errorf("Note %q; want it to name run %s and the limit, 24h0m0s", fresh.Note, first.ID)
		}
		if old := s.runs[first.ID]; old.Status != store.RunInterrupted || !strings.Contains(old.Error, fresh.ID) {
			t.Errorf("the expired run is %+v; want it interrupted, naming the run started instead", old.Run)
		}
		time.Sleep(1000 * time.Hour)
		if again, err := l.StartRun(t.Context(), store.StartOptions{MaxResumeAge: -1}); err != nil || again.ID != fresh.ID {
			t.Errorf("StartRun with MaxResumeAge -1, 1000 hours later = %+v, %v; want run %s resumed", again, err, fresh.ID)
		}
	})
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

// The lazily ordered letter box pages exactly like a sorted map, through
// any mix of puts, resolves, retirements, re-puts and reads.
func TestLetterBoxMatchesModel(t *testing.T) {
	t.Parallel()
	b := newLetterBox()
	rng := rand.New(rand.NewPCG(1, 2))
	type state struct {
		attempts int
		retired  bool
	}
	model := map[string]state{}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for step := range 5000 {
		id := fmt.Sprintf("c-%02d", rng.IntN(60))
		switch op := rng.IntN(12); {
		case op < 5:
			b.put(store.DeadLetter{CampaignID: id, Data: []byte(id)}, at)
			if m := model[id]; m.retired {
				model[id] = state{attempts: 1}
			} else {
				model[id] = state{attempts: m.attempts + 1}
			}
		case op < 8:
			b.resolve(id)
			b.resolve("absent")
			delete(model, id)
		case op < 9:
			b.retire(store.Retirement{CampaignID: id, Reason: "r"}, at)
			if m, ok := model[id]; ok {
				m.retired = true
				model[id] = m
			}
		default:
			retired := op == 11
			limit := 1 + rng.IntN(7)
			var got []string
			for after := ""; ; {
				page := b.page(after, limit, retired)
				for _, l := range page {
					m := model[l.CampaignID]
					if l.Attempts != m.attempts || string(l.Data) != l.CampaignID || m.retired != !l.RetiredAt.IsZero() {
						t.Fatalf("step %d: letter %s has %d attempts, data %q, retired at %v; want %+v",
							step, l.CampaignID, l.Attempts, l.Data, l.RetiredAt, m)
					}
					got = append(got, l.CampaignID)
					after = l.CampaignID
				}
				if len(page) < limit {
					break
				}
			}
			var want []string
			for _, id := range slices.Sorted(maps.Keys(model)) {
				if retired || !model[id].retired {
					want = append(want, id)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, pages of %d (retired %v): got %q; want %q", step, limit, retired, got, want)
			}
		}
	}
}

// Letters put and resolved with no page read between do not pile up.
func TestResolvedLettersDoNotAccumulate(t *testing.T) {
	t.Parallel()
	b := newLetterBox()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.put(store.DeadLetter{CampaignID: "kept"}, at)
	for i := range 10_000 {
		id := fmt.Sprint("c-", i)
		b.put(store.DeadLetter{CampaignID: id}, at)
		b.resolve(id)
	}
	if n := len(b.sorted) + len(b.pending); n > 10 {
		t.Errorf("after 10,000 letters put and resolved, the order holds %d ids for 1 letter", n)
	}
}
