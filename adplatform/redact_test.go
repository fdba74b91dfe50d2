package adplatform

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	const (
		password = `p@ss "w0rd"/secret`
		token    = "tok_4f9a8b7c6d5e"
		basic    = "YWRtaW46cEBzcyAidzByZCIvc2VjcmV0"
	)
	known := newSecrets(password, basic, token)
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "Campaign not found", 200, "Campaign not found"},
		{"token echoed", "bad token " + token + " given", 200, "bad token [REDACTED] given"},
		{"bearer header echoed", "authorization: Bearer " + token, 200, "authorization: Bearer [REDACTED]"},
		{"unknown bearer value", "got BEARER abc.def.ghi, expected", 200, "got BEARER [REDACTED], expected"},
		{"basic header echoed", `"Authorization":"Basic ` + basic + `"`, 200, `"Authorization":"Basic [REDACTED]"`},
		{"password raw", "password was " + password, 200, "password was [REDACTED]"},
		{"password JSON-escaped", `{"pw":"p@ss \"w0rd\"/secret"}`, 200, `{"pw":"[REDACTED]"}`},
		{"password URL-escaped", "q=p%40ss+%22w0rd%22%2Fsecret&x=1", 200, "q=[REDACTED]&x=1"},
		{"secret split by controls", "tok_4f9a\x00\x1b8b7c6d5e", 200, "[REDACTED]"},
		{"a word, not a credential", "upgrade to the Basic plan", 200, "upgrade to the Basic plan"},
		{"spaced bearer", "Bearer \t\n  " + "zzz-other-token", 200, "Bearer [REDACTED]"},
		{"url password", "dsn postgres://app:hunter2@db:5432/x", 200, "dsn postgres://app:[REDACTED]@db:5432/x"},
		{"controls and bidi removed", "a\x00b\x1b[31mc\u202ed\u2066e\r\nf", 200, "ab[31mcde f"},
		{"invalid UTF-8", "a\xffb", 200, "a\uFFFDb"},
		{"cut", strings.Repeat("é", 300), 200, strings.Repeat("é", 200) + "…"},
	} {
		got := sanitize(tc.in, known, tc.max)
		if got != tc.want {
			t.Errorf("%s: sanitize(%q) = %q; want %q", tc.name, tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%s: result is not valid UTF-8", tc.name)
		}
	}
}

// A secret anywhere in a huge body never survives into the excerpt.
func TestSanitizeHugeBody(t *testing.T) {
	t.Parallel()
	const token = "tok_4f9a8b7c6d5e"
	body := strings.Repeat("x", 100) + token + strings.Repeat("y", 1<<20) + token
	got := sanitize(body, newSecrets(token), maxMessageRunes)
	if strings.Contains(got, "tok_") || utf8.RuneCountInString(got) > maxMessageRunes+1 {
		t.Fatalf("sanitize kept %q", got)
	}
}
