// Package adplatformtest is a faithful fake of the ad platform, for tests
// and demos: a real HTTP server on loopback, like net/http/httptest, that
// behaves by default exactly like the reference platform, quirks included,
// and turns every number into a knob.
//
// # Using it in a test
//
//	srv := adplatformtest.Start(t, adplatformtest.Options{
//		RateLimit: 5, RateWindow: 200 * time.Millisecond, // short windows, fast tests
//		SyncLatency: 10 * time.Millisecond,
//	})
//	syncEverything(t, srv.URL, adplatformtest.DefaultEmail, adplatformtest.DefaultPassword) // the code under test
//	// Then assert on what the platform saw.
//	st := srv.Platform.Stats()
//	if st.RateLimited != 0 { t.Errorf("client earned %d 429s", st.RateLimited) }
//
// [Start] listens on 127.0.0.1, fails the test on a bad option and closes
// the server when the test ends; [NewServer] does the same for a program,
// returning an error, and the caller closes it. [Server.Close] ends even
// requests the fake holds open on purpose. [New] returns the bare
// [Platform], an [net/http.Handler], to mount on a server of your own
// (call [Platform.Close] before shutting that server down). Nothing is
// global: any number of fakes run side by side.
//
// # What is reproduced
//
// POST /auth/token exchanges Basic credentials ([DefaultEmail] and
// [DefaultPassword] unless Options.Email and Password) for a random
// bearer token:
// 200 {"access_token","token_type":"Bearer","expires_in":3600,"issued_at"};
// 401 "Invalid credentials" for wrong ones, 401 "Unauthorized" for a
// missing or malformed header. It is not rate-limited. As on the reference,
// one global issue time governs every token: each new token restarts the
// expiry clock of all of them. A token is valid if the fake issued it and
// the latest issue is less than the TTL old; otherwise 401 "Invalid token"
// (unknown, which the reference would accept) or 401 "Token expired" with
// "expired_at".
//
// Outside an outage (see Outages below), every /api request but /api/error
// goes through, in this order:
//
//  1. The rate limit, per X-Client-ID header (absent: one "default"
//     client): a sliding log of accepted request times, at most N accepted
//     in any rolling window (10 per 60 s). A request is rejected with 429
//     {"error":"Rate limit exceeded","message":...,"retry_after":60} and no
//     header; rejected requests do not count. A slot frees exactly when the
//     oldest accepted request is one window old. Every accepted request
//     counts, whatever it then answers (a 401, a 404, a 503).
//  2. The bearer token: a missing or non-Bearer header is 401
//     "Unauthorized".
//  3. Injected faults (Options.Faults; none by default).
//  4. The endpoint.
//
// GET /api/campaigns?page=P&limit=L (defaults 1 and 10; anything but a
// positive integer, or a limit over 10000, is a 400) lists 100 generated
// campaigns, campaign_1 to campaign_100, with impressions, clicks and
// conversions drawn afresh on every call. It keeps the reference's quirks:
// has_more is page < ceil(total/10) whatever the limit, total is the
// number of campaigns, and pages past the end are filled with synthetic
// campaigns (campaign_101, ...), so limit=100 gives all 100 campaigns on
// page 1 with has_more true, and page 2 holds campaigns 101 to 200. Every
// 5th authenticated list request answers 503 "Service temporarily
// unavailable" (a global counter, unless a random fault took that request).
//
// POST /api/campaigns/{id}/sync takes the path segment, unescaped, as the
// id, so an id holding '/', '?', '#', '%', spaces or any Unicode arrives
// intact when the client escapes it (a literal '/' makes another path: a
// 404). The JSON body is optional. It answers 200
// {"success":true,"campaign_id","synced_at","message"} after 2 seconds, or
// sooner with nothing if the client leaves or the fake closes; an id that
// is not a campaign (a synthetic one included) is a 404.
//
// GET /health answers {"status":"ok","timestamp","uptime"}. GET /api/error
// answers 500 with a long fake stack trace that echoes the Authorization
// header it received and holds a database password: a client must never
// log or return error bodies whole. Like the reference, it is neither
// rate-limited nor authenticated.
//
// Times are sent as JavaScript's toISOString writes them
// (2024-12-11T10:30:00.000Z). Generated campaigns are created k days
// before the fake started (fixed, where the reference counts back from
// each request).
//
// # Knobs
//
// [Options] holds every knob; its zero value is the reference platform,
// and each field documents its default. A knob whose zero means the
// default is turned off with -1.
//
//   - Data: Campaigns (n generated; -1 none), CampaignList (explicit,
//     served verbatim: odd ids, hostile text, int64 extremes), RawRecords
//     (listed records replaced by raw JSON).
//   - Account: Email, Password, TokenTTL (a TTL under a second is sent as
//     a fractional expires_in, e.g. 0.3).
//   - Rate limit: RateLimit and RateWindow (RateLimit -1 turns it off),
//     RetryAfter (none, delta-seconds or HTTP-date), RateLimitHeaders
//     (X-RateLimit-* and RateLimit-*).
//   - Time: AuthLatency, ListLatency, SyncLatency (-1: instant).
//   - Failures: FailEveryNthList (-1: never), Faults (random 503, hang,
//     connection reset, 502 HTML, truncated JSON, with a seed, on the
//     endpoints chosen), SyncErrors (a campaign's sync always fails).
//   - Pagination: HonestPagination, PageSizeCap.
//
// # Outages
//
// A platform goes down while a client runs, and comes back. Three switches
// make it so, at any moment, safe for concurrent use:
// [Platform.SetOutage] with a Status makes every /auth and /api request
// answer it (503, say) until SetOutage(Outage{}); with Reset, every such
// connection is reset instead; [Server.Refuse] closes the listener and
// every open connection, so that connections are refused, until
// [Server.Accept] listens again on the same address. Stats.OutageRequests
// counts the requests an outage failed; they count against no rate limit.
//
// # Inspection
//
// [Platform.Stats] is a snapshot: requests per endpoint (received,
// accepted, rate-limited, by status), 429s served, tokens issued, requests
// in flight and the most at once, client ids seen, the most requests
// accepted inside one rolling window per client (with the fake's limit
// off, how well a client paces itself), sync calls and successes per
// campaign id, and requests failed by an outage. [Platform.Requests] is
// the request log (time, endpoint, method, escaped path, client id,
// status, whether the rate limit or an outage failed it, and whether the
// Authorization header was Basic, Bearer or absent — never its value).
// [Platform.Tokens] returns the tokens issued, for tests proving a client
// never leaks them. [Platform.ExpireTokens] expires every token at once,
// to exercise a client's refresh on 401.
//
// # Time
//
// The fake reads the clock with time.Now and waits with timers, so a
// [Platform] created with [New] inside a testing/synctest bubble and driven
// through ServeHTTP (an httptest.ResponseRecorder, no network) runs on the
// bubble's virtual clock: rolling windows, latencies and token expiry can
// be tested to the nanosecond without sleeping. Create it inside the
// bubble: its channels must belong to it. Connection resets and hangs need
// a real connection, so test those over [Start] or [NewServer].
package adplatformtest
