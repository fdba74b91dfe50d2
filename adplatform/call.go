package adplatform

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// A call is one API call (a list, a sync, a token request) with its
// retries, run by the client's one go-retryablehttp.Client. What its
// attempts share travels in the request's context, where the transport
// and the retry policy find it: which endpoint, the attempt timeout, the
// token the last attempt used, whether the call already re-authenticated,
// the failures so far (for an error that tells the whole story), and
// whether an attempt is on the wire (for the admission context).
type call struct {
	client   *Client
	endpoint Endpoint
	timeout  time.Duration
	obs      Observer
	basic    string // the Basic credential, for EndpointAuth
	decode   func([]byte) error

	// Used by the goroutine running the call only.
	attempts   int
	reauthed   bool
	usedToken  string
	history    []string // the failed attempts' reasons, in order
	lastStatus int      // the last attempt's status; 0 when none came
	retryWhy   string   // why the policy chose to retry the last attempt
	// stoppedRetry is set when the policy would have retried but
	// admission had ended: the call did not get its answer.
	stoppedRetry bool
	lastEnd      time.Time

	// stop ends the call's context when its admission context is done and
	// no attempt is on the wire.
	stop     context.CancelCauseFunc
	mu       sync.Mutex
	onWire   bool
	stopping bool
}

type callKey struct{}

func withCall(ctx context.Context, cl *call) context.Context {
	return context.WithValue(ctx, callKey{}, cl)
}

// callFrom returns the call a request's context belongs to, or nil.
func callFrom(ctx context.Context) *call {
	cl, _ := ctx.Value(callKey{}).(*call)
	return cl
}

func (cl *call) failed(reason string) {
	cl.history = append(cl.history, reason)
	cl.lastEnd = time.Now()
}

// stoppedError is the error of a call stopped by its admission context.
type stoppedError struct {
	endpoint Endpoint
	last     string // how the last attempt failed, if one was sent
}

func (e *stoppedError) Error() string {
	msg := "adplatform: " + string(e.endpoint) + ": stopped before the call could complete: no new request may be sent"
	if e.last != "" {
		msg += " (the last attempt: " + e.last + ")"
	}
	return msg
}

func (e *stoppedError) Is(target error) bool { return target == ErrStopped }

// ErrStopped is matched (errors.Is) by the error of a call that stopped
// because its admission context (see [WithAdmission]) was done before the
// call could send what it had to: nothing more was sent.
var ErrStopped = errors.New("adplatform: call stopped: no new request may be sent")

type admissionKey struct{}

// WithAdmission returns a context under which calls send new requests only
// while admission is not done. Once it is, a call waiting (for a token,
// for the platform to come back, for a rate-limit slot, or in a backoff)
// stops at once with an error matching [ErrStopped], and a call whose
// request is on the wire lets that request finish under ctx (its answer
// is returned) but sends no retry.
//
// It is the contract a graceful shutdown rests on: cancel admission to
// stop sending, and keep ctx alive for a grace period so that calls on the
// wire can bring back what the platform already did.
func WithAdmission(ctx, admission context.Context) context.Context {
	return context.WithValue(ctx, admissionKey{}, admission)
}

func admissionFrom(ctx context.Context) context.Context {
	a, _ := ctx.Value(admissionKey{}).(context.Context)
	return a
}

// setOnWire marks an attempt on the wire, or done.
func (cl *call) setOnWire(on bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.onWire = on
}

// admissionDone stops the call now if it is waiting (for a token, the
// platform, a slot, or in a backoff). A call with an attempt on the wire
// lets it finish: the retry policy then sends no retry, and the transport
// does not wait again.
func (cl *call) admissionDone() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.stopping = true
	if !cl.onWire {
		cl.stop(ErrStopped)
	}
}

func (cl *call) isStopping() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.stopping
}

func (c *Client) newCall(ep Endpoint, obs Observer) *call {
	cl := &call{client: c, endpoint: ep, obs: obs}
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
func (c *Client) do(ctx context.Context, cl *call, method string, u *url.URL, decode func([]byte) error) error {
	cl.decode = decode
	callCtx, stop := context.WithCancelCause(withCall(ctx, cl))
	defer stop(nil)
	cl.stop = stop
	if adm := admissionFrom(ctx); adm != nil {
		defer context.AfterFunc(adm, cl.admissionDone)()
	}
	req, err := retryablehttp.NewRequestWithContext(callCtx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("adplatform: %s: build request: %w", cl.endpoint, err)
	}
	req.URL = u // keeps RawPath exactly as built
	req.SetResponseHandler(func(resp *http.Response) error { return c.decodeResponse(cl, resp) })
	resp, err := c.rc.Do(req)
	var status int
	if resp != nil {
		status = resp.StatusCode
		defer drainClose(resp.Body)
	}
	if err == nil && status >= 200 && status < 300 {
		return nil
	}
	return c.callError(ctx, callCtx, cl, resp, err)
}

// decodeResponse is the request's response handler: it reads and decodes
// a 2xx body inside the retry loop, so that a truncated body is retried
// like any passing failure.
func (c *Client) decodeResponse(cl *call, resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil // the policy has decided already
	}
	limit := c.cfg.maxResponseBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	timedOut := resp.Request != nil && errors.Is(resp.Request.Context().Err(), context.DeadlineExceeded)
	drainClose(resp.Body)
	switch {
	case err != nil && timedOut:
		// The caller's own deadline is told apart later, by callError.
		err = &attemptTimeoutError{endpoint: cl.endpoint, timeout: cl.timeout}
	case err != nil:
	case int64(len(body)) > limit:
		err = &permanentError{&DecodeError{Endpoint: cl.endpoint, Err: fmt.Errorf("response body over %d bytes", limit)}}
	default:
		err = cl.decode(body)
	}
	if err != nil {
		reason, _ := transientReason(err)
		cl.failed(cmp.Or(reason, "contract"))
	}
	return err
}

// callError is the error a call that did not succeed returns: the
// caller's context error when it ended; ErrStopped when admission ended
// it; else the typed error of the last attempt, with the story of the
// earlier ones when they failed differently. Errors are not changed in
// place: one may be shared (a failed token request is every waiter's).
func (c *Client) callError(ctx, callCtx context.Context, cl *call, resp *http.Response, err error) error {
	ep := cl.endpoint
	if ctxErr := ctx.Err(); ctxErr != nil {
		if last := lastFailure(resp, err); last != "" && !errors.Is(err, ctxErr) {
			return fmt.Errorf("adplatform: %s: %w (the last attempt: %s)", ep, ctxErr, last)
		}
		if n := len(cl.history); n > 0 {
			return fmt.Errorf("adplatform: %s: %w (the last attempt: %s)", ep, ctxErr, cl.history[n-1])
		}
		return fmt.Errorf("adplatform: %s: %w", ep, ctxErr)
	}
	if cl.stoppedRetry || errors.Is(context.Cause(callCtx), ErrStopped) {
		last := lastFailure(resp, err)
		if errors.Is(err, context.Canceled) || errors.Is(err, ErrStopped) {
			last = ""
		}
		if last == "" && len(cl.history) > 0 {
			last = cl.history[len(cl.history)-1]
		}
		return &stoppedError{endpoint: ep, last: last}
	}
	var final error
	if err != nil {
		final = typedError(cl, err)
	} else {
		final = c.statusError(cl, resp)
	}
	if story := cl.story(); story != "" {
		return &storyError{err: final, story: story}
	}
	return final
}

// typedError turns the failure of the last attempt (no response) into
// the call's error.
func typedError(cl *call, err error) error {
	var (
		perm  *permanentError
		apiE  *APIError
		rlE   *RateLimitError
		auE   *AuthError
		deE   *DecodeError
		toE   *attemptTimeoutError
		limDl = isLimiterDeadline(err)
	)
	if errors.As(err, &perm) {
		// Formed already (a failed token request, the platform's standing
		// wait, a response that breaks the contract): it says what and
		// where.
		return unwrapURLError(perm.err)
	}
	switch {
	case limDl, errors.Is(err, ErrPlatformUnavailable):
		return unwrapURLError(err) // says what it is
	case errors.As(err, &apiE), errors.As(err, &rlE), errors.As(err, &auE):
		return unwrapURLError(err)
	case errors.As(err, &deE):
		return deE
	case errors.As(err, &toE):
		return fmt.Errorf("adplatform: %s: %w, after %d attempt(s)", cl.endpoint, toE, cl.attempts)
	}
	reason, _ := transientReason(err)
	if reason == "" { // not retried (a host not found, a certificate refused): the error says what
		return fmt.Errorf("adplatform: %s: failed after %d attempt(s): %w", cl.endpoint, cl.attempts, unwrapURLError(err))
	}
	return fmt.Errorf("adplatform: %s: %s, after %d attempt(s): %w", cl.endpoint, reason, cl.attempts, unwrapURLError(err))
}

// statusError is the error of a call whose last attempt was answered with
// a status that is not a success.
func (c *Client) statusError(cl *call, resp *http.Response) error {
	if resp == nil {
		return fmt.Errorf("adplatform: %s: failed after %d attempt(s)", cl.endpoint, cl.attempts)
	}
	raw, _ := io.ReadAll(resp.Body)
	eb := parseErrorBody(raw, c.tokens.secrets())
	status := resp.StatusCode
	switch {
	case status == http.StatusTooManyRequests && cl.endpoint != EndpointAuth:
		l := c.cfg.limiter
		l.mu.Lock()
		why := l.blockedBy
		l.mu.Unlock()
		if why != nil {
			e := *why
			e.Attempts = cl.attempts
			return &e
		}
		return &RateLimitError{Endpoint: cl.endpoint, Attempts: cl.attempts}
	case status == http.StatusUnauthorized, cl.endpoint == EndpointAuth && status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
		reason := "credentials refused"
		if cl.endpoint != EndpointAuth {
			reason = "token refused"
		}
		return &AuthError{Endpoint: cl.endpoint, StatusCode: status, Reason: cmp.Or(eb.code, reason)}
	}
	return &APIError{Endpoint: cl.endpoint, StatusCode: status, Code: eb.code, Message: eb.message, Attempts: cl.attempts}
}

// story summarizes the failed attempts when they did not all fail the
// same way, in the order the failures first came, e.g. "4× timeout, 1×
// HTTP 503": an error that names only the last failure would hide what
// really went on.
func (cl *call) story() string {
	counts := map[string]int{}
	var order []string
	for _, r := range cl.history {
		if counts[r] == 0 {
			order = append(order, r)
		}
		counts[r]++
	}
	if len(order) < 2 {
		return ""
	}
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = fmt.Sprintf("%d× %s", counts[r], r)
	}
	return strings.Join(parts, ", ")
}

// storyError is a call's error with the story of its attempts. errors.As
// and errors.Is see the error itself.
type storyError struct {
	err   error
	story string
}

func (e *storyError) Error() string { return e.err.Error() + " (attempts: " + e.story + ")" }
func (e *storyError) Unwrap() error { return e.err }

// lastFailure names how the last attempt failed, or "".
func lastFailure(resp *http.Response, err error) string {
	switch {
	case err != nil:
		reason, _ := transientReason(err)
		return reason
	case resp != nil && (resp.StatusCode < 200 || resp.StatusCode >= 300):
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ""
}

// errorBody is what a non-2xx body said, sanitized.
type errorBody struct {
	code       string // the "error" field
	message    string // the "message" field, or an excerpt of a body of another shape
	retryAfter time.Duration
	hasRetry   bool
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

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
