package adplatform

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/adsync/adsync/internal/backoff"
)

// transport runs one attempt of a call: it is the http.RoundTripper under
// the client's go-retryablehttp.Client, so that every attempt, retries
// included, does in order:
//
//  1. the bearer token (API endpoints), obtained before anything is
//     admitted;
//  2. the platform's standing "wait until" (a long 429): fail at once;
//  3. the outage gate: wait while the platform is down, unless this
//     attempt is the probe;
//  4. the limiter (API endpoints): wait for a slot;
//  5. the round trip, under the attempt's own timeout, its slot logged
//     when the request is written to the connection;
//  6. what the response teaches: rate-limit headers, a 429's wait, a
//     refused token, an outage signal.
//
// An attempt that fails because the platform is down is not returned:
// it waits at the gate for the platform and goes again, so that an outage
// spends no call's retries.
type transport struct{ c *Client }

// RoundTrip implements http.RoundTripper. It deliberately has no
// CloseIdleConnections method: go-retryablehttp calls it when a call gives
// up, and one call failing must not tear down the shared pool.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	ctx := req.Context()
	cl := callFrom(ctx)
	if cl == nil {
		return nil, errors.New("adplatform: a request without its call")
	}
	api := cl.endpoint != EndpointAuth
	cl.attempts++
	expired := 0 // tokens that expired while this attempt waited for a slot
	for tries := 0; ; tries++ {
		if tries > 0 && cl.isStopping() {
			return nil, &stoppedError{endpoint: cl.endpoint}
		}
		var (
			tok string
			err error
		)
		if api {
			// Closed by the platform's standing wait: nothing goes, not
			// even a token request (asked again after the token, which a
			// 429 may have closed meanwhile).
			if err := c.rateClosed(cl); err != nil {
				return nil, err
			}
			tok, err = c.tokens.get(ctx, cl.obs)
			if err != nil {
				return nil, tokenFailure(ctx, err)
			}
			if err := c.rateClosed(cl); err != nil {
				return nil, err
			}
		}
		probe, err := c.outage.enter(ctx)
		if err != nil {
			return nil, err
		}
		var s *slot
		if api {
			if s, err = c.admit(ctx, cl); err != nil {
				c.outage.abandon(probe)
				return nil, err
			}
			// A token that expired during a long wait is replaced before
			// sending, the slot given back meanwhile. A platform whose
			// tokens live shorter than the wait for a slot would starve
			// this loop: the third time, the token goes as it is (and a
			// 401 earns the one re-authentication).
			if !c.tokens.usable(tok) && expired < 2 {
				expired++
				s.release()
				c.outage.abandon(probe)
				continue
			}
		}
		resp, signal, err := t.send(ctx, req, cl, tok, s)
		if down := c.outage.done(string(cl.endpoint)+" "+req.URL.EscapedPath(), probe, signal); signal != "" && down {
			if resp != nil {
				drainClose(resp.Body)
			}
			c.cfg.logger.Debug("adplatform: the platform is down; the attempt waits for it", "endpoint", cl.endpoint, "signal", signal)
			continue
		}
		return resp, err
	}
}

// admit waits for the limiter, and reports the wait.
func (c *Client) admit(ctx context.Context, cl *call) (*slot, error) {
	s, err := c.cfg.limiter.admit(ctx)
	if s.waited > 0 {
		c.stats.rateLimitWaits.Add(1)
		c.stats.rateLimitWaited.Add(int64(s.waited))
		cl.obs.RateLimitWait(cl.endpoint, s.waited)
		c.cfg.logger.Debug("adplatform: waited for the rate limit", "endpoint", cl.endpoint, "wait", s.waited.String())
	}
	return s, err
}

// rateClosed fails the attempt at once, without a request, while the
// platform's standing wait lasts longer than MaxRateLimitWait: the client
// remembers what the platform said.
func (c *Client) rateClosed(cl *call) error {
	l := c.cfg.limiter
	l.mu.Lock()
	until, why := l.blockedUntil, l.blockedBy
	l.mu.Unlock()
	d := time.Until(until)
	if d <= c.cfg.maxRateLimitWait {
		return nil
	}
	e := &RateLimitError{Endpoint: cl.endpoint, RetryAfter: d, Until: until, Attempts: cl.attempts - 1}
	if why != nil {
		e.RetryAfter = why.RetryAfter
	}
	return &permanentError{e}
}

// send makes the round trip of one attempt.
func (t transport) send(ctx context.Context, req *http.Request, cl *call, tok string, s *slot) (*http.Response, string, error) {
	c := t.c
	out := req.Clone(ctx) // a RoundTripper must not change the request it is given
	if cl.endpoint == EndpointAuth {
		out.Header.Set("Authorization", "Basic "+cl.basic)
	} else {
		cl.usedToken = tok
		out.Header.Set("Authorization", "Bearer "+tok)
		out.Header.Set("X-Client-ID", c.ClientID())
	}
	out.Header.Set("User-Agent", c.cfg.userAgent)
	out.Header.Set("Accept", "application/json")

	// The slot is logged when the request is written, as the platform
	// will see it; how late it was written on a connection already open
	// is scheduling delay the margin learns from.
	var (
		traced  atomic.Bool  // the transport reports to httptrace at all
		gotConn atomic.Int64 // unix nanos; 0: no connection yet
		fresh   atomic.Bool
		wrote   atomic.Bool
	)
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { traced.Store(true) },
		GotConn: func(info httptrace.GotConnInfo) {
			traced.Store(true)
			fresh.Store(!info.Reused)
			gotConn.Store(time.Now().UnixNano())
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if s == nil {
				return
			}
			now := time.Now()
			if info.Err == nil && !fresh.Load() {
				c.cfg.limiter.observe(now.Sub(s.admitted))
			}
			wrote.Store(true)
			s.sent(now)
		},
	}
	// The attempt's own deadline, which waiting (token, gate, limiter) is
	// not part of. On success it lives until the body is closed.
	attemptCtx, cancel := context.WithTimeout(ctx, cl.timeout)
	out = out.WithContext(httptrace.WithClientTrace(attemptCtx, trace))

	info := RequestInfo{ID: c.stats.attemptIDs.Add(1), Endpoint: cl.endpoint, Attempt: cl.attempts}
	cl.setOnWire(true)
	cl.lastStatus = 0
	cl.obs.RequestStarted(info)
	c.stats.requests.Add(1)
	started := time.Now()
	resp, err := c.cfg.transport.RoundTrip(out)
	info.Latency = time.Since(started)
	if s != nil && !wrote.Load() {
		if traced.Load() && gotConn.Load() == 0 {
			s.release() // no connection: it never left
		} else {
			// Part of it may have reached the platform, or the transport
			// does not say when it wrote: count it now, late rather than
			// early.
			s.sent(time.Now())
		}
	}
	if err != nil {
		cancel()
		cl.setOnWire(false)
		if ctx.Err() == nil && errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
			err = &attemptTimeoutError{endpoint: cl.endpoint, timeout: cl.timeout}
		}
		info.Err = err
		cl.obs.RequestDone(info)
		reason, _ := transientReason(err)
		cl.failed(reason)
		c.cfg.logger.Debug("adplatform: attempt failed", "endpoint", cl.endpoint, "attempt", cl.attempts,
			"latency", info.Latency.String(), "err", err.Error())
		return nil, outageSignal(err), err
	}
	if resp.Request == nil {
		resp.Request = out // a custom transport may leave it unset
	}
	info.Status = resp.StatusCode
	cl.lastStatus = resp.StatusCode
	cl.obs.RequestDone(info)
	c.cfg.logger.Debug("adplatform: attempt", "endpoint", cl.endpoint, "attempt", cl.attempts,
		"status", resp.StatusCode, "latency", info.Latency.String())
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok {
		resp.Body = &attemptBody{ReadCloser: resp.Body, done: func() { cancel(); cl.setOnWire(false) }}
	} else {
		// Keep at most errBodyLimit of the body, for the error; never
		// the body itself in a log.
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
		drainClose(resp.Body)
		cancel()
		cl.setOnWire(false)
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		cl.failed(fmt.Sprintf("HTTP %d", resp.StatusCode))
	}
	if cl.endpoint != EndpointAuth {
		c.learn(cl, resp, tok)
	}
	if ok {
		return resp, "", nil
	}
	return resp, outageStatus(resp.StatusCode), nil
}

// learn applies what a response of an API endpoint says about the rate
// limit and the token.
func (c *Client) learn(cl *call, resp *http.Response, tok string) {
	now := time.Now()
	l := c.cfg.limiter
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		c.stats.rateLimited.Add(1)
		// The limiter admitted this request: whatever made the platform
		// count it in a full window, the margin must cover it.
		l.rateLimited()
		wait, source := c.rateLimitWait(resp, now, cl.attempts)
		e := &RateLimitError{Endpoint: cl.endpoint, RetryAfter: wait, Until: addDuration(now, wait), Attempts: cl.attempts}
		// Every call of this client waits it out once, rather than each
		// walking into the same wall; a wait beyond MaxRateLimitWait
		// closes the client until then.
		l.block(e.Until, e)
		c.cfg.logger.Warn("adplatform: rate limited by the platform", "endpoint", cl.endpoint,
			"attempt", cl.attempts, "retry_after", wait.String(), "from", source, "margin_now", l.Margin().String())
	case http.StatusUnauthorized:
		// Ten calls refused together cause one refresh: only the first
		// finds its token still current.
		c.tokens.invalidate(tok)
	}
	if !c.cfg.ignoreRateHeaders {
		if until, full := rateLimitFull(resp.Header, now); full {
			l.block(until, nil)
		}
	}
}

// rateLimitWait is the wait a 429 asks for: its Retry-After header
// (seconds or an HTTP-date), else its body's retry_after, else a backoff.
func (c *Client) rateLimitWait(resp *http.Response, now time.Time, attempt int) (time.Duration, string) {
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		return d, "Retry-After"
	}
	raw, _ := io.ReadAll(resp.Body) // buffered by send
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if eb := parseErrorBody(raw, nil); eb.hasRetry {
		return eb.retryAfter, "body"
	}
	return backoff.Ceiling(c.cfg.backoffMin, c.cfg.backoffMax, attempt-1), "backoff"
}

// addDuration is t+d, saturating instead of overflowing.
func addDuration(t time.Time, d time.Duration) time.Time {
	if u := t.Add(d); d <= 0 || u.After(t) {
		return u
	}
	return time.Unix(1<<62, 0)
}

// outageStatus is the outage signal a status is, or "": the statuses by
// which a platform (or the gateway in front of it) says it is not there.
// 500 is not one: it is usually one request's bug, and a campaign whose
// sync always fails must not pass for an outage.
func outageStatus(status int) string {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Sprintf("HTTP %d", status)
	}
	return ""
}

// outageSignal is the outage signal a transport error is, or "": the
// platform refusing or dropping connections. A timeout is not one: an
// attempt timeout shorter than the platform's answer would otherwise pass
// for an outage.
func outageSignal(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return ""
}

// tokenFailure is a failed token request seen from the call that needed
// the token: final, since the token request had its own retries. It is
// returned as it is, so that its text says "auth" once.
func tokenFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return &permanentError{err}
}

// attemptBody ends the attempt when the body is closed.
type attemptBody struct {
	io.ReadCloser
	done func()
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// drainClose reads a little of what is left (so the connection can be
// reused) and closes the body.
func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, errBodyLimit))
	_ = body.Close()
}

// errBodyLimit bounds how much of an error body is read: enough for the
// platform's JSON error shape, never a whole stack trace.
const errBodyLimit = 64 << 10

// attemptTimeoutError is an attempt cut by its own timeout (not the
// caller's context). It is a net.Error with Timeout() true.
type attemptTimeoutError struct {
	endpoint Endpoint
	timeout  time.Duration
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("no response within the attempt timeout of %s", e.timeout)
}
func (e *attemptTimeoutError) Timeout() bool   { return true }
func (e *attemptTimeoutError) Temporary() bool { return true }

// transientReason says whether a failure without a response is worth
// retrying, and names it. Anything not known to be permanent is retried
// (bounded by MaxRetries): networks fail in more ways than can be listed.
func transientReason(err error) (string, bool) {
	var (
		timeout  *attemptTimeoutError
		decode   *DecodeError
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		recHdErr tls.RecordHeaderError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &timeout):
		return "timeout", true
	case errors.As(err, &decode):
		if errors.Is(err, ErrMalformedResponse) {
			return "malformed response", true
		}
		return "", false // well-formed, but not what the contract says: it will not change
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr),
		errors.As(err, &invalid), errors.As(err, &recHdErr):
		return "", false
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "", false
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "connection aborted", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed", true
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout", true
	}
	return "transport error", true
}
