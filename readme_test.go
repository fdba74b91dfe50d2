package adsync_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's code must be code that compiles and runs: each Go block
// marked "<!-- mirrors PATH -->" must stand, line for line, in PATH, which
// is a test or an example of this module.
func TestREADMESnippetsMirrorTestedCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	marked := regexp.MustCompile("(?s)<!-- mirrors (\\S+) -->\\s*```go\\n(.*?)```")
	blocks := marked.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d mirrored snippets in README.md; want the embedding and the custom store ones", len(blocks))
	}
	for _, b := range blocks {
		path, snippet := b[1], b[2]
		src, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("README.md mirrors %s: %v", path, err)
			continue
		}
		if !containsLines(codeLines(string(src)), codeLines(snippet)) {
			t.Errorf("README.md's snippet marked as mirroring %s is not in that file: update one or the other", path)
		}
	}
}

// codeLines returns s's non-blank lines without their indentation.
func codeLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsLines reports whether sub stands in lines, contiguous and in order.
func containsLines(lines, sub []string) bool {
	for i := 0; i+len(sub) <= len(lines); i++ {
		if slices.Equal(lines[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
