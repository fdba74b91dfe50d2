package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/adsync/adsync/store"
)

// letterBox holds one account's dead letters.
//
// Pages come in CampaignID order, yet letters are put and resolved one at a
// time while a run goes, and read page by page when it retries. So writes
// are O(1) and leave the order to the next read: sorted is the ids in
// order as of the last read (possibly with ids resolved since, skipped when
// read), pending the ids put since, merged into sorted by the next read.
type letterBox struct {
	byID    map[string]store.DeadLetter
	sorted  []string
	pending []string
	stale   int // resolves since sorted was last cleaned: when to clean it
}

func newLetterBox() *letterBox {
	return &letterBox{byID: make(map[string]store.DeadLetter)}
}

// put records one failure of l at t.
func (b *letterBox) put(l store.DeadLetter, t time.Time) {
	stored := store.DeadLetter{
		AccountID:  strings.Clone(l.AccountID),
		CampaignID: strings.Clone(l.CampaignID),
		RunID:      strings.Clone(l.RunID),
		Data:       append([]byte{}, l.Data...),
		Error:      strings.Clone(l.Error),
		Attempts:   1,
	}
	if old, ok := b.byID[l.CampaignID]; ok {
		stored.Attempts = old.Attempts + 1
		stored.FirstFailedAt = old.FirstFailedAt
		stored.LastFailedAt = notBefore(t, old.LastFailedAt)
	} else {
		stored.FirstFailedAt, stored.LastFailedAt = t, t
		b.pending = append(b.pending, stored.CampaignID)
	}
	b.byID[stored.CampaignID] = stored
}

// resolve removes the letter of id, if any.
func (b *letterBox) resolve(id string) {
	if _, ok := b.byID[id]; ok {
		delete(b.byID, id)
		b.stale++
	}
}

// tidy merges the pending ids into sorted and, when resolved ids make up
// half of it, drops them. Only a read after writes does any work.
func (b *letterBox) tidy() {
	if len(b.pending) > 0 {
		slices.Sort(b.pending)
		merged := make([]string, 0, len(b.sorted)+len(b.pending))
		i, j := 0, 0
		for i < len(b.sorted) || j < len(b.pending) {
			if j == len(b.pending) || (i < len(b.sorted) && b.sorted[i] < b.pending[j]) {
				merged = append(merged, b.sorted[i])
				i++
			} else {
				merged = append(merged, b.pending[j])
				j++
			}
		}
		// An id resolved and put again is in both: keep it once.
		b.sorted, b.pending = slices.Compact(merged), nil
	}
	if b.stale > len(b.sorted)/2 {
		b.sorted = slices.DeleteFunc(b.sorted, func(id string) bool { _, ok := b.byID[id]; return !ok })
		b.stale = 0
	}
}

// page returns up to limit letters after the id after, in order; b must be
// tidy.
func (b *letterBox) page(after string, limit int) []store.DeadLetter {
	i, found := slices.BinarySearch(b.sorted, after)
	if found {
		i++
	}
	out := make([]store.DeadLetter, 0, min(limit, len(b.byID)))
	for ; i < len(b.sorted) && len(out) < limit; i++ {
		l, ok := b.byID[b.sorted[i]]
		if !ok {
			continue // resolved since the last tidy
		}
		l.Data = append([]byte{}, l.Data...)
		out = append(out, l)
	}
	return out
}

// PutDeadLetters records campaigns that failed, as store.RunStore
// documents. Letters may belong to several accounts. Each needs a valid
// AccountID and a non-empty CampaignID of valid UTF-8 without NUL bytes;
// when one does not, nothing is recorded. A letter given twice in one call
// counts two attempts.
func (s *Store) PutDeadLetters(ctx context.Context, letters []store.DeadLetter) error {
	if err := ctxErr(ctx, "put dead letters"); err != nil {
		return err
	}
	for i, l := range letters {
		if err := checkAccount(l.AccountID, "put dead letters"); err != nil {
			return fmt.Errorf("%w (letter %d)", err, i)
		}
		if problem := idProblem(l.CampaignID); problem != "" {
			return fmt.Errorf("memory: put dead letters: letter %d: CampaignID %s", i, problem)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	for _, l := range letters {
		box := s.letters[l.AccountID]
		if box == nil {
			box = newLetterBox()
			s.letters[strings.Clone(l.AccountID)] = box
		}
		box.put(l, t)
	}
	return nil
}

// idProblem applies the rules of a campaign id to a dead letter's
// CampaignID: the key must be storable exactly, as in PostgreSQL.
func idProblem(id string) string {
	switch {
	case id == "":
		return "is empty"
	case strings.IndexByte(id, 0) >= 0:
		return "contains a NUL byte"
	case !utf8.ValidString(id):
		return "is not valid UTF-8"
	}
	return ""
}

// ResolveDeadLetters removes the account's dead letters of the given
// campaigns. Ids without a dead letter are ignored.
func (s *Store) ResolveDeadLetters(ctx context.Context, accountID string, ids []string) error {
	if err := ctxErr(ctx, "resolve dead letters"); err != nil {
		return err
	}
	if err := checkAccount(accountID, "resolve dead letters"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	box := s.letters[accountID]
	if box == nil {
		return nil
	}
	for _, id := range ids {
		box.resolve(id)
	}
	switch {
	case len(box.byID) == 0:
		delete(s.letters, accountID)
	case box.stale > (len(box.sorted)+len(box.pending))/2:
		// Letters put and resolved without a page read between would
		// otherwise pile up in the order: amortized, this stays O(1).
		box.tidy()
	}
	return nil
}

// DeadLetters returns up to limit dead letters of the account in CampaignID
// order (Go's string order: the bytes of the UTF-8), starting after the
// CampaignID after ("" for the first page). limit must be positive.
//
// A page costs O(log n + limit), plus, on the first page read after
// letters were put, the O(n) merge of the new ids into the order.
func (s *Store) DeadLetters(ctx context.Context, accountID, after string, limit int) ([]store.DeadLetter, error) {
	if err := ctxErr(ctx, "dead letters"); err != nil {
		return nil, err
	}
	if err := checkAccount(accountID, "dead letters"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("memory: dead letters: limit is %d, want a positive number", limit)
	}
	// The write lock, because a read after writes tidies the order.
	s.mu.Lock()
	defer s.mu.Unlock()
	box := s.letters[accountID]
	if box == nil {
		return []store.DeadLetter{}, nil
	}
	box.tidy()
	return box.page(after, limit), nil
}
