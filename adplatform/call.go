package adplatform

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// A call is one API call (a list, a sync, a token request) with its
// retries. go-retryablehttp runs the loop; the call holds the state its
// policy functions share: counters per kind of failure, whether the token
// was refreshed, the wait chosen, the last error body, and the decoder
// that fills the caller's result.
//
// Every attempt goes through attemptTransport, which does, in order: the
// limiter's wait (API endpoints), the Authorization and X-Client-ID
// headers, the per-attempt timeout, the round trip, and what the response
// teaches (rate-limit headers, a 429's wait, stats, logs, observer).
// checkRetry decides, backoff says how long, handleResponse decodes a 2xx
// body inside the loop (so a malformed one is retried), and giveUp turns
// the last failure into the caller's error.
type call struct {
	c        *Client
	ctx      context.Context
	endpoint Endpoint
	obs      Observer
	timeout  time.Duration
	basic    string // the Basic credential, for EndpointAuth
	decode   func([]byte) error

	attempt     int
	transient   int // retries after transient failures
	rateLimited int // retries after 429s
	reauthed    bool
	usedToken   string
	sent        time.Time

	// Of the latest attempt.
	status   int
	errBody  errorBody
	rateWait time.Duration // a 429's wait
	tooLong  bool          // the 429's wait exceeds MaxRateLimitWait

	// checkRetry's decision for attempt decided: go-retryablehttp asks
	// twice about an attempt that ends the loop (before and after the
	// response handler), and counters must move once.
	decided     int
	retry       bool
	decisionErr error
	wait        time.Duration

	gaveUp bool
}

// errorBody is what a non-2xx body said, sanitized.
type errorBody struct {
	code       string // the "error" field
	message    string // the "message" field, or an excerpt of a body of another shape
	retryAfter time.Duration
	hasRetry   bool
}

// errBodyLimit bounds how much of an error body is read: enough for the
// platform's JSON error shape, never a whole stack trace.
const errBodyLimit = 64 << 10

func (c *Client) newCall(ctx context.Context, ep Endpoint, obs Observer) *call {
	cl := &call{c: c, ctx: ctx, endpoint: ep, obs: obs}
	switch ep {
	case EndpointList:
		cl.timeout = c.cfg.listTimeout
	case EndpointSync:
		cl.timeout = c.cfg.syncTimeout
	default:
		cl.timeout = c.cfg.authTimeout
	}
	return cl
}

// do runs the call: the request with its retries, decode filling the
// result from a 2xx body.
func (cl *call) do(method string, u *url.URL, decode func([]byte) error) error {
	cl.decode = decode
	req, err := retryablehttp.NewRequestWithContext(cl.ctx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("adplatform: %s: build request: %w", cl.endpoint, err)
	}
	req.URL = u // keeps RawPath exactly as built
	req.SetResponseHandler(cl.handleResponse)
	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: attemptTransport{cl},
			// Never follow a redirect: the transport would put the bearer
			// token on the request to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		// Explicitly none: its default logs to stderr. Our own logging
		// happens in the transport and checkRetry.
		Logger:       nil,
		RetryMax:     math.MaxInt32, // checkRetry enforces the real bounds, per kind of failure
		CheckRetry:   cl.checkRetry,
		Backoff:      cl.backoff,
		ErrorHandler: cl.giveUp,
	}
	resp, err := rc.Do(req)
	if resp != nil {
		drainClose(resp.Body)
	}
	if err != nil && !cl.gaveUp {
		// go-retryablehttp returns the bare context error when the
		// context ends during a backoff, without calling giveUp.
		return cl.finalError(err, cl.attempt)
	}
	return err
}

// attemptTransport runs one attempt of a call. It deliberately has no
// CloseIdleConnections method: go-retryablehttp calls it when a call gives
// up, and the shared pool must not be torn down because one call failed.
type attemptTransport struct{ cl *call }

func (t attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.cl.roundTrip(req)
}

func (cl *call) roundTrip(req *http.Request) (*http.Response, error) {
	c := cl.c
	cl.attempt++
	cl.status, cl.errBody, cl.rateWait, cl.tooLong = 0, errorBody{}, 0, false
	ctx := req.Context()
	out := req.Clone(ctx) // a RoundTripper must not change the request it is given

	if cl.endpoint == EndpointAuth {
		out.Header.Set("Authorization", "Basic "+cl.basic)
	} else {
		// Get the token before the limiter admits the request, so that
		// a token request does not sit between admission and send.
		if _, err := c.tokens.get(ctx, cl.obs); err != nil {
			return nil, tokenFailure(ctx, err)
		}
		waited, err := c.cfg.limiter.Wait(ctx)
		if err != nil {
			return nil, err
		}
		if waited > 0 {
			c.stats.rateLimitWaits.Add(1)
			c.stats.rateLimitWaited.Add(int64(waited))
			cl.obs.RateLimitWait(cl.endpoint, waited)
			c.cfg.logger.Debug("adplatform: waited for the rate limit", "endpoint", cl.endpoint, "wait", waited)
		}
		// Usually the token just checked; a new one only if the wait
		// outlasted it.
		tok, err := c.tokens.get(ctx, cl.obs)
		if err != nil {
			return nil, tokenFailure(ctx, err)
		}
		cl.usedToken = tok
		out.Header.Set("Authorization", "Bearer "+tok)
		out.Header.Set("X-Client-ID", c.ClientID())
	}
	out.Header.Set("User-Agent", c.cfg.userAgent)
	out.Header.Set("Accept", "application/json")

	// The attempt's own deadline, which the limiter wait is not part of.
	// On success it lives until the body is closed.
	attemptCtx, cancel := context.WithTimeout(ctx, cl.timeout)
	out = out.WithContext(attemptCtx)

	info := RequestInfo{Endpoint: cl.endpoint, Attempt: cl.attempt}
	cl.obs.RequestStarted(info)
	c.stats.requests.Add(1)
	cl.sent = time.Now()
	resp, err := c.cfg.transport.RoundTrip(out)
	info.Latency = time.Since(cl.sent)
	if err != nil {
		if ctx.Err() == nil && errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
			err = &attemptTimeoutError{endpoint: cl.endpoint, timeout: cl.timeout}
		}
		cancel()
		info.Err = err
		cl.obs.RequestDone(info)
		c.cfg.logger.Debug("adplatform: attempt failed", "endpoint", cl.endpoint, "attempt", cl.attempt,
			"latency", info.Latency, "err", err.Error())
		return nil, err
	}
	cl.status = resp.StatusCode
	info.Status = resp.StatusCode
	cl.obs.RequestDone(info)
	c.cfg.logger.Debug("adplatform: attempt", "endpoint", cl.endpoint, "attempt", cl.attempt,
		"status", resp.StatusCode, "latency", info.Latency)

	if cl.endpoint != EndpointAuth && !c.cfg.ignoreRateHeaders {
		if until, full := rateLimitFull(resp.Header, cl.sent); full {
			if d := time.Until(until); d <= c.cfg.maxRateLimitWait {
				c.cfg.limiter.block(until)
			} else {
				c.cfg.logger.Debug("adplatform: ignoring a rate-limit reset too far ahead", "endpoint", cl.endpoint, "reset_in", d)
			}
		}
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = &attemptBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	// Any other status: keep a sanitized summary of the body, and never
	// the body itself.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
	drainClose(resp.Body)
	cancel()
	resp.Body = http.NoBody
	cl.errBody = parseErrorBody(raw, c.tokens.secrets())
	if resp.StatusCode == http.StatusTooManyRequests && cl.endpoint != EndpointAuth {
		cl.rateLimitedResponse(resp)
	}
	return resp, nil
}

// tokenFailure is a failed token request seen from the call that needed
// the token: final, since the token request had its own retries.
func tokenFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return &permanentError{err}
}

// rateLimitedResponse applies a 429: the wait it asks for blocks the
// shared limiter, so that every call of this client id waits it out once,
// rather than each walking into the same wall.
func (cl *call) rateLimitedResponse(resp *http.Response) {
	c := cl.c
	c.stats.rateLimited.Add(1)
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	source := "Retry-After"
	switch {
	case ok:
	case cl.errBody.hasRetry:
		wait, source = cl.errBody.retryAfter, "body"
	default:
		wait, source = cl.backoffCeiling(cl.rateLimited), "backoff"
	}
	cl.rateWait = wait
	if wait > c.cfg.maxRateLimitWait {
		// Not applied to the limiter: one call fails, the others are not
		// stalled for a day on the platform's word.
		cl.tooLong = true
		c.cfg.logger.Warn("adplatform: rate limited, the platform asks for a longer wait than allowed",
			"endpoint", cl.endpoint, "retry_after", wait, "max", c.cfg.maxRateLimitWait)
		return
	}
	c.cfg.limiter.block(time.Now().Add(wait))
	c.cfg.logger.Warn("adplatform: rate limited by the platform", "endpoint", cl.endpoint,
		"attempt", cl.attempt, "retry_after", wait, "from", source)
}

// checkRetry is go-retryablehttp's CheckRetry: it decides whether the
// attempt is retried, and otherwise returns the call's error.
func (cl *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if cl.decided == cl.attempt && err == nil {
		return cl.retry, cl.decisionErr
	}
	retry, reason, wait, ferr := cl.classify(ctx, resp, err)
	if retry {
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			// The backoff would outlast the caller's deadline: give up
			// now with the real cause rather than sleep in vain.
			retry, ferr = false, cl.exhausted(resp, err, reason)
		}
	}
	cl.decided, cl.retry, cl.decisionErr, cl.wait = cl.attempt, retry, ferr, wait
	if retry {
		cl.c.stats.retries.Add(1)
		shown := wait
		if cl.status == http.StatusTooManyRequests {
			shown = cl.rateWait
		}
		cl.obs.Retrying(RetryInfo{Endpoint: cl.endpoint, Attempt: cl.attempt, Status: cl.status, Reason: reason, Wait: shown})
		cl.c.cfg.logger.Info("adplatform: retrying", "endpoint", cl.endpoint, "attempt", cl.attempt,
			"reason", reason, "wait", shown)
	}
	return retry, ferr
}

// classify is the retry policy for one attempt.
func (cl *call) classify(ctx context.Context, resp *http.Response, err error) (retry bool, reason string, wait time.Duration, final error) {
	c := cl.c
	if ctx.Err() != nil {
		return false, "", 0, ctx.Err()
	}
	if err != nil {
		var perm *permanentError
		if errors.As(err, &perm) || isAuthError(err) || isLimiterDeadline(err) {
			return false, "", 0, err
		}
		reason, ok := transientReason(err)
		if !ok {
			return false, "", 0, err
		}
		return cl.transientRetry(reason, cl.backoffJitter(), resp, err)
	}

	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return false, "", 0, nil
	case status == http.StatusTooManyRequests && cl.endpoint != EndpointAuth:
		if cl.tooLong || cl.rateLimited >= c.cfg.maxRateLimitRetries {
			return false, "", 0, &RateLimitError{Endpoint: cl.endpoint, RetryAfter: cl.rateWait, Attempts: cl.attempt}
		}
		cl.rateLimited++
		// The wait is the limiter's: the next attempt queues there.
		return true, "HTTP 429", 0, nil
	case status == http.StatusUnauthorized && cl.endpoint != EndpointAuth:
		if cl.reauthed {
			return false, "", 0, &AuthError{Endpoint: cl.endpoint, StatusCode: status, Reason: cmp.Or(cl.errBody.code, "token refused")}
		}
		cl.reauthed = true
		c.tokens.invalidate(cl.usedToken)
		c.cfg.logger.Info("adplatform: token refused, getting a new one", "endpoint", cl.endpoint, "reason", cl.errBody.code)
		return true, "token refused: " + cmp.Or(cl.errBody.code, "HTTP 401"), 0, nil
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		// A 429 here is the token endpoint's, which is not rate-limited:
		// treat it as a passing failure. The body's retry_after is the
		// rate limit's and never applies; a Retry-After header is
		// honoured up to BackoffMax.
		wait := cl.backoffJitter()
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			wait = min(d, c.cfg.backoffMax)
		}
		return cl.transientRetry("HTTP "+strconv.Itoa(status), wait, resp, nil)
	case cl.endpoint == EndpointAuth:
		return false, "", 0, &AuthError{Endpoint: EndpointAuth, StatusCode: status, Reason: cmp.Or(cl.errBody.code, "credentials refused")}
	default:
		return false, "", 0, cl.apiError(status)
	}
}

func (cl *call) transientRetry(reason string, wait time.Duration, resp *http.Response, err error) (bool, string, time.Duration, error) {
	if cl.transient >= cl.c.cfg.maxRetries {
		return false, reason, 0, cl.exhausted(resp, err, reason)
	}
	cl.transient++
	return true, reason, wait, nil
}

// exhausted is the error of a call whose last attempt failed in a way
// that would otherwise be retried.
func (cl *call) exhausted(resp *http.Response, err error, reason string) error {
	if err == nil && resp != nil {
		return cl.apiError(resp.StatusCode)
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de
	}
	return &transportError{reason: reason, err: err}
}

func (cl *call) apiError(status int) error {
	return &APIError{Endpoint: cl.endpoint, StatusCode: status, Code: cl.errBody.code, Message: cl.errBody.message, Attempts: cl.attempt}
}

// backoff is go-retryablehttp's Backoff: the wait checkRetry chose.
func (cl *call) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return cl.wait
}

// backoffJitter is the wait before the next transient retry: "full
// jitter", uniform in [0, min(BackoffMax, BackoffMin·2^k)], so that calls
// failing together do not retry together.
func (cl *call) backoffJitter() time.Duration {
	return rand.N(cl.backoffCeiling(cl.transient) + 1)
}

func (cl *call) backoffCeiling(k int) time.Duration {
	lo, hi := cl.c.cfg.backoffMin, cl.c.cfg.backoffMax
	if k >= 62 || lo<<k>>k != lo || lo<<k > hi {
		return hi
	}
	return lo << k
}

// giveUp is go-retryablehttp's ErrorHandler. The last response is ours to
// close.
func (cl *call) giveUp(resp *http.Response, err error, numTries int) (*http.Response, error) {
	cl.gaveUp = true
	if resp != nil {
		drainClose(resp.Body)
	}
	return nil, cl.finalError(err, numTries)
}

// finalError is the error a call returns: the caller's context error when
// it ended, else the typed error found. Errors are not changed here: one
// may be shared (a failed token request is every waiter's error).
func (cl *call) finalError(err error, attempts int) error {
	if ctxErr := cl.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("adplatform: %s: %w", cl.endpoint, ctxErr)
	}
	var (
		apiErr *APIError
		rlErr  *RateLimitError
		auErr  *AuthError
		deErr  *DecodeError
		trErr  *transportError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &rlErr):
		return rlErr
	case errors.As(err, &auErr):
		return auErr
	case errors.As(err, &deErr):
		return deErr
	case errors.As(err, &trErr):
		return fmt.Errorf("adplatform: %s: %s, after %d attempt(s): %w", cl.endpoint, trErr.reason, attempts, trErr.err)
	case isLimiterDeadline(err):
		return unwrapURLError(err) // says what it is; the endpoint adds nothing
	case err == nil:
		return fmt.Errorf("adplatform: %s: failed after %d attempt(s)", cl.endpoint, attempts)
	default:
		return fmt.Errorf("adplatform: %s: %w", cl.endpoint, unwrapURLError(err))
	}
}

// handleResponse is the request's response handler: it reads and decodes
// a 2xx body inside the retry loop, so that a truncated or malformed body
// is retried like any passing failure.
func (cl *call) handleResponse(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil // classified, and its body closed, already
	}
	limit := cl.c.cfg.maxResponseBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	timedOut := resp.Request != nil && errors.Is(resp.Request.Context().Err(), context.DeadlineExceeded)
	drainClose(resp.Body)
	switch {
	case err != nil:
		if cl.ctx.Err() == nil && timedOut {
			return &attemptTimeoutError{endpoint: cl.endpoint, timeout: cl.timeout}
		}
		return err
	case int64(len(body)) > limit:
		return &permanentError{&DecodeError{Endpoint: cl.endpoint, Err: fmt.Errorf("response body over %d bytes", limit)}}
	}
	return cl.decode(body)
}

// parseErrorBody reads the platform's error shape, {"error", "message",
// "retry_after"}, or keeps an excerpt of a body of another shape (an HTML
// page from a proxy). Everything kept is sanitized.
func parseErrorBody(raw []byte, known secrets) errorBody {
	var shape struct {
		Error      json.RawMessage `json:"error"`
		Message    json.RawMessage `json:"message"`
		RetryAfter json.RawMessage `json:"retry_after"`
	}
	var eb errorBody
	if json.Unmarshal(raw, &shape) != nil {
		eb.message = sanitize(string(raw), known, maxMessageRunes)
		return eb
	}
	eb.code = sanitize(jsonText(shape.Error), known, maxCodeRunes)
	eb.message = sanitize(jsonText(shape.Message), known, maxMessageRunes)
	if s := jsonText(shape.RetryAfter); s != "" {
		eb.retryAfter, eb.hasRetry = parseSeconds(s)
	}
	return eb
}

// jsonText is a JSON string's text, or a number's literal; "" otherwise.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// transportError is a passing failure still failing when the retries ran
// out.
type transportError struct {
	reason string
	err    error
}

func (e *transportError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// attemptTimeoutError is an attempt cut by its own timeout (not the
// caller's context). It is a net.Error with Timeout() true.
type attemptTimeoutError struct {
	endpoint Endpoint
	timeout  time.Duration
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("adplatform: %s: no response within the attempt timeout of %s", e.endpoint, e.timeout)
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
		return "malformed response", true
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

// attemptBody ends the attempt's context when the body is closed.
type attemptBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
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

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
