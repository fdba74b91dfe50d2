package main

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's table of the -json report lists exactly the keys the
// binary prints: those of a completed run, and of one that failed (which
// adds error).
func TestREADMEReportFields(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)### The -json report\n(.*?)\n###").FindSubmatch(readme)
	if section == nil {
		t.Fatal("README.md has no \"### The -json report\" section")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\| ([a-z]+) \\|").FindAllSubmatch(section[1], -1) {
		documented[string(m[1])] = true
	}

	printed := map[string]bool{}
	for _, run := range []struct {
		env  []string
		code int
	}{
		{nil, exitOK},
		{platformEnv("http://127.0.0.1:1", "pw"), exitFailed},
	} {
		p := runBasic(t, run.env, "-json", "-rate", "50/1s", "-concurrency", "25", "-progress=false")
		if p.ExitCode() != run.code {
			t.Fatalf("exit status %d, want %d", p.ExitCode(), run.code)
		}
		var rep map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p.Stdout()), &rep); err != nil {
			t.Fatalf("stdout is not a JSON object: %v", err)
		}
		for k := range rep {
			printed[k] = true
		}
	}
	if !maps.Equal(documented, printed) {
		t.Errorf("README.md documents the keys\n%v\nthe binary prints\n%v", slices.Sorted(maps.Keys(documented)), slices.Sorted(maps.Keys(printed)))
	}
	if !printed["error"] || !strings.Contains(string(section[1]), "| `status` | string |") {
		t.Errorf("the failed run printed no error, or the README's status row is missing")
	}
}
