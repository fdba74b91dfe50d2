package main

import (
	"os"
	"syscall"
)

// stopWithParent asks Linux to send this process SIGTERM when its parent
// dies, so that the fake stops (gracefully, as on any SIGTERM) with the
// process that started it: `go run ./examples/fakeplatform &` runs it as a
// child of the go command, which does not pass a SIGTERM on, so that
// killing the go command would otherwise leave the fake serving. A parent
// already gone (the fake re-parented) is the same: it stops at once.
func stopWithParent() {
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return // the fake still works; it just does not follow its parent
	}
	if os.Getppid() != parent {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
