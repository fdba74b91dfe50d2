package adplatform

import (
	"context"
	"iter"
	"time"
)

// Client is what a syncer needs of the platform. [HTTPClient] implements it
// over HTTP; a test or a service can substitute its own.
type Client interface {
	// ListCampaigns fetches one page of campaigns (pages count from 1).
	// Records of the page that cannot be decoded are reported in
	// Page.Invalid, not as an error.
	ListCampaigns(ctx context.Context, page, limit int) (Page, error)

	// Campaigns iterates over every campaign of the account, fetching pages
	// lazily. A *RecordError reports one undecodable record and iteration
	// goes on; any other error ends the iteration.
	Campaigns(ctx context.Context) iter.Seq2[Campaign, error]

	// SyncCampaign asks the platform to sync one campaign. It is the slow
	// call (about two seconds on the reference platform).
	SyncCampaign(ctx context.Context, id string) (SyncResult, error)
}

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
