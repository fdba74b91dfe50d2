// Package memory is an in-process [store.RunStore]: campaigns, leases,
// runs, dead letters and handover state in maps behind one lock. It keeps
// the same contract as the PostgreSQL store, proven by the same
// conformance suite (store/storetest), so tests and examples that use it
// behave as production does: it rejects what PostgreSQL would reject,
// rounds times to the microsecond, returns the same values, and gives the
// same guarantees within a process: an account has one holder at a time,
// a released lease writes nothing more, and every Commit is all or
// nothing.
//
// [WithBookkeeping] adds the same bookkeeping to any [store.Store], so that
// a store of your own, which only stores campaigns, can be used by the
// syncer.
//
// Nothing is persisted; a Store lives as long as the process. It keeps
// every run record it starts (a few hundred bytes each) until PruneRuns
// deletes it, as a database would.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/adsync/adsync/store"
)

// Store is an in-memory store.RunStore, safe for concurrent use. Create one
// with [New] or [WithBookkeeping].
//
// It keeps copies: what a caller passes in or gets back is its own, and
// changing it changes nothing inside the store.
type Store struct {
	// ext, when set (WithBookkeeping), keeps the campaigns; otherwise
	// campaigns does.
	ext store.Store

	mu        sync.RWMutex
	campaigns map[string]map[string]store.Campaign // account → campaign id → campaign
	accounts  map[string]*account
	runs      map[string]*run // run id → run, of every account
	seq       int64           // orders runs: the last run started has the highest
}

// account is one account's bookkeeping.
type account struct {
	id         string
	holder     *lease // nil when nobody holds the account
	heldSince  time.Time
	generation int64  // bumped by every Acquire
	runs       []*run // in the order they started
	letters    *letterBox
	state      store.AccountState
}

var _ store.RunStore = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		campaigns: make(map[string]map[string]store.Campaign),
		accounts:  make(map[string]*account),
		runs:      make(map[string]*run),
	}
}

// WithBookkeeping returns a Store that keeps campaigns in st, and its
// bookkeeping (leases, runs, dead letters, handover state) in memory: what
// the syncer needs to use a store that implements only store.Store.
// Upsert and Get go to st; a lease's SyncedSince asks st.Get for each id.
//
// Within the process it gives the guarantees of New, but two of them
// depend on st and are weaker:
//   - Commit is not atomic: it writes the batch's campaigns to st first,
//     then records the rest in memory. If st rejects a campaign that
//     store.Campaign.Validate accepted, or fails, the other campaigns of
//     the batch may be written and nothing else is.
//   - Fencing stops at the process: nothing stops another process from
//     writing to st, and the bookkeeping is lost when the process ends,
//     so an interrupted run is not resumed by another process.
func WithBookkeeping(st store.Store) *Store {
	s := New()
	s.ext = st
	return s
}

// now is the store's clock: UTC, rounded to the microsecond like every
// other time a store keeps.
func now() time.Time { return time.Now().Round(time.Microsecond).UTC() }

// notBefore returns t, or floor when t is before it: a wall clock stepped
// back must not move a stored time backwards.
func notBefore(t, floor time.Time) time.Time {
	if t.Before(floor) {
		return floor
	}
	return t
}

// ctxErr reports a done context before an operation starts.
func ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// checkAccount validates an account id for op.
func checkAccount(accountID, op string) error {
	if err := store.ValidateAccountID(accountID); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// account returns the account's bookkeeping, made if missing. s.mu must be
// held for writing.
func (s *Store) account(id string) *account {
	a := s.accounts[id]
	if a == nil {
		a = &account{id: id, letters: newLetterBox()}
		s.accounts[id] = a
	}
	return a
}
