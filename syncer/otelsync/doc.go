// Package otelsync reports what adsync does to OpenTelemetry: metrics for
// the platform client's requests and for the syncer's runs, and a trace
// per run with a span for each platform call. It is built on the two
// observer interfaces, [adplatform.Observer] and [syncer.Observer], and
// lives in a module of its own (github.com/adsync/adsync/syncer/otelsync),
// so that a service that does not use OpenTelemetry pulls none of it. It
// depends on the OpenTelemetry API only; the service brings the SDK and
// its exporters.
//
// # Wiring
//
// Make one [Telemetry] with [New], then hand each account's client and
// syncer an observer of their own:
//
//	tel, err := otelsync.New(otelsync.Options{PlatformURL: baseURL}) // the global providers
//	...
//	client, err := adplatform.New(baseURL, credentials, adplatform.Options{
//		Observer: tel.Platform("acme"), // requests, 429s, retries, waits, tokens, pages
//	})
//	s, err := syncer.New(client, st, syncer.Options{
//		AccountID: "acme",
//		Observer:  tel.Syncer(), // runs, campaigns, and the run's spans
//	})
//
// Options.MeterProvider and Options.TracerProvider default to the global
// providers (otel.GetMeterProvider, otel.GetTracerProvider), as otelhttp's
// do; they are read once, in New. Options.PlatformURL, when set, gives the
// server.address and server.port attributes the semantic conventions ask
// of HTTP clients; New refuses a URL that is not http or https, or that
// holds credentials, with an error naming the field.
//
// Each observer measures what it sees first, so that nothing is counted
// twice: [Telemetry.Platform] returns a [ClientObserver] that measures
// every event of the client (the syncer passes some of them on to its own
// observer: those, the [RunObserver] does not measure again), and
// [Telemetry.Syncer] returns a RunObserver that measures runs and
// campaigns and makes the spans. Wire both. A client serves one account
// (adplatform asks for one client per rate-limit key), so Platform takes
// the account id; a syncer runs one run at a time and reports campaign
// events without naming the run, so give each syncer its own RunObserver.
//
// # Metrics
//
// Every duration is in seconds. Attributes are listed after each name;
// adsync.account.id is on every metric (left out when the account is
// empty).
//
//   - http.client.request.duration (histogram, s; the semantic
//     conventions'): every attempt of every request, retries and token
//     requests included, from the moment it is sent (after the rate
//     limiter let it go) to its response headers. Its count is the
//     number of requests. http.request.method, url.template
//     (/auth/token, /api/campaigns, /api/campaigns/{id}/sync: never the
//     campaign's id), adsync.endpoint (auth, list, sync),
//     http.response.status_code when a response arrived, error.type when
//     the attempt failed, server.address and server.port. Buckets: the
//     conventions' 5 ms to 10 s, and 15, 30 and 60 s.
//   - http.client.active_requests (up-down counter, {request}; the
//     conventions'): attempts on the wire now. Same attributes, without
//     the status and error.type.
//   - adsync.platform.rate_limited (counter, {response}): 429 answers.
//     adsync.endpoint.
//   - adsync.platform.retries (counter, {retry}): attempts retried,
//     whatever the reason, 429s included. adsync.endpoint, error.type of
//     the attempt that failed.
//   - adsync.platform.rate_limit.wait.duration (histogram, s): the time a
//     request waited for a slot of the client's rate limiter, recorded only
//     when it waited; the count is the number of waits. adsync.endpoint.
//     Buckets from 10 ms to 5 minutes.
//   - adsync.platform.token.refreshes (counter, {token}): bearer tokens
//     obtained.
//   - adsync.platform.pages (counter, {page}): pages of campaigns listed.
//   - adsync.sync.campaigns (counter, {campaign}): what each campaign a
//     run took on became. adsync.campaign.outcome (synced, skipped,
//     failed), adsync.run.kind (run, retry_failed), and error.type for a
//     failure.
//   - adsync.sync.run.duration (histogram, s): each finished run; its count
//     is the number of runs. adsync.run.status (completed,
//     completed_with_failures, interrupted, failed: syncer.Report.Status),
//     adsync.run.kind. Buckets from
//     1 s to 4 hours.
//
// error.type is one of a small fixed set, so that it can label a metric:
// the HTTP status of a platform's answer ("429", "503", "404"), or
// timeout, canceled, connection_refused, connection_reset,
// connection_closed, malformed_response, invalid_response,
// invalid_record (a listed record that could not be decoded),
// rejected_by_store, or _OTHER. No metric carries a campaign id (there
// may be millions), an error's text, or anything secret.
//
// # Traces
//
// Each run (a Run or a RetryFailed pass) is a span named adsync.run, from
// RunStarted to RunFinished. It starts with adsync.account.id,
// adsync.run.id, adsync.run.kind and adsync.run.resumed, and ends with
// the report: adsync.run.status, adsync.run.seen, .synced, .skipped,
// .failed, .requests, .rate_limited, .retries, .token_refreshes and
// .rate_limit_wait (seconds, summed over concurrent calls). A run that
// ended with an error (it failed, or stopped for a cause: the platform or
// the database unavailable) ends with the error status and the error's
// text, cut short; one its caller stopped gracefully does not. Its events
// are the pages listed (adsync.page, with the page's number, campaigns,
// invalid records, total and has_more), retries (adsync.retry, with the
// endpoint, the attempt that failed, its error.type and the wait) and
// token refreshes (adsync.token_refreshed).
//
// Each attempt of a run's platform calls is a client span, a child of the
// run's, named as the conventions say ("POST /api/campaigns/{id}/sync",
// "GET /api/campaigns", "POST /auth/token"), from the moment it is sent
// to its response headers, with the request duration's attributes and
// http.request.resend_count for a retry. A 4xx or 5xx, or no response,
// is the error status; for a failed transport, the description is the
// error (adplatform keeps secrets out of it). The attempt spans come from
// the observer [RunObserver.PlatformObserver] returns for a run: the
// syncer asks for it when a run starts and attaches it to the run's calls
// with adplatform.WithObserver.
//
// The run span is a root span: the syncer's observer is told of a run
// without its context, so the span cannot be the child of, say, the job
// that started the run.
//
// # Prometheus
//
// To serve these metrics on /metrics, build the SDK's meter provider with
// the Prometheus exporter (go.opentelemetry.io/otel/exporters/prometheus)
// as its reader, pass it as Options.MeterProvider (or make it the global
// one), and serve the Prometheus client's promhttp.Handler(): in short,
// exporter, err := prometheus.New(), then
// sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)). With the
// exporter's default translation, dots become underscores, the unit
// becomes a suffix and counters gain _total: the request durations are
// the http_client_request_duration_seconds histogram (_bucket, _sum,
// _count) with labels such as adsync_endpoint and
// http_response_status_code; the 429s are adsync_platform_rate_limited_total;
// the campaigns adsync_sync_campaigns_total by adsync_campaign_outcome;
// runs adsync_sync_run_duration_seconds by adsync_run_status. Two queries
// an operator wants: the 429 rate,
// sum by (adsync_account_id) (rate(adsync_platform_rate_limited_total[15m])),
// which should be 0; and a health check that an account completed a run
// lately,
// increase(adsync_sync_run_duration_seconds_count{adsync_run_status=~"completed.*"}[2h]) > 0.
package otelsync
