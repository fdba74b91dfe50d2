package postgrestest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// A test URL skips is counted, and Main's note says how many and how to
// run them. (Not parallel: it unsets EnvURL.)
func TestSkipsAreCountedAndExplained(t *testing.T) {
	t.Setenv(EnvURL, "")
	before := skipped.Load()
	// A recording skipper, not a subtest that skips: CI fails a run with
	// a skipped test, and this skip is on purpose.
	var rec recordingSkipper
	if u := urlOrSkip(&rec); u != "" || len(rec.skips) != 1 {
		t.Fatalf("urlOrSkip with EnvURL unset returned %q after %d skips; want \"\" after one", u, len(rec.skips))
	}
	if want := EnvURL + " is not set: skipping PostgreSQL test"; rec.skips[0] != want {
		t.Errorf("skipped with %q; want %q", rec.skips[0], want)
	}
	if got := skipped.Load() - before; got != 1 {
		t.Errorf("%d skips counted, want 1", got)
	}
	skipped.Add(-1) // this skip was on purpose: Main need not mention it
	var b bytes.Buffer
	writeSkipped(&b, 3)
	want := "postgrestest: 3 PostgreSQL tests of postgrestest skipped: ADSYNC_TEST_DATABASE_URL is not set; to run them: " +
		"ADSYNC_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ...\n"
	if got := b.String(); got != want && !strings.Contains(got, "3 PostgreSQL tests of ") { // the binary's name may differ
		t.Errorf("the note is\n%q\nwant\n%q", got, want)
	}
}

// recordingSkipper records what a test would have been skipped with.
type recordingSkipper struct{ skips []string }

func (*recordingSkipper) Helper() {}

func (r *recordingSkipper) Skip(args ...any) { r.skips = append(r.skips, fmt.Sprint(args...)) }
