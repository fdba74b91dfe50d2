package otelsync

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/syncer"
)

// RunObserver is a [syncer.Observer] that measures one syncer's runs
// (duration by status; campaigns synced, skipped and failed) and traces
// each run as a span. Get one from [Telemetry.Syncer] and give it to the
// syncer as syncer.Options.Observer. It is safe for concurrent use.
//
// A syncer reports a campaign's events without saying which run they
// belong to; it runs one run at a time, so they belong to its current
// one. Give each syncer.Syncer its own RunObserver.
type RunObserver struct {
	t *Telemetry

	mu   sync.Mutex
	runs map[string]*run // started and not finished, by run id
	// current is the run that campaign and page events belong to: the
	// latest started. Nil between runs.
	current atomic.Pointer[run]
	// idle is what an event outside any run is measured with.
	idle *run
}

var _ syncer.Observer = (*RunObserver)(nil)

// run is one run's span and precomputed attributes.
type run struct {
	ctx     context.Context // holds span
	span    trace.Span
	account []attribute.KeyValue
	// base is the account and the run's kind.
	base            []attribute.KeyValue
	synced, skipped metric.AddOption
}

func newRun(ctx context.Context, span trace.Span, accountID string, retry bool) *run {
	acct := account(accountID)
	base := append(acct[:len(acct):len(acct)], RunKindKey.String(runKind(retry)))
	with := func(outcome string) metric.AddOption {
		return metric.WithAttributes(append(base[:len(base):len(base)], OutcomeKey.String(outcome))...)
	}
	return &run{ctx: ctx, span: span, account: acct, base: base, synced: with(OutcomeSynced), skipped: with(OutcomeSkipped)}
}

// Syncer returns an observer for one syncer.Syncer's runs. Every call
// returns a new one, sharing t's instruments.
//
// It also has the method PlatformObserver, with which a syncer attaches an
// observer to each run's platform calls: their spans are then children of
// the run's span.
func (t *Telemetry) Syncer() *RunObserver {
	ctx := context.Background()
	return &RunObserver{t: t, runs: map[string]*run{}, idle: newRun(ctx, trace.SpanFromContext(ctx), "", false)}
}

// start returns the run of info, starting its span if it has none yet.
func (o *RunObserver) start(info syncer.RunInfo) *run {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.runs[info.RunID]; ok {
		return r
	}
	attrs := append(account(info.AccountID),
		runID.String(info.RunID),
		RunKindKey.String(runKind(info.Retry)),
		runResumed.Bool(info.Resumed))
	ctx, span := o.t.tracer.Start(context.Background(), SpanRun,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	r := newRun(ctx, span, info.AccountID, info.Retry)
	o.runs[info.RunID] = r
	return r
}

// active returns the current run, or idle.
func (o *RunObserver) active() *run {
	if r := o.current.Load(); r != nil {
		return r
	}
	return o.idle
}

// RunStarted starts the run's span (unless PlatformObserver already did),
// and makes it the run that campaign events belong to.
func (o *RunObserver) RunStarted(info syncer.RunInfo) {
	o.current.Store(o.start(info))
}

// PageListed adds an event to the run's span. The page is counted by the
// platform client's observer, which saw it first.
func (o *RunObserver) PageListed(p adplatform.PageInfo) {
	o.active().span.AddEvent("adsync.page", trace.WithAttributes(
		pageNumber.Int(p.Page),
		pageCampaigns.Int(p.Campaigns),
		pageInvalid.Int(p.Invalid),
		pageTotal.Int(p.Total),
		pageHasMore.Bool(p.HasMore)))
}

// CampaignSynced counts a synced campaign in adsync.sync.campaigns.
func (o *RunObserver) CampaignSynced(string) {
	r := o.active()
	o.t.campaigns.Add(r.ctx, 1, r.synced)
}

// CampaignSkipped counts a skipped campaign in adsync.sync.campaigns.
func (o *RunObserver) CampaignSkipped(string) {
	r := o.active()
	o.t.campaigns.Add(r.ctx, 1, r.skipped)
}

// CampaignFailed counts a failed campaign in adsync.sync.campaigns, with
// the failure's error.type (never the campaign's id, nor the error's
// text).
func (o *RunObserver) CampaignFailed(_ string, err error) {
	r := o.active()
	attrs := append(r.base[:len(r.base):len(r.base)], OutcomeKey.String(OutcomeFailed), semconv.ErrorTypeKey.String(errorType(err)))
	o.t.campaigns.Add(r.ctx, 1, metric.WithAttributes(attrs...))
}

// RateLimitWait does nothing: the platform client's observer measures
// every wait, this run's included.
func (o *RunObserver) RateLimitWait(time.Duration) {}

// RunFinished records the run's duration in adsync.sync.run.duration with
// its status, and ends its span with the report's counts.
func (o *RunObserver) RunFinished(rep syncer.Report) {
	o.mu.Lock()
	r := o.runs[rep.RunID]
	delete(o.runs, rep.RunID)
	o.mu.Unlock()
	if r != nil {
		o.current.CompareAndSwap(r, nil)
	}

	status := runStatus(rep)
	attrs := append(account(rep.AccountID), RunKindKey.String(runKind(rep.Retry)), RunStatusKey.String(status))
	ctx := context.Background()
	if r != nil {
		ctx = r.ctx
	}
	o.t.runDuration.Record(ctx, rep.Duration.Seconds(), metric.WithAttributes(attrs...))
	if r == nil {
		return // a run this observer did not see start: no span to end
	}
	r.span.SetAttributes(
		RunStatusKey.String(status),
		runSeen.Int(rep.Seen),
		runSynced.Int(rep.Synced),
		runSkipped.Int(rep.Skipped),
		runFailed.Int(rep.Failed),
		runRequests.Int64(rep.HTTPRequests),
		runRateLimited.Int64(rep.HTTP429),
		runRetries.Int64(rep.Retries),
		runTokens.Int64(rep.TokenRefreshes),
		runWaitSeconds.Float64(rep.RateLimitWait.Seconds()))
	if rep.Err != nil {
		// A run that failed, or stopped for a cause (the platform or the
		// database unavailable): not one its caller stopped gracefully.
		// adsync's errors hold no secret; they are cut short all the same.
		r.span.SetStatus(codes.Error, shorten(rep.Err.Error(), 256))
	}
	r.span.End()
}

// PlatformObserver returns an observer for the platform calls of the run
// info describes: each attempt becomes a client span, a child of the
// run's span, and retries and token refreshes become the run span's
// events. It measures nothing (the client's own observer does), so that
// no request is counted twice.
//
// A syncer that finds this method on its Observer calls it once per run
// and attaches the result to the run's calls with adplatform.WithObserver.
func (o *RunObserver) PlatformObserver(info syncer.RunInfo) adplatform.Observer {
	return &callTracer{t: o.t, run: o.start(info), spans: map[uint64]trace.Span{}}
}

// callTracer traces one run's platform calls.
type callTracer struct {
	adplatform.NopObserver // RateLimitWait, PageListed
	t                      *Telemetry
	run                    *run

	mu    sync.Mutex
	spans map[uint64]trace.Span // by RequestInfo.ID, until RequestDone
}

func (c *callTracer) RequestStarted(i adplatform.RequestInfo) {
	span := c.attemptSpan(i, time.Now())
	c.mu.Lock()
	c.spans[i.ID] = span
	c.mu.Unlock()
}

// attemptSpan starts the span of an attempt that started at the time given.
func (c *callTracer) attemptSpan(i adplatform.RequestInfo, at time.Time) trace.Span {
	attrs := append(c.t.endpointAttributes(i.Endpoint), c.run.account...)
	if i.Attempt > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(i.Attempt-1))
	}
	_, span := c.t.tracer.Start(c.run.ctx, spanName(i.Endpoint), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(at), trace.WithAttributes(attrs...))
	return span
}

func (c *callTracer) RequestDone(i adplatform.RequestInfo) {
	c.mu.Lock()
	span, ok := c.spans[i.ID]
	delete(c.spans, i.ID)
	c.mu.Unlock()
	if !ok {
		// Attached after the attempt started: it started Latency ago.
		span = c.attemptSpan(i, time.Now().Add(-i.Latency))
	}
	span.SetAttributes(outcome(i)...)
	switch {
	case i.Err != nil:
		span.SetStatus(codes.Error, i.Err.Error())
	case i.Status >= 400:
		span.SetStatus(codes.Error, "") // the conventions: the status says it
	}
	span.End()
}

func (c *callTracer) Retrying(i adplatform.RetryInfo) {
	c.run.span.AddEvent("adsync.retry", trace.WithAttributes(
		EndpointKey.String(string(i.Endpoint)),
		retryAttempt.Int(i.Attempt),
		semconv.ErrorTypeKey.String(retryErrorType(i)),
		retryWaitSeconds.Float64(i.Wait.Seconds())))
}

func (c *callTracer) TokenRefreshed() {
	c.run.span.AddEvent("adsync.token_refreshed")
}

// shorten cuts s to at most n bytes, on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
