package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// console is stderr, shared by the messages, the logs and the progress
// display. On a terminal the progress is one live line, rewritten in
// place; whatever else is written first clears it and then draws it again
// below, so that a log line never runs into it.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	live string // the live line on display, "" when none
}

// newConsole writes to f, with a live line when f is a terminal.
func newConsole(f *os.File) *console {
	fi, err := f.Stat()
	return &console{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

// Write writes p above the live line. Each slog record is one Write.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eraseLocked()
	n, err := c.w.Write(p)
	if c.live != "" {
		_, _ = io.WriteString(c.w, c.live)
	}
	return n, err
}

// Printf writes one message.
func (c *console) Printf(format string, args ...any) {
	_, _ = c.Write([]byte(fmt.Sprintf(format, args...)))
}

// SetLive replaces the live line (a terminal only).
func (c *console) SetLive(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eraseLocked()
	c.live = line
	_, _ = io.WriteString(c.w, line)
}

// ClearLive removes the live line.
func (c *console) ClearLive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eraseLocked()
	c.live = ""
}

// eraseLocked blanks the live line and returns the cursor to its start.
// Spaces, not escape sequences: any terminal understands them.
func (c *console) eraseLocked() {
	if c.live != "" {
		blank := strings.Repeat(" ", utf8.RuneCountInString(c.live))
		_, _ = io.WriteString(c.w, "\r"+blank+"\r")
	}
}
