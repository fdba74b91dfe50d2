package postgrestest

import (
	"bytes"
	"strings"
	"testing"
)

// A test URL skips is counted, and Main's note says how many and how to
// run them. (Not parallel: it unsets EnvURL.)
func TestSkipsAreCountedAndExplained(t *testing.T) {
	t.Setenv(EnvURL, "")
	before := skipped.Load()
	t.Run("a PostgreSQL test", func(t *testing.T) {
		URL(t)
		t.Error("URL did not skip the test with EnvURL unset")
	})
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
