package adplatform_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// errorLog records every error string a caller or an observer can see.
type errorLog struct {
	adplatform.NopObserver
	mu   sync.Mutex
	errs []string
}

func (e *errorLog) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
}

func (e *errorLog) RequestDone(i adplatform.RequestInfo) { e.add(i.Err) }

func (e *errorLog) Retrying(i adplatform.RetryInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, i.Reason)
}

func (e *errorLog) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.errs, "\n")
}

// echo answers the sync of a few special ids with bodies that echo the
// request's Authorization header back, as a hostile or careless platform
// might, in every place the client reads text from; "stack" gets the
// fake's own /api/error page (a stack trace echoing the header and
// holding a database password). Everything else goes to the fake.
func echo(platform *adplatformtest.Platform) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		_, token, _ := strings.Cut(auth, " ")
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/campaigns/"), "/sync")
		switch id {
		case "echo_500":
			writeJSON(w, 500, map[string]string{"error": "Boom " + auth, "message": "you sent " + auth + " (" + token + ")"})
		case "echo_400":
			writeJSON(w, 400, map[string]string{"error": token, "message": token})
		case "echo_502":
			w.WriteHeader(502)
			_, _ = fmt.Fprintf(w, "<html>proxy error\r\nAuthorization: %s\r\ntoken=%s</html>", auth, token)
		case "echo_401":
			writeJSON(w, 401, map[string]string{"error": "Token expired " + token, "message": auth})
		case "echo_429":
			writeJSON(w, 429, map[string]any{"error": "Rate limit exceeded for " + auth, "message": token, "retry_after": 99999})
		case "echo_ok":
			writeJSON(w, 200, map[string]any{"success": true, "campaign_id": id, "message": "synced with " + auth})
		case "echo_false":
			writeJSON(w, 200, map[string]any{"success": false, "error": auth, "message": "token " + token})
		case "stack":
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.Method = "/api/error", http.MethodGet
			platform.ServeHTTP(w, r2)
		default:
			platform.ServeHTTP(w, r)
		}
	})
}

// authEcho is a token endpoint that refuses, echoing the credentials in
// every form.
func authEcho(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	status := http.StatusUnauthorized
	if strings.HasSuffix(user, ".retry") {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]string{
		"error":   "Invalid credentials " + r.Header.Get("Authorization"),
		"message": fmt.Sprintf("user %s password %s %q", user, pass, pass),
	})
}

// No password, Basic credential or token ever appears in a log line (at
// any level), an error, an observer event, Stats or the printed client:
// a full run with every fault kind, an expired token, bad credentials and
// bodies echoing the Authorization header.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		acctEmail    = "ops@example.com"
		acctPassword = `pw-SECRET-9f8e7d "quoted"`
		wrongPass    = "wrong-SECRET-1a2b3c"
	)
	platform, err := adplatformtest.New(adplatformtest.Options{Email: acctEmail, Password: acctPassword, RateLimit: -1, RateWindow: time.Second, SyncLatency: 2 * time.Millisecond, Campaigns: 40, HonestPagination: true, FailEveryNthList: 3, Faults: adplatformtest.Faults{
		Unavailable: 0.1, Hang: 0.05, Reset: 0.05, BadGateway: 0.1, Malformed: 0.1, Seed: 11,
		Endpoints: []adplatform.Endpoint{adplatform.EndpointList, adplatform.EndpointSync, adplatform.EndpointAuth},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(echo(platform))
	t.Cleanup(func() { platform.Close(); srv.Close() })
	badAuth := httptest.NewServer(http.HandlerFunc(authEcho))
	t.Cleanup(badAuth.Close)

	var logs logBuffer
	var seen errorLog
	tweak := func(o *adplatform.Options) {
		o.Logger = logs.logger()
		o.Observer = &seen
		o.PageSize = 7
		o.MaxRetries = 10
		o.ListTimeout, o.SyncTimeout, o.AuthTimeout = 150*time.Millisecond, 150*time.Millisecond, 150*time.Millisecond
	}
	c := clientAs(t, srv.URL, adplatform.StaticCredentials(acctEmail, acctPassword), tweak)
	ctx := ctxT(t)

	// A full listing and sync through the faults.
	ids, _, err := collect(t, c)
	seen.add(err)
	if len(ids) != 40 {
		t.Fatalf("listed %d campaigns (%v); want 40", len(ids), err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			_, err := c.SyncCampaign(ctx, id)
			seen.add(err)
		})
	}
	wg.Wait()
	// The token expires: 401, refresh, retry.
	platform.ExpireTokens()
	for _, id := range ids[:5] {
		_, err := c.SyncCampaign(ctx, id)
		seen.add(err)
	}
	// The echoing bodies, every kind.
	// echo_429 asks for a long wait, which closes the client: last.
	for _, id := range []string{"echo_500", "echo_400", "echo_502", "echo_401", "echo_ok", "echo_false", "stack", "echo_429"} {
		res, err := c.SyncCampaign(ctx, id)
		seen.add(err)
		seen.add(fmt.Errorf("%+v", res)) // the result's text too
	}
	// Bad credentials against the fake, and against a platform echoing
	// them back.
	_, err = clientAs(t, srv.URL, adplatform.StaticCredentials(acctEmail, wrongPass), tweak).SyncCampaign(ctx, "campaign_1")
	seen.add(err)
	for _, user := range []string{acctEmail, "ops@example.retry"} {
		_, err = clientAs(t, badAuth.URL, adplatform.StaticCredentials(user, acctPassword), tweak).SyncCampaign(ctx, "campaign_1")
		seen.add(err)
	}

	tokens := platform.Tokens()
	if len(tokens) < 2 {
		t.Fatalf("%d tokens issued: the expiry did not happen", len(tokens))
	}
	var secrets []string
	for _, pw := range []string{acctPassword, wrongPass} {
		for _, user := range []string{acctEmail, "ops@example.retry"} {
			b64 := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
			secrets = append(secrets, b64, b64[:len(b64)-4]) // and a long prefix of it
		}
		secrets = append(secrets, pw, "pw-SECRET", "wrong-SECRET")
	}
	secrets = append(secrets, tokens...)
	secrets = append(secrets, "hunter2-Pr0d-DB") // the stack trace's database password

	everything := map[string]string{
		"logs":    logs.String(),
		"errors":  seen.String(),
		"client":  fmt.Sprintf("%v %+v %#v", c, c, c),
		"stats":   fmt.Sprintf("%+v", c.Stats()),
		"request": fmt.Sprintf("%+v", platform.Requests()),
	}
	for where, text := range everything {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s leak a secret (%.12s…): …%s…", where, s, text[max(0, i-80):min(len(text), i+len(s)+20)])
			}
		}
	}
	// The run did exercise what it claims.
	if st := c.Stats(); st.Retries == 0 || st.TokenRefreshes < 2 {
		t.Fatalf("stats %+v: the faults or the expiry did not happen", st)
	}
	for _, want := range []string{`"level":"DEBUG"`, `"level":"INFO"`, "Boom Bearer [REDACTED]", "Simulated server error", "HTTP 401", "Invalid credentials"} {
		if !strings.Contains(logs.String()+seen.String(), want) {
			t.Errorf("logs and errors lack %q: the scenario did not run as intended", want)
		}
	}
	if testing.Verbose() {
		t.Logf("%d bytes of logs, %d of errors checked", len(everything["logs"]), len(everything["errors"]))
	}
}

// Durations in the client's logs are human-readable text, not a JSON
// handler's nanoseconds: a pipeline reading "expires_in": 3600000000000
// would take it for an hour in the future of the universe.
func TestLogDurationsAreText(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	srv := fake(t, adplatformtest.Options{})
	c := client(t, srv.URL, func(o *adplatform.Options) { o.Logger = logs.logger(); o.RateLimit, o.RateWindow = 1, time.Second })
	for _, id := range []string{"campaign_1", "campaign_2"} { // the second waits for the limiter
		if _, err := c.SyncCampaign(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		for k, v := range rec {
			if _, isNumber := v.(float64); isNumber && (strings.Contains(k, "wait") || strings.Contains(k, "latency") || strings.Contains(k, "expires") || k == "after") {
				t.Errorf("%s is the number %v in %q; want text such as \"1.5s\"", k, v, line)
			}
		}
	}
	if !strings.Contains(logs.String(), `"expires_in":"1h0m0s"`) {
		t.Errorf("no token line with expires_in as text in:\n%s", logs.String())
	}
}
