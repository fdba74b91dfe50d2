package adplatform

import (
	"context"
	"time"
)

// Page is one page of a campaign listing.
type Page struct {
	Campaigns []Campaign
	// Invalid holds the records of this page that could not be decoded.
	Invalid []*RecordError
	// Page, Limit, Total and HasMore are the platform's pagination fields,
	// as sent. Platforms get them wrong: see [Client.Campaigns] for how
	// iteration decides where the listing ends.
	Page    int
	Limit   int
	Total   int
	HasMore bool
}

// SyncResult is the platform's answer to a successful sync call.
type SyncResult struct {
	CampaignID string
	// SyncedAt is the platform's own timestamp of the sync (its clock, not
	// ours); zero if it sent none.
	SyncedAt time.Time
	Message  string
}

// Credentials are the account's email and password, exchanged for a bearer
// token. Their String, GoString and LogValue methods redact the password,
// so printing or logging a Credentials value does not leak it.
type Credentials struct {
	Email    string
	Password string
}

// CredentialsProvider supplies the account's credentials when a token is
// needed, so that a service can plug in a secrets manager and rotate them.
// adsync never reads credentials from the environment itself.
type CredentialsProvider interface {
	Credentials(ctx context.Context) (Credentials, error)
}

// CredentialsFunc adapts a function to [CredentialsProvider].
type CredentialsFunc func(ctx context.Context) (Credentials, error)

// Credentials calls f.
func (f CredentialsFunc) Credentials(ctx context.Context) (Credentials, error) { return f(ctx) }
