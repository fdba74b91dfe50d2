// Command fakeplatform serves adsync's fake ad platform as a standalone
// process, so that the example (examples/basic) can run against a platform
// it does not own: watch it from another terminal, or kill the syncer
// without killing the platform.
//
//	go run ./examples/fakeplatform -addr 127.0.0.1:8080
//
// By default it behaves as the reference platform does: 100 campaigns, 10
// requests per rolling minute, a 2 s sync call, a 503 on every 5th list
// call. Each number is a flag (-h lists them). It prints its URL and the
// fake's public test credentials, then, every -stats-interval, what it saw.
// -outage-after and -outage-for take it down for a while (every /auth and
// /api request answering 503, another status, or a reset), to watch a
// client ride out an outage. On SIGINT or SIGTERM it releases every
// request it holds (hung or slow) and shuts down; on Linux it does so too
// when the process that started it dies (the go command, for go run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopWithParent() // after Notify: the parent's death is a SIGTERM
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit status: 0 after a clean
// shutdown, 1 when serving failed, 2 for a bad flag or a failed start.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "fakeplatform: %v\n", err)
		return 2
	}
	p, err := adplatformtest.New(cfg.options())
	if err != nil {
		fmt.Fprintf(stderr, "fakeplatform: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "fakeplatform: %v\n", err)
		return 2
	}
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(stderr, "fakeplatform: http: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	printBanner(stdout, url, cfg)

	var tick <-chan time.Time // nil: no stats lines
	if cfg.statsInterval > 0 {
		t := time.NewTicker(cfg.statsInterval)
		defer t.Stop()
		tick = t.C
	}
	var outageStart, outageEnd <-chan time.Time // nil: no outage
	if cfg.outageAfter > 0 {
		outageStart = time.After(cfg.outageAfter)
	}
	code, last := 0, ""
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case err := <-served:
			fmt.Fprintf(stderr, "fakeplatform: serve: %v\n", err)
			code, waiting = 1, false
		case <-outageStart:
			_ = p.SetOutage(adplatformtest.Outage(cfg.outage)) // valid: the flag checked it
			fmt.Fprintf(stderr, "fakeplatform: outage: every /auth and /api request answers %s for %s\n", &cfg.outage, cfg.outageFor)
			outageEnd = time.After(cfg.outageFor)
		case <-outageEnd:
			_ = p.SetOutage(adplatformtest.Outage{})
			fmt.Fprintf(stderr, "fakeplatform: outage over; %d requests failed by it\n", p.Stats().OutageRequests)
		case <-tick:
			if line := statsLine(p.Stats()); line != last {
				fmt.Fprintf(stderr, "fakeplatform: %s\n", line)
				last = line
			}
		}
	}

	// Release the requests the fake holds (hung, or waiting out a
	// latency) first: Shutdown waits for every request to finish.
	p.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	fmt.Fprintf(stderr, "fakeplatform: stopped; %s\n", statsLine(p.Stats()))
	return code
}

// printBanner says where the fake is and how to run the example against
// it. The credentials are the fake's published test credentials, not a
// secret.
func printBanner(w io.Writer, url string, cfg config) {
	fmt.Fprintf(w, "fakeplatform: the fake ad platform is listening on %s\n", url)
	fmt.Fprintf(w, "  test credentials (public, the fake's own): email %s, password %s\n",
		adplatformtest.DefaultEmail, adplatformtest.DefaultPassword)
	fmt.Fprintf(w, "  %d campaigns, rate limit %s per X-Client-ID, sync latency %s", cfg.campaigns, cfg.rate, cfg.syncLatency)
	switch n := cfg.failEveryNthList; {
	case n == 1:
		fmt.Fprint(w, ", a 503 on every list call")
	case n > 1:
		fmt.Fprintf(w, ", a 503 on every %s list call", ordinal(n))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  run the example against it:\n    AD_PLATFORM_API_URL=%s AD_PLATFORM_EMAIL=%s AD_PLATFORM_PASSWORD=%s go run ./examples/basic -rate %s\n",
		url, shellQuote(adplatformtest.DefaultEmail), shellQuote(adplatformtest.DefaultPassword), cfg.rate)
}

// statsLine sums up what the fake saw.
func statsLine(st adplatformtest.Stats) string {
	synced := 0
	for _, s := range st.Syncs {
		if s.Succeeded > 0 {
			synced++
		}
	}
	ep := func(e adplatform.Endpoint) string {
		s := st.Endpoints[e]
		return fmt.Sprintf("%s %d (429: %d)", e, s.Requests, s.RateLimited)
	}
	// Client ids are whatever clients sent: quoted, and only a few (one
	// per account is the rule; many is a client dodging the limit).
	ids := make([]string, 0, 3)
	for _, id := range st.ClientIDs[:min(len(st.ClientIDs), 3)] {
		ids = append(ids, fmt.Sprintf("%q", id))
	}
	if len(st.ClientIDs) > len(ids) {
		ids = append(ids, "...")
	}
	return fmt.Sprintf("requests: %s, %s, %s; tokens issued %d; in flight %d; campaigns synced %d; failed by an outage %d; client ids %d [%s]",
		ep(adplatform.EndpointAuth), ep(adplatform.EndpointList), ep(adplatform.EndpointSync),
		st.TokensIssued, st.InFlight, synced, st.OutageRequests, len(st.ClientIDs), strings.Join(ids, " "))
}

// shellQuote quotes s for a POSIX shell: the password's '!' would
// otherwise trigger history expansion in an interactive bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ordinal writes n as "5th", "2nd", "11th"...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100/10 == 1: // 11th, 12th, 13th
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
