package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

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

// put records one failure of l (normalized) at t.
func (b *letterBox) put(l store.DeadLetter, t time.Time) {
	stored := store.DeadLetter{
		AccountID:  strings.Clone(l.AccountID),
		CampaignID: strings.Clone(l.CampaignID),
		RunID:      strings.Clone(l.RunID),
		Data:       append([]byte{}, l.Data...),
		Error:      strings.Clone(l.Error),
		Attempts:   1,
	}
	old, ok := b.byID[l.CampaignID]
	switch {
	case ok && old.RetiredAt.IsZero():
		stored.Attempts = old.Attempts + 1
		stored.FirstFailedAt = old.FirstFailedAt
		stored.LastFailedAt = notBefore(t, old.LastFailedAt)
	case ok: // retired: it starts over
		stored.FirstFailedAt, stored.LastFailedAt = t, t
	default:
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
	if b.stale > (len(b.sorted)+len(b.pending))/2 {
		// Letters put and resolved without a page read between would
		// otherwise pile up in the order: amortized, this stays O(1).
		b.tidy()
	}
}

// retire marks the letter of r.CampaignID retired at t, if it has one that
// is not.
func (b *letterBox) retire(r store.Retirement, t time.Time) {
	if l, ok := b.byID[r.CampaignID]; ok && l.RetiredAt.IsZero() {
		l.RetiredAt, l.RetiredReason = t, strings.Clone(r.Reason)
		b.byID[r.CampaignID] = l
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

// page returns up to limit letters after the id after, in order, the
// retired ones too if retired is set.
func (b *letterBox) page(after string, limit int, retired bool) []store.DeadLetter {
	b.tidy()
	i, found := slices.BinarySearch(b.sorted, after)
	if found {
		i++
	}
	out := make([]store.DeadLetter, 0, min(limit, len(b.byID)))
	for ; i < len(b.sorted) && len(out) < limit; i++ {
		l, ok := b.byID[b.sorted[i]]
		if !ok || (!retired && !l.RetiredAt.IsZero()) {
			continue // resolved since the last tidy, or retired
		}
		l.Data = append([]byte{}, l.Data...)
		out = append(out, l)
	}
	return out
}

// checkPage validates a page's cursor and limit.
func checkPage(after string, limit int) error {
	if limit <= 0 {
		return fmt.Errorf("memory: dead letters: limit is %d, want a positive number", limit)
	}
	if err := store.ValidateText(after); err != nil {
		return fmt.Errorf("memory: dead letters: the cursor: %w", err)
	}
	return nil
}

// DeadLetters returns up to limit dead letters of the account, retired
// ones included, in CampaignID order (Go's string order: the bytes of the
// UTF-8), starting after the CampaignID after ("" for the first page).
// limit must be positive.
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
	if err := checkPage(after, limit); err != nil {
		return nil, err
	}
	// The write lock, because a read after writes tidies the order.
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[accountID]
	if a == nil {
		return []store.DeadLetter{}, nil
	}
	return a.letters.page(after, limit, true), nil
}

// DiscardDeadLetter deletes the account's dead letter of campaignID, or
// returns an error wrapping store.ErrNotFound.
func (s *Store) DiscardDeadLetter(ctx context.Context, accountID, campaignID string) error {
	if err := ctxErr(ctx, "discard dead letter"); err != nil {
		return err
	}
	if err := checkAccount(accountID, "discard dead letter"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[accountID]; a != nil {
		if _, ok := a.letters.byID[campaignID]; ok {
			a.letters.resolve(campaignID)
			return nil
		}
	}
	return fmt.Errorf("memory: discard dead letter %q of account %q: %w", campaignID, accountID, store.ErrNotFound)
}
