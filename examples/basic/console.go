package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// console is stderr, shared by the messages, the logs and the progress
// display. On a terminal the progress is one live line, rewritten in
// place; whatever else is written first clears it and then draws it again
// below, so that a log line never runs into it.
//
// With -log-format json, stderr holds only JSON records: the messages
// become records of jsonLog (the text, without "basic: ", as msg), and
// there is no live line.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	live string // the live line on display, "" when none

	jsonLog *slog.Logger // set for -log-format json
}

// useJSON makes the messages JSON records, on w itself.
func (c *console) useJSON() {
	c.tty = false
	c.jsonLog = slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: durationsAsText}))
}

// durationsAsText is a slog ReplaceAttr writing time.Duration values as
// text ("1.5s"): the JSON handler would write nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Errorf writes one message that says why something failed: a record at
// Error level with -log-format json.
func (c *console) Errorf(format string, args ...any) {
	c.say(slog.LevelError, format, args...)
}

// Record writes one record of structured data with -log-format json; in
// text mode it writes nothing (the caller prints its text).
func (c *console) Record(level slog.Level, msg string, attrs ...any) {
	if c.jsonLog != nil {
		c.jsonLog.Log(context.Background(), level, msg, attrs...)
	}
}

// JSON reports whether the messages are JSON records.
func (c *console) JSON() bool { return c.jsonLog != nil }

// say writes text, or with -log-format json one record per line of it.
func (c *console) say(level slog.Level, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if c.jsonLog == nil {
		_, _ = c.Write([]byte(text))
		return
	}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			c.jsonLog.Log(context.Background(), level, strings.TrimPrefix(line, "basic: "))
		}
	}
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
	c.say(slog.LevelInfo, format, args...)
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
