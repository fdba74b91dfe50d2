package adplatformtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// health serves GET /health.
func (p *Platform) health() response {
	return jsonResponse(http.StatusOK, struct {
		Status    string  `json:"status"`
		Timestamp string  `json:"timestamp"`
		Uptime    float64 `json:"uptime"`
	}{"ok", isoTime(time.Now()), time.Since(p.started).Seconds()})
}

// errorPage serves GET /api/error: a 500 whose body is a long stack trace
// that echoes the request's Authorization header and holds a database
// password. A client that logs or returns error bodies whole leaks them; a
// test searching its logs for the token finds it. Like the reference, it
// is neither rate-limited nor authenticated.
func errorPage(r *http.Request) response {
	var b strings.Builder
	b.WriteString("Error: Simulated server error\n")
	frames := []string{
		"at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)",
		"at next (/app/node_modules/express/lib/router/route.js:149:13)",
		"at Route.dispatch (/app/node_modules/express/lib/router/route.js:119:3)",
		"at /app/node_modules/express/lib/router/index.js:284:15",
		"at Function.process_params (/app/node_modules/express/lib/router/index.js:346:12)",
		"at syncCampaign (/app/src/handlers/campaigns.js:212:19)",
		"at Pool.query (/app/node_modules/pg-pool/index.js:407:12)",
	}
	for i := range 120 {
		fmt.Fprintf(&b, "    %s\n", frames[i%len(frames)])
	}
	fmt.Fprintf(&b, "request.headers.authorization: %s\n", r.Header.Get("Authorization"))
	fmt.Fprintf(&b, "request.headers.x-client-id: %s\n", r.Header.Get("X-Client-ID"))
	b.WriteString("process.env.DATABASE_URL: postgres://adplatform:hunter2-Pr0d-DB@db.internal:5432/ads\n")
	return jsonResponse(http.StatusInternalServerError, struct {
		Error string `json:"error"`
		Stack string `json:"stack"`
	}{"Simulated server error", b.String()})
}
