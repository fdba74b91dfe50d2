// Package exectest builds the example binaries and runs them as real
// processes, for the examples' tests: a binary is tested the way a user
// runs it, with its environment, its signals, its exit status and its two
// output streams.
package exectest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main packages pkgs (as the go command names them,
// e.g. "." or "../fakeplatform") into dir, with the race detector when
// the calling test binary has it, and returns each binary's path keyed by
// the last element of its package path ("." is keyed by the directory's
// name). It runs once per test binary, from TestMain.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := path.Base(p)
		if p == "." {
			wd, err := os.Getwd()
			if err != nil {
				return nil, err
			}
			name = filepath.Base(wd)
		}
		bins[name] = filepath.Join(dir, name)
	}
	return bins, nil
}

// Proc is a binary running as a child process, its stdout and stderr
// captured.
type Proc struct {
	cmd            *exec.Cmd
	stdout, stderr buffer
	done           chan struct{}
	// Started is when the process was started.
	Started time.Time
}

// Start runs bin with args. Its environment is PATH and HOME, as a user's
// shell would pass them, plus env ("NAME=value" entries): nothing of the
// test's own environment leaks in. The process is killed when the test
// ends, if it is still running, and its output is logged if the test
// failed.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// A child of the process that outlives it holds the output pipes open:
	// the process's end is not to wait for that child's.
	p.cmd.WaitDelay = 5 * time.Second
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	go func() {
		// The exit status is in ProcessState; Wait's error says no more.
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s\n--- stdout:\n%s\n--- stderr:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Stdout(), p.Stderr())
		}
	})
	return p
}

// Run starts bin and waits for it to exit, within timeout.
func Run(t testing.TB, timeout time.Duration, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := Start(t, bin, env, args...)
	p.Wait(t, timeout)
	return p
}

// Wait waits for the process to exit and returns its exit status (-1 when
// a signal killed it). It fails the test, and kills the process, if that
// takes longer than timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("process still running after %s: killed", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// ExitCode returns the exit status of a process that exited (-1 when a
// signal killed it).
func (p *Proc) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitStdout waits until stdout matches re and returns the first match's
// submatches. It fails the test if the process exits or timeout passes
// first.
func (p *Proc) WaitStdout(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	return p.waitFor(t, &p.stdout, "stdout", re, timeout)
}

// WaitStderr is WaitStdout for stderr.
func (p *Proc) WaitStderr(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	return p.waitFor(t, &p.stderr, "stderr", re, timeout)
}

func (p *Proc) waitFor(t testing.TB, b *buffer, name string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m
			}
			t.Fatalf("process exited (status %d) before its %s matched %s", p.cmd.ProcessState.ExitCode(), name, re)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not match %s within %s", name, re, timeout)
		}
	}
}

// buffer is a bytes.Buffer safe for the process's writer and the test's
// readers.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
