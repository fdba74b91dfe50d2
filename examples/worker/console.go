package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// console writes the worker's own messages to stderr: "worker: ..." lines
// with -log-format text, JSON records (whatever -log-level) with
// -log-format json, so that stderr then holds nothing but JSON.
type console struct {
	w    io.Writer
	json *slog.Logger // nil: text
}

func newConsole(cfg config, w io.Writer) *console {
	c := &console{w: w}
	if cfg.logFormat == "json" {
		c.json = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

// Printf writes one message.
func (c *console) Printf(level slog.Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if c.json != nil {
		c.json.Log(context.Background(), level, "worker: "+msg)
		return
	}
	fmt.Fprintf(c.w, "worker: %s\n", msg)
}
