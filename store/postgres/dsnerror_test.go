package postgres

import (
	"context"
	"strings"
	"testing"
)

// A connection string lib/pq refuses: Open says why, in lib/pq's words,
// without the string or any piece of it that may be the password.
func TestOpenSaysWhyTheConnectionStringIsNotValid(t *testing.T) {
	t.Parallel()
	const secret = "s3/cr3t"
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:" + secret + "@host:badport/db", "the connection string is not valid: invalid port … after host"},
		{"postgres://u:" + secret + "@host/db", "the connection string is not valid: invalid port … after host"}, // the '/' splits the password
		{"postgres://u:s3%zz@host/db", "the connection string is not valid: invalid URL escape …"},
		{"postgres://u:s3cr3t@host/db?sslmode=bogus", `not valid: wrong value for "sslmode": … is not supported; supported values are disable,`},
		{"postgres://u:x@host/db?connect_timeout=" + secret, `not valid: wrong value for "connect_timeout": strconv.ParseInt: parsing …: invalid syntax`},
		{"host=x password='" + secret, "not valid: unterminated quoted string literal in connection string"},
		{"host=x password" + secret, `not valid: missing "=" after … in connection info string`},
		{"ftp:" + secret, `(want a postgres:// URL or key=value pairs)`},
	} {
		_, err := Open(context.Background(), tc.dsn, Options{})
		if err == nil {
			t.Errorf("Open(%q) = nil error", tc.dsn)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "s3") || strings.Contains(msg, "cr3t") {
			t.Errorf("Open(%q) = %q, want it to hold %q and no piece of the password", tc.dsn, msg, tc.want)
		}
	}
}
