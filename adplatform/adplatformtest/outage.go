package adplatformtest

import (
	"net/http"

	"github.com/adsync/adsync/adplatform"
)

// Outage says how the platform fails while it is down: every request to
// /auth/token and under /api/ fails this way, before anything else (it is
// not rate-limited, and counts against no limit); /health keeps
// answering. The zero Outage is no outage.
type Outage struct {
	// Status is answered, with the platform's JSON error body (503:
	// "Service temporarily unavailable"). It must be in 400–599.
	Status int
	// Reset, instead of an answer, aborts each request's connection with a
	// TCP RST, as a platform whose process died behind a load balancer
	// does.
	Reset bool
}

// SetOutage takes the platform down as o says, until SetOutage(Outage{})
// brings it back: for testing that a client pauses through an outage
// rather than fails. Requests already past this check are served as
// usual. An invalid Outage is an error naming the field, and changes
// nothing. Stats.OutageRequests counts the requests an outage failed.
func (p *Platform) SetOutage(o Outage) error {
	if o.Status != 0 && (o.Status < 400 || o.Status > 599) {
		return fieldError("Outage.Status", "must be in 400–599, got %d", o.Status)
	}
	if o.Reset && o.Status != 0 {
		return fieldError("Outage.Status", "must be 0 with Reset, got %d", o.Status)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outage = o
	return nil
}

// downInOutage reports whether an outage fails requests of this route:
// /auth/token and everything under /api/.
func (rt route) downInOutage() bool {
	return rt.limited || rt.endpoint == EndpointError || rt.endpoint == adplatform.EndpointAuth
}

// outageResponse is the answer of the current outage; down is false when
// there is none.
func (p *Platform) outageResponse() (resp response, down bool) {
	p.mu.Lock()
	o := p.outage
	if o != (Outage{}) {
		p.counters.outageRequests++
	}
	p.mu.Unlock()
	switch {
	case o.Reset:
		return response{kind: reset}, true
	case o.Status == http.StatusServiceUnavailable:
		return unavailable(), true
	case o.Status != 0:
		return apiError(o.Status, http.StatusText(o.Status), "The platform is down for maintenance."), true
	}
	return response{}, false
}
