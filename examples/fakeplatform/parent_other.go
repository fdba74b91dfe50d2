//go:build !linux

package main

// stopWithParent does nothing outside Linux: stop the fake with SIGTERM or
// Ctrl-C (or build it and run the binary, which receives them directly).
func stopWithParent() {}
