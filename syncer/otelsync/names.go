package otelsync

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// The metrics' names. The first two are the semantic conventions' for HTTP
// clients; the others are adsync's own.
const (
	MetricRequestDuration = "http.client.request.duration"
	MetricActiveRequests  = "http.client.active_requests"
	MetricRateLimited     = "adsync.platform.rate_limited"
	MetricRetries         = "adsync.platform.retries"
	MetricRateLimitWait   = "adsync.platform.rate_limit.wait.duration"
	MetricTokenRefreshes  = "adsync.platform.token.refreshes"
	MetricPages           = "adsync.platform.pages"
	MetricCampaigns       = "adsync.sync.campaigns"
	MetricRunDuration     = "adsync.sync.run.duration"
)

// The spans' names: a run's, and an attempt's, which is the conventions'
// "{method} {url.template}" for HTTP client spans.
const (
	SpanRun         = "adsync.run"
	SpanAuthAttempt = "POST /auth/token"
	SpanListAttempt = "GET /api/campaigns"
	SpanSyncAttempt = "POST /api/campaigns/{id}/sync"
)

// adsync's own attribute keys. The semantic conventions' are used where
// they exist: http.request.method, http.response.status_code, url.template,
// http.request.resend_count, server.address, server.port and error.type.
const (
	// AccountIDKey is the account a client or run serves (syncer
	// Options.AccountID).
	AccountIDKey = attribute.Key("adsync.account.id")
	// EndpointKey is the platform endpoint: auth, list or sync.
	EndpointKey = attribute.Key("adsync.endpoint")
	// RunStatusKey is how a run ended: completed, completed_with_failures or
	// interrupted.
	RunStatusKey = attribute.Key("adsync.run.status")
	// RunKindKey tells a run (run) from a RetryFailed pass (retry_failed).
	RunKindKey = attribute.Key("adsync.run.kind")
	// OutcomeKey is what became of a campaign: synced, skipped or failed.
	OutcomeKey = attribute.Key("adsync.campaign.outcome")
)

// The attribute keys of spans and their events only.
const (
	runID            = attribute.Key("adsync.run.id")
	runResumed       = attribute.Key("adsync.run.resumed")
	runSeen          = attribute.Key("adsync.run.seen")
	runSynced        = attribute.Key("adsync.run.synced")
	runSkipped       = attribute.Key("adsync.run.skipped")
	runFailed        = attribute.Key("adsync.run.failed")
	runRequests      = attribute.Key("adsync.run.requests")
	runRateLimited   = attribute.Key("adsync.run.rate_limited")
	runRetries       = attribute.Key("adsync.run.retries")
	runTokens        = attribute.Key("adsync.run.token_refreshes")
	runWaitSeconds   = attribute.Key("adsync.run.rate_limit_wait")
	pageNumber       = attribute.Key("adsync.page.number")
	pageCampaigns    = attribute.Key("adsync.page.campaigns")
	pageInvalid      = attribute.Key("adsync.page.invalid")
	pageTotal        = attribute.Key("adsync.page.total")
	pageHasMore      = attribute.Key("adsync.page.has_more")
	retryAttempt     = attribute.Key("adsync.retry.attempt")
	retryWaitSeconds = attribute.Key("adsync.retry.wait")
)

// The values of RunStatusKey, RunKindKey and OutcomeKey.
const (
	StatusCompleted             = string(syncer.StatusCompleted)
	StatusCompletedWithFailures = string(syncer.StatusCompletedWithFailures)
	StatusInterrupted           = string(syncer.StatusInterrupted)
	StatusFailed                = string(syncer.StatusFailed)

	KindRun         = "run"
	KindRetryFailed = "retry_failed"

	OutcomeSynced  = "synced"
	OutcomeSkipped = "skipped"
	OutcomeFailed  = "failed"
)

// endpoint is what the conventions want to know of an endpoint.
type endpoint struct {
	method   attribute.KeyValue
	template string // url.template, and with the method the span name
}

var endpoints = map[adplatform.Endpoint]endpoint{
	adplatform.EndpointAuth: {semconv.HTTPRequestMethodPost, "/auth/token"},
	adplatform.EndpointList: {semconv.HTTPRequestMethodGet, "/api/campaigns"},
	adplatform.EndpointSync: {semconv.HTTPRequestMethodPost, "/api/campaigns/{id}/sync"},
}

// endpointAttributes returns the attributes that describe requests to e:
// method, url.template, the adsync endpoint, and the server's.
func (t *Telemetry) endpointAttributes(e adplatform.Endpoint) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 3+len(t.server))
	if ep, ok := endpoints[e]; ok {
		attrs = append(attrs, ep.method, semconv.URLTemplate(ep.template))
	} else {
		attrs = append(attrs, semconv.HTTPRequestMethodOther)
	}
	attrs = append(attrs, EndpointKey.String(string(e)))
	return append(attrs, t.server...)
}

// spanName is the conventions' HTTP client span name for e.
func spanName(e adplatform.Endpoint) string {
	if ep, ok := endpoints[e]; ok {
		return ep.method.Value.AsString() + " " + ep.template
	}
	return "HTTP"
}

// account returns the account attribute, or none for an empty id.
func account(id string) []attribute.KeyValue {
	if id == "" {
		return nil
	}
	return []attribute.KeyValue{AccountIDKey.String(id)}
}

// errorType classifies a failure for the error.type attribute, from a
// small fixed set so that it can label a metric: the HTTP status of a
// platform's answer, or timeout, canceled, connection_refused,
// connection_reset, connection_closed, malformed_response,
// invalid_response, invalid_record, rejected_by_store, or _OTHER.
func errorType(err error) string {
	var (
		apiErr    *adplatform.APIError
		authErr   *adplatform.AuthError
		recordErr *adplatform.RecordError
		decodeErr *adplatform.DecodeError
		storeErr  *store.RecordError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &recordErr):
		return "invalid_record"
	case errors.As(err, &storeErr):
		return "rejected_by_store"
	case errors.As(err, &apiErr) && apiErr.StatusCode != 0:
		return strconv.Itoa(apiErr.StatusCode)
	case errors.As(err, &authErr) && authErr.StatusCode != 0:
		return strconv.Itoa(authErr.StatusCode)
	case errors.Is(err, adplatform.ErrMalformedResponse):
		return "malformed_response"
	case errors.As(err, &decodeErr):
		return "invalid_response"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "connection_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// retryReasons maps adplatform.RetryInfo.Reason to errorType's words.
var retryReasons = map[string]string{
	"timeout":            "timeout",
	"malformed response": "malformed_response",
	"connection refused": "connection_refused",
	"connection reset":   "connection_reset",
	"connection aborted": "connection_reset",
	"connection closed":  "connection_closed",
}

// retryErrorType classifies a retried attempt's failure like errorType,
// from what adplatform.RetryInfo says of it: its status, or its reason.
// A reason it does not know is _OTHER, so that new wording in adplatform
// cannot grow a metric's cardinality.
func retryErrorType(i adplatform.RetryInfo) string {
	if i.Status != 0 {
		return strconv.Itoa(i.Status)
	}
	if t, ok := retryReasons[i.Reason]; ok {
		return t
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// runStatus says how a run ended, from its report.
func runStatus(r syncer.Report) string {
	switch {
	case r.Status != "":
		return string(r.Status)
	case r.Failed > 0: // a report not made by a syncer: judge by its counts
		return StatusCompletedWithFailures
	}
	return StatusCompleted
}

// runKind tells a run from a RetryFailed pass.
func runKind(retry bool) string {
	if retry {
		return KindRetryFailed
	}
	return KindRun
}
