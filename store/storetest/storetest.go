// Package storetest is the conformance suite for [store.Store] and
// [store.RunStore] implementations: the rules every store keeps, written as
// tests that any implementation can run, ours and yours alike.
//
// To prove a custom store, call [Run] from a test in your package with a
// function that returns a fresh, empty store:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(...) // a new, empty store: its own schema, file or map
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Every rule runs as its own subtest, named after the rule (for example
// TestMyStore/Store/synced_at or TestMyStore/RunStore/dead_letter_paging),
// on its own store, and a failure says which call returned what and what
// the contract wanted, so that a store failing one rule learns exactly which
// one. Run `go test -run 'TestMyStore/Store/exact_values'` to repeat one.
//
// The suite covers what the contract in package store promises: inserts
// and updates, idempotence and UpdatedAt, SyncedAt, account isolation, exact
// numbers, decimals and times, arbitrary Unicode and hostile text, rejected
// records reported in a *store.BatchError while the rest of the batch is
// stored, duplicates, big batches, concurrency, cancellation, and callers
// mutating what they passed or got. When the store also implements
// [store.RunStore], the bookkeeping rules run too: runs started, resumed,
// finished and replaced, SyncedSince, and dead letters.
package storetest

import (
	"testing"

	"github.com/adsync/adsync/store"
)

// Run runs the conformance suite against the Store that newStore returns (a
// fresh, empty store per call). When the store also implements
// store.RunStore, the bookkeeping tests run too.
//
// The rules run as parallel subtests, so newStore is called from several
// goroutines at once; it should register any cleanup with t.Cleanup. Run
// returns when every subtest has finished.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest.Run: newStore is nil")
	}
	// One store up front, to learn whether the bookkeeping rules apply:
	// skipping them one by one would report dozens of skips for a store
	// that simply does not keep bookkeeping.
	probe := newStore(t)
	if probe == nil {
		t.Fatal("storetest.Run: newStore returned a nil store")
	}
	_, bookkeeping := probe.(store.RunStore)

	t.Run("Store", func(t *testing.T) {
		for _, r := range storeRules() {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				s := newStore(t)
				if s == nil {
					t.Fatal("newStore returned a nil store")
				}
				r.test(t, s)
			})
		}
	})
	if !bookkeeping {
		t.Logf("storetest: %T does not implement store.RunStore: the bookkeeping rules were not run", probe)
		return
	}
	t.Run("RunStore", func(t *testing.T) {
		for _, r := range runStoreRules() {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				s, ok := newStore(t).(store.RunStore)
				if !ok {
					t.Fatal("newStore returned a store.RunStore once and a store without the bookkeeping methods now")
				}
				r.test(t, s)
			})
		}
	})
}

// rule is one rule of the Store contract, run on a fresh store.
type rule struct {
	name string
	test func(t *testing.T, s store.Store)
}

// runStoreRule is one rule of the RunStore contract, run on a fresh store.
type runStoreRule struct {
	name string
	test func(t *testing.T, s store.RunStore)
}

func storeRules() []rule {
	return []rule{
		{"insert", testInsert},
		{"update", testUpdate},
		{"idempotent", testIdempotent},
		{"updated_at", testUpdatedAt},
		{"synced_at", testSyncedAt},
		{"accounts", testAccounts},
		{"exact_numbers", testExactNumbers},
		{"exact_budgets", testExactBudgets},
		{"budget_limits", testBudgetLimits},
		{"exact_times", testExactTimes},
		{"unicode_text", testUnicodeText},
		{"hostile_text", testHostileText},
		{"distinct_ids", testDistinctIDs},
		{"long_id", testLongID},
		{"rejected", testRejected},
		{"rejected_in_one_batch", testRejectedInOneBatch},
		{"duplicates", testDuplicates},
		{"empty_batch", testEmptyBatch},
		{"big_batch", testBigBatch},
		{"invalid_account", testInvalidAccount},
		{"not_found", testNotFound},
		{"concurrent", testConcurrent},
		{"cancelled", testCancelled},
		{"cancelled_midway", testCancelledMidway},
		{"caller_mutation", testCallerMutation},
	}
}

func runStoreRules() []runStoreRule {
	return []runStoreRule{
		{"start_new", testStartNew},
		{"resume_unfinished", testResumeUnfinished},
		{"finish_completed", testFinishCompleted},
		{"finish_failed", testFinishFailed},
		{"finish_interrupted", testFinishInterrupted},
		{"fresh", testFresh},
		{"finish_unknown", testFinishUnknown},
		{"run_accounts", testRunAccounts},
		{"run_ids_unique", testRunIDsUnique},
		{"runs_concurrent", testRunsConcurrent},
		{"run_invalid_account", testRunInvalidAccount},
		{"run_cancelled", testRunCancelled},
		{"synced_since", testSyncedSince},
		{"synced_since_empty", testSyncedSinceEmpty},
		{"synced_since_many", testSyncedSinceMany},
		{"dead_letter_put", testDeadLetterPut},
		{"dead_letter_put_again", testDeadLetterPutAgain},
		{"dead_letter_data", testDeadLetterData},
		{"dead_letter_resolve", testDeadLetterResolve},
		{"dead_letter_paging", testDeadLetterPaging},
		{"dead_letter_accounts", testDeadLetterAccounts},
		{"bookkeeping_caller_mutation", testBookkeepingCallerMutation},
	}
}
