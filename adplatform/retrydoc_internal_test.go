package adplatform

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The package documentation lists the retried statuses; the code retries
// retryableStatuses. They must say the same.
func TestRetriedStatusesMatchTheDoc(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "// # Retries")
	if i < 0 {
		t.Fatal("doc.go has no # Retries section")
	}
	section := doc[i:]
	if j := strings.Index(section[1:], "// # "); j >= 0 {
		section = section[:j+1]
	}
	// The first bullet lists the statuses retried after a backoff.
	start := strings.Index(section, "//   - ")
	end := strings.Index(section[start+1:], "//   - ")
	bullet := section[start : start+1+end]
	var documented []int
	for _, m := range regexp.MustCompile(`\b[1-5]\d\d\b`).FindAllString(bullet, -1) {
		n, _ := strconv.Atoi(m)
		if !slices.Contains(documented, n) {
			documented = append(documented, n)
		}
	}
	slices.Sort(documented)
	code := slices.Sorted(slices.Values(retryableStatuses))
	if !slices.Equal(documented, code) {
		t.Fatalf("doc.go's # Retries lists %v; the code retries %v", documented, code)
	}
}
