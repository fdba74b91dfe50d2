package main

import (
	"encoding/json"

	"github.com/adsync/adsync/examples/internal/envconfig"
	"github.com/adsync/adsync/syncer"
)

// reportJSON is the -json report, a stable shape for scripts: how the run
// ended (status, and error when there is one), its counts, its failures,
// and the platform client's counters.
type reportJSON struct {
	RunID     string `json:"run_id"`
	AccountID string `json:"account_id"`
	// Status is completed, completed_with_failures, interrupted or failed.
	Status syncer.Status `json:"status"`
	// Error is why the run did not complete, redacted; absent when it did,
	// or when a signal interrupted it.
	Error          string        `json:"error,omitempty"`
	Resumed        bool          `json:"resumed"`
	Total          int           `json:"total"`
	Seen           int           `json:"seen"`
	Synced         int           `json:"synced"`
	Skipped        int           `json:"skipped"`
	Failed         int           `json:"failed"`
	Failures       []failureJSON `json:"failures"`
	Retired        int           `json:"retired"`
	Interrupted    bool          `json:"interrupted"`
	HTTPRequests   int64         `json:"http_requests"`
	HTTP429        int64         `json:"http_429"`
	Retries        int64         `json:"retries"`
	TokenRefreshes int64         `json:"token_refreshes"`
	DurationMS     int64         `json:"duration_ms"`
}

type failureJSON struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// encodeReport encodes rep as the -json report, with secrets (the
// platform's password, the database's) replaced in every error.
func encodeReport(rep syncer.Report, secrets ...string) ([]byte, error) {
	r := reportJSON{
		RunID: rep.RunID, AccountID: rep.AccountID, Status: rep.Status, Resumed: rep.Resumed,
		Total: rep.Total, Seen: rep.Seen, Synced: rep.Synced, Skipped: rep.Skipped, Failed: rep.Failed,
		Failures: make([]failureJSON, len(rep.Failures)), Retired: rep.Retired,
		Interrupted:  rep.Status == syncer.StatusInterrupted,
		HTTPRequests: rep.HTTPRequests, HTTP429: rep.HTTP429, Retries: rep.Retries, TokenRefreshes: rep.TokenRefreshes,
		DurationMS: rep.Duration.Milliseconds(),
	}
	if rep.Err != nil {
		r.Error = envconfig.Redact(rep.Err.Error(), secrets)
	}
	for i, f := range rep.Failures {
		r.Failures[i] = failureJSON{ID: f.CampaignID, Error: envconfig.Redact(f.Err.Error(), secrets)}
	}
	return json.Marshal(r)
}
