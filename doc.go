// Package adsync keeps a service's database in step with an advertising
// platform's campaigns: it lists every campaign, calls the platform's slow
// per-campaign sync, and stores each campaign exactly as the platform sent
// it. It goes as fast as the platform's rate limit physically allows, and
// earns no 429s.
//
// adsync is a library. A service imports three packages and composes them;
// the example binary examples/basic does the same in a few dozen lines.
//
//   - [github.com/adsync/adsync/adplatform] is the platform's API client.
//     It handles the Basic-to-Bearer token exchange and refresh, pagination
//     that survives a platform's wrong has_more, and the slow sync call.
//     Transient failures are retried with capped, jittered backoff, with
//     per-endpoint timeouts. A client-side limiter models "N requests in
//     any rolling window" exactly, so every slot of the window is used and
//     none earns a 429. Its sub-package adplatformtest is a faithful fake
//     of the platform, like net/http/httptest.
//   - [github.com/adsync/adsync/store] defines where campaigns land: the
//     two-method Store interface and the RunStore bookkeeping (exclusive
//     accounts, runs recorded one transaction per batch, dead letters).
//     store/postgres implements both with batched COPY + upsert and
//     advisory locks; store/memory implements both in process, and adds
//     the bookkeeping to any Store. store/storetest is the conformance
//     suite any store, yours included, can run.
//   - [github.com/adsync/adsync/syncer] composes a client and a store by
//     dependency injection (it declares the small interfaces it needs). It
//     runs a concurrent, resumable sync with dead letters, graceful
//     shutdown and a report.
//
// # Quick start
//
//	client, err := adplatform.New(baseURL, adplatform.StaticCredentials(email, password), adplatform.Options{})
//	if err != nil { ... }                      // errors name the bad option
//	st, err := postgres.Open(ctx, databaseURL, postgres.Options{})
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	s, err := syncer.New(client, st, syncer.Options{AccountID: "acme"})
//	if err != nil { ... }
//	report, err := s.Run(ctx) // cancel ctx to stop gracefully; rerun to resume
//
// Run it with nothing configured: `go run ./examples/basic` syncs an
// embedded fake platform, time-compressed, into the memory store. See the
// README for configuration, measured performance and operations, and the
// runnable examples of each package.
//
// This package holds no code; it is the overview.
package adsync
