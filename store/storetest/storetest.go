// Package storetest is the conformance suite for [store.Store] and
// [store.RunStore] implementations: the rules every store keeps, written as
// tests that any implementation can run, ours and yours alike.
//
// To prove a custom store, call [Run] from a test in your package with a
// function that returns a fresh, empty store; a store that also keeps the
// bookkeeping of runs calls [RunBookkeeping] too:
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
// [Run] covers what the contract of store.Store promises: inserts and
// updates, newer content winning over older, idempotence and UpdatedAt,
// SyncedAt that never goes back, account isolation, exact numbers,
// decimals and times, arbitrary Unicode and hostile text, rejected records
// reported in a *store.BatchError while the rest of the batch is stored,
// duplicates across a whole batch, big batches, concurrency, cancellation,
// and callers mutating what they passed or got. [RunBookkeeping] covers
// store.RunStore: exclusive leases (busy, released, concurrent Acquire),
// runs started, resumed, replaced, expired, of each kind, listed and
// pruned, batches committed all or nothing, dead letters added, resolved,
// retired and discarded, SyncedSince, and the handover state.
package storetest

import (
	"testing"

	"github.com/adsync/adsync/store"
)

// Run runs the Store rules against the store.Store that newStore returns
// (a fresh, empty store per call).
//
// The rules run as parallel subtests, so newStore is called from several
// goroutines at once; it should register any cleanup with t.Cleanup. Run
// returns when every subtest has finished.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest.Run: newStore is nil")
	}
	runRules(t, "Store", storeRules(), newStore)
}

// RunBookkeeping runs the RunStore rules against the store.RunStore that
// newStore returns (a fresh, empty store per call), as Run does. It does
// not run the Store rules: call Run for those.
func RunBookkeeping(t *testing.T, newStore func(t *testing.T) store.RunStore) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest.RunBookkeeping: newStore is nil")
	}
	runRules(t, "RunStore", runStoreRules(), newStore)
}

// rule is one rule of a contract, run on a fresh store of type S.
type rule[S any] struct {
	name string
	test func(t *testing.T, s S)
}

func runRules[S comparable](t *testing.T, group string, rules []rule[S], newStore func(t *testing.T) S) {
	t.Helper()
	t.Run(group, func(t *testing.T) {
		for _, r := range rules {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				var zero S
				s := newStore(t)
				if s == zero {
					t.Fatal("newStore returned a nil store")
				}
				r.test(t, s)
			})
		}
	})
}

func storeRules() []rule[store.Store] {
	return []rule[store.Store]{
		{"insert", testInsert},
		{"update", testUpdate},
		{"idempotent", testIdempotent},
		{"updated_at", testUpdatedAt},
		{"synced_at", testSyncedAt},
		{"newer_wins", testNewerWins},
		{"listed_at_now", testListedAtNow},
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
		{"duplicates_far_apart", testDuplicatesFarApart},
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

func runStoreRules() []rule[store.RunStore] {
	return []rule[store.RunStore]{
		{"lease_exclusive", testLeaseExclusive},
		{"lease_concurrent", testLeaseConcurrent},
		{"lease_released", testLeaseReleased},
		{"lease_invalid_account", testLeaseInvalidAccount},
		{"lease_cancelled", testLeaseCancelled},
		{"handover_state", testHandoverState},
		{"start_new", testStartNew},
		{"start_invalid", testStartInvalid},
		{"resume_unfinished", testResumeUnfinished},
		{"finish_completed", testFinishCompleted},
		{"finish_failed", testFinishFailed},
		{"finish_interrupted", testFinishInterrupted},
		{"fresh", testFresh},
		{"max_resume_age", testMaxResumeAge},
		{"retry_kind", testRetryKind},
		{"commit_run_checks", testCommitRunChecks},
		{"run_accounts", testRunAccounts},
		{"run_ids_unique", testRunIDsUnique},
		{"runs_concurrent", testRunsConcurrent},
		{"runs_listing", testRunsListing},
		{"last_completed_run", testLastCompletedRun},
		{"prune_runs", testPruneRuns},
		{"commit_records", testCommitRecords},
		{"commit_all_or_nothing", testCommitAllOrNothing},
		{"commit_invalid", testCommitInvalid},
		{"commit_newer_wins", testCommitNewerWins},
		{"commit_duplicates", testCommitDuplicates},
		{"commit_cancelled", testCommitCancelled},
		{"synced_since", testSyncedSince},
		{"synced_since_empty", testSyncedSinceEmpty},
		{"synced_since_many", testSyncedSinceMany},
		{"dead_letter_add", testDeadLetterAdd},
		{"dead_letter_again", testDeadLetterAgain},
		{"dead_letter_twice_in_batch", testDeadLetterTwiceInBatch},
		{"dead_letter_data", testDeadLetterData},
		{"dead_letter_error_text", testDeadLetterErrorText},
		{"dead_letter_resolve", testDeadLetterResolve},
		{"dead_letter_retire", testDeadLetterRetire},
		{"dead_letter_paging", testDeadLetterPaging},
		{"dead_letter_accounts", testDeadLetterAccounts},
		{"dead_letter_discard", testDeadLetterDiscard},
		{"bookkeeping_caller_mutation", testBookkeepingCallerMutation},
		{"bookkeeping_cancelled", testBookkeepingCancelled},
	}
}
