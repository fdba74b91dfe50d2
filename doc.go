// Package adsync keeps a service's database in step with an advertising
// platform's campaigns.
//
// adsync is a library first: a service imports its three packages and wires
// them together, and a thin example binary (examples/basic) does the same.
//
//   - [github.com/adsync/adsync/adplatform] is the platform's API client:
//     token exchange and refresh, pagination, the slow per-campaign sync
//     call, retries and timeouts, and a client-side limiter that uses every
//     slot of the platform's rolling rate window without earning a 429.
//     Its sub-package adplatformtest is a faithful fake of the platform.
//   - [github.com/adsync/adsync/store] defines where campaigns land: a small
//     Store interface, PostgreSQL and in-memory implementations, and a
//     conformance suite (storetest) any custom store can run.
//   - [github.com/adsync/adsync/syncer] composes a client and a store and runs
//     a concurrent, resumable sync with dead letters and a report.
//
// This package holds no code; it is the overview.
package adsync
