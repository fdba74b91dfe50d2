package postgres

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// quoted matches a double-quoted fragment of an error text.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// paramName is what a connection parameter's name looks like.
var paramName = regexp.MustCompile(`^[a-z_]+$`)

// dsnError explains why lib/pq refused the connection string dsn, without
// any part of it that may be a secret. lib/pq's parse errors quote the
// string, or pieces of it (the whole URL; an "invalid port" that is really
// the half of a password holding a '/'): the URL is dropped, and each
// quoted piece is elided unless it is a parameter's name as dsn spells it
// ("sslmode") or a single punctuation mark ("="). What remains still says
// why: "invalid port … after host", "wrong value for "sslmode": … is not
// supported; supported values are …".
func dsnError(dsn string, err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // its text quotes the whole URL
	}
	reason := quoted.ReplaceAllStringFunc(err.Error(), func(q string) string {
		inner := q[1 : len(q)-1]
		switch {
		case len(inner) == 1 && !isAlnum(inner[0]):
			return q
		case paramName.MatchString(inner) && (strings.Contains(dsn, inner+"=") || strings.Contains(dsn, inner+" =")):
			return q
		}
		return "…"
	})
	reason = strings.TrimPrefix(reason, "pq: ")
	hint := ""
	if !strings.Contains(dsn, "://") && !strings.Contains(dsn, "=") {
		hint = " (want a postgres:// URL or key=value pairs)"
	}
	return errors.New("postgres: Open: the connection string is not valid: " + reason + hint +
		" (the string is not shown: it may hold a password)")
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
