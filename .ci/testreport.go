//go:build ignore

// testreport reads `go test -json` on stdin, prints the human-readable test
// output, and ends with a summary. It exits non-zero when a test failed, when
// the build failed, or, with -skip-fails, when any test was skipped: in CI a
// skipped test proves nothing, so it must not pass.
//
//	go test -json ./... | go run .ci/testreport.go -skip-fails
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Output     string
}

func main() {
	skipFails := flag.Bool("skip-fails", false, "treat a skipped test as a failure")
	flag.Parse()

	var (
		passed, failed int
		failures       []string
		skips          []string
		pkgFailed      []string
		output         = map[string]*strings.Builder{} // per test, for the skip reason
	)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Build errors and other non-JSON lines pass through.
			fmt.Println(string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			fmt.Print(e.Output)
			if e.Test != "" {
				b := output[key]
				if b == nil {
					b = &strings.Builder{}
					output[key] = b
				}
				b.WriteString(e.Output)
			}
		case "build-output":
			fmt.Print(e.Output)
		case "build-fail":
			pkgFailed = append(pkgFailed, e.ImportPath+" (build failed)")
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(output, key)
		case "fail":
			if e.Test != "" {
				failed++
				failures = append(failures, key)
			} else {
				pkgFailed = append(pkgFailed, e.Package)
			}
			delete(output, key)
		case "skip":
			if e.Test != "" {
				skips = append(skips, key+": "+skipReason(output[key]))
			}
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading go test output:", err)
		os.Exit(1)
	}

	sort.Strings(skips)
	fmt.Printf("\n== %d passed, %d failed, %d skipped\n", passed, failed, len(skips))
	for _, f := range failures {
		fmt.Println("FAIL", f)
	}
	for _, p := range pkgFailed {
		fmt.Println("FAIL package", p)
	}
	for _, s := range skips {
		fmt.Println("SKIP", s)
	}
	switch {
	case failed > 0 || len(pkgFailed) > 0:
		os.Exit(1)
	case *skipFails && len(skips) > 0:
		fmt.Println("== skipped tests fail this run: CI must not pass by skipping")
		os.Exit(1)
	}
}

// skipReason picks the t.Skip message out of a test's output.
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var last string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- SKIP") {
			last = l
		}
	}
	if last == "" {
		return "(no reason given)"
	}
	return last
}
