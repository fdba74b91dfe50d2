package main

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// basicCredential is the Authorization header's value for the test
// account: it holds the password.
var basicCredential = base64.StdEncoding.EncodeToString([]byte(adplatformtest.DefaultEmail + ":" + adplatformtest.DefaultPassword))

// bearerToken matches a token after "Bearer ", as a header would carry it.
var bearerToken = regexp.MustCompile(`Bearer [A-Za-z0-9._~+/=-]{8,}`)

// assertNoSecret fails if out holds the platform password, its Basic
// credential, a bearer token, or any of extra.
func assertNoSecret(t *testing.T, what, out string, extra ...string) {
	t.Helper()
	for _, s := range append([]string{adplatformtest.DefaultPassword, basicCredential}, extra...) {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s holds a secret (%d bytes long)", what, len(s))
		}
	}
	if m := bearerToken.FindString(out); m != "" {
		t.Errorf("%s holds a bearer token", what)
	}
}

// No secret appears in anything the example prints: -h (with the
// secrets in its environment), a debug-level run in both log formats
// against the embedded fake, and one against the fake platform process and
// PostgreSQL with a password in DATABASE_URL.
func TestNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		env := append(platformEnv("http://127.0.0.1:9", adplatformtest.DefaultPassword), envDatabase+"=postgres://u:db-Pa55@127.0.0.1:1/x")
		p := runBasic(t, env, "-h")
		assertNoSecret(t, "-h", p.Stdout()+p.Stderr(), "db-Pa55")
	})
	for _, format := range []string{"text", "json"} {
		t.Run("embedded fake, debug, "+format, func(t *testing.T) {
			t.Parallel()
			p := runBasic(t, nil, "-json", "-rate", "100/1s", "-concurrency", "25", "-log-level", "debug", "-log-format", format)
			if code := p.ExitCode(); code != exitOK {
				t.Fatalf("exit status %d, want 0", code)
			}
			if !strings.Contains(p.Stderr(), "DEBUG") {
				t.Fatal("no debug logs: nothing was checked")
			}
			assertNoSecret(t, "the output", p.Stdout()+p.Stderr())
		})
	}
	t.Run("fake platform and PostgreSQL, debug", func(t *testing.T) {
		t.Parallel()
		_, dbURL, dbPassword := pgURL(t)
		env := append(startPlatform(t, "-rate", "100/1s", "-sync-latency", "10ms", "-campaigns", "30", "-fail-every-nth-list", "1"),
			envDatabase+"="+dbURL)
		// Every list call fails: the run ends in an error, whose text
		// must not leak either.
		p := runBasic(t, env, "-json", "-rate", "100/1s", "-log-level", "debug")
		if code := p.ExitCode(); code != exitFailed {
			t.Errorf("exit status %d, want 1", code)
		}
		if !strings.Contains(p.Stderr(), "503") {
			t.Errorf("stderr does not give the error")
		}
		assertNoSecret(t, "the output", p.Stdout()+p.Stderr(), dbPassword)
	})
}
