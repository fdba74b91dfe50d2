package storetest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/storetest"
)

// bugEnv names the bug of the store TestBrokenStoreChild runs the suite on.
const bugEnv = "ADSYNC_STORETEST_BUG"

// TestBrokenStoreChild runs the suite on a store with the bug named by
// bugEnv. It does nothing unless TestSuiteCatchesBugs started it, in a
// child process: a suite that fails cannot be observed from inside the
// same test binary.
func TestBrokenStoreChild(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		return
	}
	storetest.Run(t, func(t *testing.T) store.Store { return newBroken(bug) })
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore { return newBroken(bug) })
}

// TestSuiteCatchesBugs proves that the suite's rules can fail: for each
// bug, the suite run on a store with that bug (and only that rule, to keep
// it quick) must fail that rule, with a message that says what is wrong.
// A control run of the whole suite on the same wrapper without a bug must
// pass.
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv(bugEnv) != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		out, err := runChild(t, exe, "none", "")
		if err != nil {
			t.Errorf("the suite failed on a store without bugs (%v):\n%s", err, out)
		}
	})
	for _, b := range bugs() {
		t.Run(b.bug, func(t *testing.T) {
			t.Parallel()
			out, err := runChild(t, exe, b.bug, b.rule)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a store with bug %q (or did not run: %v); want rule %s to fail. Output:\n%s", b.bug, err, b.rule, out)
			}
			if !strings.Contains(out, "--- FAIL: TestBrokenStoreChild/"+b.rule+" ") {
				t.Errorf("the suite did not fail rule %s on a store with bug %q. Output:\n%s", b.rule, b.bug, out)
			}
			if !strings.Contains(out, b.message) {
				t.Errorf("the suite's failure for bug %q does not say %q. Output:\n%s", b.bug, b.message, out)
			}
		})
	}
}

// runChild runs the rule (a subtest path under the suite, like
// "Store/update"; "" for every rule) on a broken store in a child process.
func runChild(t *testing.T, exe, bug, rule string) (string, error) {
	t.Helper()
	pattern := "^TestBrokenStoreChild$"
	if rule != "" {
		for _, part := range strings.Split(rule, "/") {
			pattern += "/^" + regexp.QuoteMeta(part) + "$"
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run="+pattern, "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), bugEnv+"="+bug)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// A bug, the rule that must catch it, and what its message must say.
type bugCase struct {
	bug, rule, message string
}

func bugs() []bugCase {
	return []bugCase{
		{"insert-only", "Store/update", "after updating every field"},
		{"updated-at-always-now", "Store/idempotent", "after upserting the same batch again: the row changed"},
		{"updated-at-never-moves", "Store/updated_at", "a change of content must move it"},
		{"zero-synced-at-clears", "Store/synced_at", "the stored SyncedAt must stay"},
		{"last-synced-at-wins", "Store/synced_at", "SyncedAt never goes back"},
		{"older-wins", "Store/newer_wins", "the content listed at t2 stays"},
		{"ignore-account", "Store/accounts", "differs from the one written"},
		{"truncate-times", "Store/exact_times", "CreatedAt: got"},
		{"local-times", "Store/exact_times", "want it in UTC"},
		{"float-budget", "Store/exact_budgets", "Budget: got"},
		{"float-ints", "Store/exact_numbers", "Impressions: got 9007199254740992, want 9007199254740993"},
		{"lowercase-ids", "Store/distinct_ids", "each is its own campaign"},
		{"long-id-truncated", "Store/long_id", "1024-byte id"},
		{"compose-accents", "Store/unicode_text", "it must read back verbatim"},
		{"escape-backslashes", "Store/hostile_text", "it must read back verbatim"},
		{"budget-digit-limit", "Store/budget_limits", "campaign(s) rejected; campaign \"limit-0\" rejected: budget: too long; want nil"},
		{"strip-nul", "Store/rejected/name_nul", "returned nil; want a *store.BatchError"},
		{"accept-leading-zeros", "Store/rejected/budget_leading_zeros_007", "returned nil; want a *store.BatchError"},
		{"all-or-nothing", "Store/rejected/budget_abc", "(inserted by the batch that rejected another campaign)"},
		{"wrong-index", "Store/rejected_in_one_batch", "BatchError.Rejected, by Index"},
		{"first-wins", "Store/duplicates", "(the last one wins)"},
		{"chunk-dedupe", "Store/duplicates_far_apart", "the row changed, want it untouched"},
		{"empty-batch-error", "Store/empty_batch", "Upsert of an empty batch"},
		{"big-batch-truncated", "Store/big_batch", "after a batch of 5000"},
		{"sanitize-account", "Store/invalid_account", "returned nil; want an error"},
		{"not-found-unwrapped", "Store/not_found", "does not wrap store.ErrNotFound"},
		{"ignore-ctx", "Store/cancelled", "with a context that is done returned no error"},
		{"cancel-error-not-wrapped", "Store/cancelled_midway", "does not satisfy errors.Is(err, context.Canceled)"},
		{"mutate-input", "Store/caller_mutation", "Upsert changed element 0 of the caller's slice; it must only read it:\n"},
		{"acquire-not-exclusive", "RunStore/lease_exclusive", "Acquire of an account a lease holds returned no error"},
		{"busy-unwrapped", "RunStore/lease_exclusive", "want an error matching errors.Is(err, store: account busy)"},
		{"release-noop", "RunStore/lease_exclusive", "want a lease"},
		{"commit-after-release", "RunStore/lease_released", "Commit of a released lease returned no error"},
		{"state-not-saved", "RunStore/handover_state", "after a Commit saved it"},
		{"never-resume", "RunStore/resume_unfinished", "want the unfinished run"},
		{"progress-ignored", "RunStore/resume_unfinished", "want those its last Commit recorded"},
		{"fresh-ignored", "RunStore/fresh", "with Fresh while a run is unfinished"},
		{"max-age-ignored", "RunStore/max_resume_age", "with MaxResumeAge 1ms"},
		{"retry-resumes", "RunStore/retry_kind", "of kind retry while a sync run is unfinished"},
		{"runs-oldest-first", "RunStore/runs_listing", "newest first"},
		{"last-completed-any-kind", "RunStore/last_completed_run", "want run"},
		{"prune-nothing", "RunStore/prune_runs", "want 3 deleted"},
		{"commit-not-atomic", "RunStore/commit_all_or_nothing", "want nothing written"},
		{"commit-older-wins", "RunStore/commit_newer_wins", "content stays, SyncedAt moves forward"},
		{"synced-since-strictly-after", "RunStore/synced_since", `missing 1: "at"`},
		{"synced-since-capped", "RunStore/synced_since_many", "missing"},
		{"attempts-reset", "RunStore/dead_letter_again", "Attempts: got 1, want 2"},
		{"first-failed-moves", "RunStore/dead_letter_again", "FirstFailedAt moved"},
		{"data-as-text", "RunStore/dead_letter_data", "Data must read back byte for byte"},
		{"resolve-ignored", "RunStore/dead_letter_resolve", "after resolving c-2 and ids without a letter"},
		{"retired-still-retried", "RunStore/dead_letter_retire", "a retired letter is not retried"},
		{"letters-unsorted", "RunStore/dead_letter_paging", "pages must follow CampaignID order"},
		{"letters-after-must-exist", "RunStore/dead_letter_paging", `an id no letter has`},
		{"discard-missing-ok", "RunStore/dead_letter_discard", "want an error wrapping store.ErrNotFound"},
		{"letters-shared-data", "RunStore/bookkeeping_caller_mutation", "after the caller overwrote the Data it got"},
		{"commit-mutates", "RunStore/bookkeeping_caller_mutation", "Commit changed dead letter 0 of the caller's batch"},
		{"lease-ignore-ctx", "RunStore/bookkeeping_cancelled", "Lease.StartRun with a context that is done"},
	}
}
