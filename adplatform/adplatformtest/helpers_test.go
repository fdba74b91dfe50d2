package adplatformtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// reply is one answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// hdr is one request header: name and value.
type hdr [2]string

// send makes one request to the server over loopback.
func send(t *testing.T, srv *Server, method, path string, headers ...hdr) reply {
	t.Helper()
	return sendBody(t, srv, method, path, "", headers...)
}

func sendBody(t *testing.T, srv *Server, method, path, body string, headers ...hdr) reply {
	t.Helper()
	// Generous, so that a regression that hangs fails instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// serve runs one request through the handler directly, with no network:
// inside a synctest bubble it runs on the virtual clock.
func serve(p *Platform, method, path string, headers ...hdr) reply {
	req := httptest.NewRequest(method, path, nil)
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Result().Header, rec.Body.Bytes()}
}

// basic is the Authorization header for these credentials.
func basic(email, password string) hdr {
	req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
	req.SetBasicAuth(email, password)
	return hdr{"Authorization", req.Header.Get("Authorization")}
}

func bearer(token string) hdr { return hdr{"Authorization", "Bearer " + token} }

func clientHdr(id string) hdr { return hdr{"X-Client-ID", id} }

// login gets a token over loopback.
func login(t *testing.T, srv *Server) string {
	t.Helper()
	return tokenOf(t, send(t, srv, http.MethodPost, "/auth/token", basic(DefaultEmail, DefaultPassword)))
}

// loginDirect gets a token through the handler.
func loginDirect(t *testing.T, p *Platform) string {
	t.Helper()
	return tokenOf(t, serve(p, http.MethodPost, "/auth/token", basic(DefaultEmail, DefaultPassword)))
}

func tokenOf(t *testing.T, r reply) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("POST /auth/token: %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decode(t, r.body, &tok)
	if tok.AccessToken == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	return tok.AccessToken
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

// page is a decoded listing.
type page struct {
	Data       []adplatform.Campaign `json:"data"`
	Pagination pagination            `json:"pagination"`
}

// list fetches one page over loopback and decodes it, failing on any
// status but 200.
func list(t *testing.T, srv *Server, token, query string) page {
	t.Helper()
	r := send(t, srv, http.MethodGet, "/api/campaigns"+query, bearer(token))
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/campaigns%s: %d %s", query, r.status, r.body)
	}
	var p page
	decode(t, r.body, &p)
	return p
}

func ids(cs []adplatform.Campaign) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// waitFor polls cond until it holds or a generous deadline passes: for
// states reached by another goroutine, never as a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
