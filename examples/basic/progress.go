package main

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/adsync/adsync/syncer"
)

const (
	// progressPoll is how often the run's progress is read: the live line
	// on a terminal moves at this pace.
	progressPoll = 500 * time.Millisecond
	// progressEvery is how often a plain line is printed when stderr is
	// not a terminal (a log file, a CI job).
	progressEvery = 3 * time.Second
)

// showProgress polls s.Progress while a run goes on and shows it on con:
// a live line on a terminal, a plain line every few seconds otherwise. The
// returned function stops it and clears the live line.
func showProgress(s *syncer.Syncer, con *console) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(progressPoll)
		defer tick.Stop()
		var printed time.Time
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				p := s.Progress()
				if p.RunID == "" || !p.Running {
					continue // not started yet
				}
				line := progressLine(p, now)
				switch {
				case con.JSON() && now.Sub(printed) >= progressEvery:
					con.Record(slog.LevelInfo, "progress", progressAttrs(p, now)...)
					printed = now
				case con.JSON():
				case con.tty:
					con.SetLive(line)
				case now.Sub(printed) >= progressEvery:
					con.Printf("progress: %s\n", line)
					printed = now
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		con.ClearLive()
	}
}

// progressAttrs are progressLine's figures, as a record's attributes: the
// total 0 when the platform has not said it yet, the ETA "" when unknown.
func progressAttrs(p syncer.Progress, now time.Time) []any {
	pace, eta := progressPace(p, now)
	etaText := ""
	if eta >= 0 {
		etaText = eta.String()
	}
	return []any{"run_id", p.RunID, "synced", p.Synced, "total", p.Total, "seen", p.Seen, "failed", p.Failed,
		"skipped", p.Skipped, "in_flight", p.InFlight, "campaigns_per_s", math.Round(pace*10) / 10, "eta", etaText}
}

// progressPace is the pace since the run started, in campaigns synced or
// failed per second, and the time left at that pace (-1 when unknown).
func progressPace(p syncer.Progress, now time.Time) (float64, time.Duration) {
	var pace float64
	if elapsed := now.Sub(p.StartedAt).Seconds(); elapsed > 0 {
		pace = float64(p.Synced+p.Failed) / elapsed
	}
	eta := time.Duration(-1)
	if left := p.Total - p.Synced - p.Skipped - p.Failed; p.Total > 0 && pace > 0 {
		eta = (time.Duration(float64(max(left, 0)) / pace * float64(time.Second))).Round(time.Second)
	}
	return pace, eta
}

// progressLine describes a run in progress: synced of total (or of the
// campaigns seen so far, before the platform said the total), failed,
// skipped, the calls in flight, the pace since the run started and the
// time left at that pace.
func progressLine(p syncer.Progress, now time.Time) string {
	of := "?"
	switch {
	case p.Total > 0:
		of = fmt.Sprint(p.Total)
	case p.Seen > 0:
		of = fmt.Sprintf("%d seen", p.Seen)
	}
	pace, left := progressPace(p, now)
	eta := "?"
	if left >= 0 {
		eta = left.String()
	}
	return fmt.Sprintf("synced %d/%s, failed %d, skipped %d, in flight %d, %.1f campaigns/s, ETA %s",
		p.Synced, of, p.Failed, p.Skipped, p.InFlight, pace, eta)
}
