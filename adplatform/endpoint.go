package adplatform

// Endpoint names one of the platform's endpoints in errors, logs and
// observer events.
type Endpoint string

// The platform's endpoints.
const (
	EndpointAuth Endpoint = "auth" // POST /auth/token
	EndpointList Endpoint = "list" // GET /api/campaigns
	EndpointSync Endpoint = "sync" // POST /api/campaigns/{id}/sync
)
