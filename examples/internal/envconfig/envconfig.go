// Package envconfig is what the example binaries (examples/basic and
// examples/worker) share of their configuration: the environment they
// read, the checks of its values, the embedded fake platform's time-
// compressed numbers, and how their output keeps the secrets out.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/examples/internal/ratelimit"
)

// The environment variables both binaries read.
const (
	APIURL   = "AD_PLATFORM_API_URL"
	Email    = "AD_PLATFORM_EMAIL"
	Password = "AD_PLATFORM_PASSWORD"
	Database = "DATABASE_URL"
)

// The embedded fake (when APIURL is unset) behaves as the reference
// platform does, time-compressed so that an account of 100 campaigns syncs
// in about 20 s instead of 10 minutes: its window is 2 s instead of a
// minute, its sync call 400 ms instead of 2 s. Everything else is the
// reference's.
const (
	FakeRateLimit   = adplatformtest.DefaultRateLimit
	FakeRateWindow  = 2 * time.Second
	FakeSyncLatency = 400 * time.Millisecond
)

// FakeRate is the embedded fake's rate limit, and the clients' default
// with it.
func FakeRate() ratelimit.Rate { return ratelimit.Rate{N: FakeRateLimit, Window: FakeRateWindow} }

// FakeMargin is the clients' rate margin with the embedded fake: a tenth
// of the window. The fake runs in the binary's own process, so whatever
// delays the process (a busy CPU, the race detector, a GC) delays the
// fake's log of a request after the client wrote it, by more than the
// client's default margin (1% of the window, at least 25ms) covers on a
// loaded machine; on a real platform the margin covers the network and the
// platform's own queue instead. It costs a tenth of the window per window.
func FakeMargin(rate ratelimit.Rate) time.Duration { return rate.Window / 10 }

// CheckAPIURL refuses what cannot be a platform's base URL, without
// echoing it: a URL may hold a password. adplatform.New checks the rest.
func CheckAPIURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("no host in the URL")
	case u.User != nil:
		return errors.New("must not hold credentials: use " + Email + " and " + Password)
	}
	return nil
}

// CheckPlatform checks the platform's part of the environment: nothing
// when apiURL is unset (the embedded fake), else a base URL CheckAPIURL
// accepts and both credentials. The error names the variable at fault and
// holds no secret.
func CheckPlatform(apiURL, email, password string) error {
	if apiURL == "" {
		return nil
	}
	if err := CheckAPIURL(apiURL); err != nil {
		return fmt.Errorf("%s: %w", APIURL, err)
	}
	var missing []string
	if email == "" {
		missing = append(missing, Email)
	}
	if password == "" {
		missing = append(missing, Password)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not set: the platform at %s needs credentials", strings.Join(missing, " and "), APIURL)
	}
	return nil
}

// DescribeDB names the database without the secrets a URL may hold: only
// the host and the database name of a postgres:// URL.
func DescribeDB(dsn string) string {
	const hidden = "PostgreSQL (" + Database + " not shown)"
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return hidden // a key=value string: any part may be the password
	}
	u, err := url.Parse(dsn)
	// An unescaped '@' or '/' in a password can shift part of it into the
	// host or the path: show neither then.
	if err != nil || u.Host == "" || strings.Contains(u.Host+u.Path, "@") || strings.Count(u.Path, "/") > 1 {
		return hidden
	}
	return "PostgreSQL at " + u.Host + u.Path
}

// Secrets are the values no output may show: the platform's password and
// the database URL's.
func Secrets(password, dbURL string) []string {
	secrets := []string{password}
	if u, err := url.Parse(dbURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		}
	}
	return secrets
}

// Redact replaces every non-empty secret in s with [REDACTED].
func Redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}
