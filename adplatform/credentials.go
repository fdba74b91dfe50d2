package adplatform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Credentials are the account's email and password, exchanged for a bearer
// token. No way of showing them shows the password: fmt (every verb,
// %#v included), slog (LogValue), encoding/json (MarshalJSON), gob
// (GobEncode) and the encoders that use encoding.TextMarshaler
// (encoding/xml, YAML and TOML libraries) all write "[REDACTED]" in its
// place. One way remains, which no method can close: fmt prints a
// Credentials value reached through an unexported field of your own
// struct field by field, password included. Keep it in an exported field,
// or hold a [CredentialsProvider] instead.
//
// Credentials can be read from JSON, {"email": ..., "password": ...}, as
// a secrets manager may hold them; JSON holding the redacted placeholder
// as the password, which is what marshalling Credentials writes, is
// refused, so that a marshalled copy cannot pass for the real thing.
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

// credentialsJSON is the JSON form of Credentials.
type credentialsJSON struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// MarshalJSON writes the email and a redacted password:
// {"email":"ops@example.com","password":"[REDACTED]"}.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(credentialsJSON{Email: c.Email, Password: redactedIfSet(c.Password)})
}

// ErrRedactedCredentials is returned by [Credentials.UnmarshalJSON] for
// JSON whose password is the redacted placeholder: a marshalled copy of
// Credentials, not the credentials.
var ErrRedactedCredentials = errors.New("adplatform: credentials: the password is the redacted placeholder, not a password")

// UnmarshalJSON reads {"email": ..., "password": ...} (keys matched
// case-insensitively, as encoding/json does). A password of "[REDACTED]"
// is [ErrRedactedCredentials].
func (c *Credentials) UnmarshalJSON(b []byte) error {
	var w credentialsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("adplatform: credentials: %w", err)
	}
	if w.Password == redacted {
		return ErrRedactedCredentials
	}
	*c = Credentials(w)
	return nil
}

// MarshalText is String, for the encoders that use encoding.TextMarshaler.
func (c Credentials) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// GobEncode is MarshalJSON, for encoding/gob (which ignores MarshalText).
// There is no GobDecode: gob cannot carry the password either way.
func (c Credentials) GobEncode() ([]byte, error) { return c.MarshalJSON() }

func redactedIfSet(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// StaticCredentials returns a provider that always supplies the same
// credentials. Printing, logging or marshalling the provider redacts the
// password.
func StaticCredentials(email, password string) CredentialsProvider {
	creds := Credentials{Email: email, Password: password}
	return staticCredentials{func() Credentials { return creds }}
}

// staticCredentials keeps the credentials in a closure: fmt shows a func
// as an address, so a provider reached through an unexported field, where
// fmt calls no String method, shows no password either.
type staticCredentials struct{ get func() Credentials }

func (s staticCredentials) Credentials(context.Context) (Credentials, error) { return s.get(), nil }

func (s staticCredentials) String() string                { return s.get().String() }
func (s staticCredentials) GoString() string              { return s.get().GoString() }
func (s staticCredentials) Format(f fmt.State, verb rune) { s.get().Format(f, verb) }
func (s staticCredentials) LogValue() slog.Value          { return s.get().LogValue() }
func (s staticCredentials) MarshalJSON() ([]byte, error)  { return s.get().MarshalJSON() }
