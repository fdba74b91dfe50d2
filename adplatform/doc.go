// Package adplatform is the ad platform's API client: it exchanges the
// account's credentials for a token, lists campaigns page by page, calls the
// slow per-campaign sync, and paces every request so that the platform's
// rolling rate limit is used to the last slot without earning a 429.
//
// Its sub-package adplatformtest is a faithful fake of the platform, for
// tests and demos.
//
// # Getting started
//
//	client, err := adplatform.New("https://api.example.com",
//		adplatform.StaticCredentials(email, password), // or your secrets manager, as a CredentialsProvider
//		adplatform.Options{Logger: slog.Default()})
//	...
//	defer client.CloseIdleConnections()
//	for c, err := range client.Campaigns(ctx) { ... }
//	res, err := client.SyncCampaign(ctx, c.ID)
//
// A [Client] is safe for concurrent use and meant to be shared: its
// token and its limiter serve all goroutines. The zero [Options] are the
// reference platform's numbers; every field documents its default, and
// [New] rejects a nonsense value with an error naming the field.
//
// # Authentication
//
// POST /auth/token with Basic credentials gives a bearer token, sent on
// every /api call. The client holds one token at a time for all goroutines
// and never requests one it does not need (the reference platform restarts
// every token's expiry at each issue): concurrent callers wait for the one
// request in flight and share its result. A token is replaced
// Options.TokenRefreshMargin before it expires (by default min(60s, a tenth
// of its lifetime)); its expiry is measured on our clock from when the
// token arrived, and tightened by the platform's issued_at only when that
// leaves it usable, so a platform clock that is off cannot cause a refresh
// storm. A 401 on an API call drops that token (only if it is still the
// current one, so ten calls refused together cause one refresh) and the
// call is retried once; a second 401 is an [*AuthError]. Wrong credentials
// are an [*AuthError] at once, without retries; so are empty credentials
// (without a request) and a failing [CredentialsProvider] (wrapped).
//
// The X-Client-ID header keys the platform's rate limit. Unless
// Options.ClientID is set it is derived from the account's email at the
// first authentication, "adsync-" and 16 hex digits of its SHA-256: stable
// for the account, revealing nothing.
//
// # Pagination
//
// [Client.Pages] fetches pages of Options.PageSize (default 100: fewer
// pages, fewer rate-limited requests) as the loop consumes them. It
// survives the platform's bugs: it stops at the first of has_more false, an
// empty page, total campaigns seen (mid-page if need be: the reference
// platform pads pages past the end with synthetic campaigns, which are cut
// off), a page identical to the previous one, or a page cap derived from
// total; a smaller page size echoed by the platform is adopted. Each
// [Record] keeps the bytes the platform sent; one that cannot be decoded
// carries a [*RecordError] and the listing goes on. A record repeating an
// id of the same or the previous page (offsets shifting under inserts) is
// marked [Record.Duplicate]: a caller storing the listing can let the last
// copy win without syncing the campaign twice.
//
// [Client.Campaigns] yields the campaigns of those pages, each id once (its
// first copy), with a record that cannot be decoded as a [*RecordError].
// [Client.ListCampaigns] fetches one page.
//
// # Records arrive exactly or are reported
//
// A campaign is decoded exactly as sent or not at all (see [Campaign]):
// text holding invalid UTF-8 or a lone surrogate escape is reported, never
// replaced by U+FFFD as encoding/json would. And one broken record never
// blocks an account: a page is not parsed as one JSON value but followed
// by its structure, each record cut out by bracket and string matching and
// decoded strictly on its own. A record that breaks the page's JSON (a raw
// control byte or invalid UTF-8 in a string, a bad number, an unescaped
// quote, a value cut short or malformed inside it) is yielded as a
// [*RecordError] with its raw bytes, and its neighbours arrive. Only a page
// that cannot be followed at all (cut short, garbage, no data array, a
// broken pagination object) fails the listing.
//
// A response body that is not well-formed JSON, or was cut short, is a
// [*DecodeError] wrapping [ErrMalformedResponse]: another attempt may bring
// it whole. One that is JSON but breaks the contract (a sync answer without
// success, a token_type "mac", a listing without data, a field of the
// wrong type) is a *DecodeError naming the field, without it: no attempt
// will change it.
//
// # Rate limit
//
// The platform accepts at most N requests in any rolling window (10 per 60
// s per client id). A [Limiter] models exactly that, as a sliding log: a
// request goes when the N-th latest one is one window old, plus a margin.
// A token bucket does not model it: it would let an 11th request go 6 s
// after ten, and earn a 429. Every attempt of every /api call, retries
// included, passes the limiter; token requests do not (that endpoint is
// not rate-limited). Waiters are served first come, first served; a wait
// that would outlast the context's deadline fails at once with
// [ErrLimiterDeadline].
//
// The log holds the time each request was written to the connection
// (net/http's httptrace tells), not the time it was admitted: a request
// that reaches the wire late (a new connection, a busy CPU) is logged
// late, as the platform sees it. The bearer token is obtained before a
// request is admitted, so that no token request sits between admission
// and sending; a token that expired during a long wait for a slot is
// replaced after the slot is given back. The margin covers what the
// client cannot see, the platform logging a request later than it was
// written: Options.RateMargin at least (by default a hundredth of the
// window, within [25ms, 1s]), widened by the scheduling delay the limiter
// observes (timers firing late, requests written late on a busy machine)
// and by any 429 that comes anyway, decaying as calm returns, never more
// than a tenth of the window.
//
// When the platform says the window is full (a 429, or Remaining: 0 in
// X-RateLimit-*, RateLimit-* or structured RateLimit headers), the
// limiter holds every call until then, so that concurrent workers do not
// all walk into the same wall. Callers sharing a client id must share one
// [Client], which is safe for concurrent use. [Client.Limiter] shows its
// limiter, and [Limiter.State] and [Limiter.Restore] hand what it knows
// (the recent send times, the platform's "wait until") to another process
// taking the account over.
//
// On the reference numbers, listing and syncing 100 campaigns takes 101
// requests: the floor is 10 windows plus one sync, 602 s, and the client
// takes about 608 s (the margin, 600 ms per window), with no 429.
//
// # Retries
//
// Every call is run by one long-lived go-retryablehttp client, built by
// [New]: its transport makes each attempt (token, outage gate, limiter,
// the round trip under the attempt timeout), and its policy functions are
// Options.CheckRetry and Options.Backoff, by default [DefaultRetryPolicy]
// and [DefaultBackoff]. Attempts are bounded by Options.MaxRetries:
//
//   - 408, 500, 502, 503 and 504, attempts cut by their timeout
//     (Options.ListTimeout, SyncTimeout, AuthTimeout: per attempt, not
//     counting the waits before it), connection failures and 2xx bodies
//     cut short or not well-formed JSON are retried after a backoff drawn
//     uniformly from [0, min(BackoffMax, BackoffMin·2^k)]. A Retry-After
//     header on such a response is honoured up to BackoffMax, and one
//     that would outlast the caller's deadline ends the call at once with
//     that response as its error; a body's retry_after is the rate
//     limit's and never applies to them.
//   - A 429 is a wait, not a failure: the wait its Retry-After says
//     (seconds, fractional or not, or an HTTP-date), else its body's
//     retry_after, else a backoff, is applied to the shared limiter, and
//     the call goes again when the limiter lets it. A wait longer than
//     Options.MaxRateLimitWait (a Retry-After of a day) closes the client
//     until then: the call, and every later call until that time, fails
//     at once with a [*RateLimitError] carrying it (RetryAfter, Until),
//     without sending a request. A caller's deadline that cuts a wait for
//     the platform short fails with an error that is both
//     [context.DeadlineExceeded] and that *RateLimitError.
//   - A 401 is retried once with a new token (see above).
//   - Any other status, a redirect (never followed: it would carry the
//     token elsewhere), a sync answered with success false, a 2xx body
//     that is well-formed but breaks the contract, a body over
//     Options.MaxResponseBytes: not retried.
//
// An error that ends a call names its cause once, and when the attempts
// did not all fail alike, says how they failed ("attempts: 4× timeout, 1×
// HTTP 503"). The caller's context bounds everything: its cancellation
// stops any wait at once and the call returns an error wrapping
// ctx.Err(), with the last attempt's failure.
//
// # Outages
//
// When the platform is down (5 consecutive 502, 503, 504, refused or
// reset connections, from at least two calls, with no success in between)
// calls stop sending. They wait, spending none of their retries, while one
// probe at a time goes: the first after a second, then at a doubling
// interval up to 15 s. The first answer that is not an outage signal
// releases them all. An outage longer than Options.MaxOutage (default 5
// minutes) ends the wait with an error matching [ErrPlatformUnavailable],
// which says "stop and come back later", not "this campaign failed". One
// call failing alone, however often, is that call's own failure (a
// campaign the platform chokes on), and a platform that never answered
// the client (a wrong URL) fails calls on their own retries, in seconds.
// A 500 is not an outage signal, nor is a timeout.
//
// # Stopping
//
// [WithAdmission] gives a call a second context, its admission: once it
// is done, the call sends nothing more (a call waiting for a token, the
// platform, a slot or a backoff stops at once with an error matching
// [ErrStopped]), while an attempt already on the wire finishes under the
// call's own context and its answer is returned. A graceful shutdown
// closes admission and keeps the calls' context alive for a grace period.
//
// # Errors
//
// Errors are typed; take them apart with errors.As and errors.Is:
// [*APIError] (status, the body's error code, a short sanitized excerpt of
// its message, attempts; Temporary for 5xx and 408), [*RateLimitError],
// [ErrPlatformUnavailable], [ErrStopped], [*AuthError],
// [*DecodeError] (naming the field; errors.Is(err, [ErrMalformedResponse])
// when the body was not well-formed JSON), [*RecordError] (one bad record
// of a listing), [*OptionError] (New's, naming the field). A transport
// failure still failing after the retries is returned wrapped, with the
// number of attempts; an attempt timeout is a [net.Error] whose Timeout is
// true, and is not a context error.
//
// # Observability
//
// Options.Logger (a *slog.Logger; nil is silent) gets a Debug line per
// attempt (endpoint, status, attempt, latency), Info for retries and token
// refreshes, Warn for 429s. An [Observer] (Options.Observer, and one per
// call with [WithObserver]) gets RequestStarted and RequestDone for every
// attempt, Retrying, RateLimitWait when the limiter made a request wait,
// TokenRefreshed and PageListed: enough for Prometheus or OpenTelemetry
// adapters. [Client.Stats] counts requests, retries, 429s, token
// refreshes and limiter waits.
//
// # Secrets
//
// The password, the Basic credential and the token never appear in a log
// line, an error, an observer event or Stats. A [Client], a [Credentials]
// value and the [StaticCredentials] provider show none of them, however
// they are shown: fmt with any verb, slog, encoding/json (Credentials
// marshal their password as "[REDACTED]", and JSON holding that
// placeholder is refused when read back), encoding/xml or gob. Platform
// text that reaches errors (error codes and messages, sync messages) is
// cut short, stripped of control and bidi characters, and has the current
// secrets, anything following "Bearer " or "Basic ", and URL passwords
// replaced by [REDACTED]: a hostile or careless platform echoing the
// Authorization header leaks nothing. Response bodies are never logged,
// and of an error body at most 64 KiB is kept.
package adplatform
