package adplatform

import (
	"context"
	"fmt"
	"log/slog"
)

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

// String returns the email with the password redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("{Email:%s Password:%s}", c.Email, redactedIfSet(c.Password))
}

// GoString returns the email with the password redacted, so %#v does not
// leak it either.
func (c Credentials) GoString() string {
	return fmt.Sprintf("adplatform.Credentials{Email:%q, Password:%q}", c.Email, redactedIfSet(c.Password))
}

// Format makes every verb (%v, %+v, %s, %q, %x, ...) print the redacted
// form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue logs the email and a redacted password.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", c.Email), slog.String("password", redactedIfSet(c.Password)))
}

func redactedIfSet(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// StaticCredentials returns a provider that always supplies the same
// credentials. Printing or logging the provider redacts the password.
func StaticCredentials(email, password string) CredentialsProvider {
	return staticCredentials{Credentials{Email: email, Password: password}}
}

type staticCredentials struct{ creds Credentials }

func (s staticCredentials) Credentials(context.Context) (Credentials, error) { return s.creds, nil }

func (s staticCredentials) String() string                { return s.creds.String() }
func (s staticCredentials) GoString() string              { return s.creds.GoString() }
func (s staticCredentials) Format(f fmt.State, verb rune) { s.creds.Format(f, verb) }
func (s staticCredentials) LogValue() slog.Value          { return s.creds.LogValue() }
