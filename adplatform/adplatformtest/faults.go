package adplatformtest

import (
	"net/http"

	"github.com/adsync/adsync/adplatform"
)

// fault is one kind of injected failure.
type fault int

const (
	noFault fault = iota
	faultUnavailable
	faultHang
	faultReset
	faultBadGateway
	faultMalformed
)

// drawFault draws at most one fault for a request to endpoint.
func (p *Platform) drawFault(endpoint adplatform.Endpoint) fault {
	f := p.cfg.faults
	if !p.cfg.endpoints[endpoint] || f.Unavailable+f.Hang+f.Reset+f.BadGateway+f.Malformed == 0 {
		return noFault
	}
	p.mu.Lock()
	x := p.rng.Float64()
	p.mu.Unlock()
	for _, c := range []struct {
		p float64
		f fault
	}{{f.Unavailable, faultUnavailable}, {f.Hang, faultHang}, {f.Reset, faultReset}, {f.BadGateway, faultBadGateway}, {f.Malformed, faultMalformed}} {
		if x < c.p {
			return c.f
		}
		x -= c.p
	}
	return noFault
}

// badGatewayPage is what a proxy in front of the platform answers.
const badGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// faultResponse is the answer of a fault that replaces the endpoint; ok is
// false when the endpoint must run (no fault, or a malformed body).
func faultResponse(f fault) (resp response, ok bool) {
	switch f {
	case faultUnavailable:
		return unavailable(), true
	case faultHang:
		return response{kind: hang}, true
	case faultReset:
		return response{kind: reset}, true
	case faultBadGateway:
		return response{
			status: http.StatusBadGateway,
			header: http.Header{"Content-Type": {"text/html"}},
			body:   []byte(badGatewayPage),
		}, true
	}
	return response{}, false
}

// malformed applies the malformed-body fault to the endpoint's answer: a
// 200 keeps its status and headers but loses the second half of its body.
// Content-Length matches what is sent, so the client reads a complete,
// well-framed response that is not JSON.
func malformed(f fault, resp response) response {
	if f == faultMalformed && resp.kind == answer && resp.status == http.StatusOK {
		resp.body = resp.body[:len(resp.body)/2]
	}
	return resp
}
