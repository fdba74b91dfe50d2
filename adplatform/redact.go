package adplatform

import (
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text the platform sends back (error codes and messages, sync messages)
// reaches errors and logs only through sanitize: a hostile or buggy
// platform may echo the Authorization header, and a stack trace may carry
// anything.

// redacted stands in for a secret wherever one would be shown.
const redacted = "[REDACTED]"

const (
	// maxSanitizeInput bounds the work on one text: far more than is
	// kept, so that no secret can straddle the cut and the kept part.
	maxSanitizeInput = 16 << 10
	maxMessageRunes  = 200 // APIError.Message
	maxCodeRunes     = 100 // APIError.Code, AuthError.Reason
)

// secrets is what sanitize removes: the password, the Basic credential,
// the tokens. Variants cover the forms an echo might take (raw,
// JSON-escaped, URL-escaped).
type secrets []string

func newSecrets(values ...string) secrets {
	var s secrets
	for _, v := range values {
		if len(v) < 4 { // too short to replace without mangling text; never a real secret
			continue
		}
		s = append(s, v)
		if b, err := json.Marshal(v); err == nil {
			s = append(s, string(b[1:len(b)-1]))
		}
		s = append(s, url.QueryEscape(v), url.PathEscape(v))
	}
	return s
}

func (k secrets) replace(s string) string {
	for _, v := range k {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// sanitize makes platform text safe for an error or a log line: secrets
// and anything after "Bearer " or "Basic " replaced by [REDACTED], the
// password of any URL too, control and bidi-override characters removed,
// invalid UTF-8 replaced, and at most maxRunes runes kept.
func sanitize(s string, known secrets, maxRunes int) string {
	if len(s) > maxSanitizeInput {
		s = s[:maxSanitizeInput]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Controls go first, so that a secret split by them cannot survive
	// redaction and be joined afterwards.
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r), isBidiControl(r):
			return -1
		}
		return r
	}, s)
	// Before and after collapsing whitespace: a secret may hold a run of
	// spaces, and collapsing may be what makes an echo match.
	s = known.replace(s)
	s = known.replace(strings.Join(strings.Fields(s), " "))
	s = redactAfter(s, "bearer ")
	s = redactAfter(s, "basic ")
	s = redactURLPasswords(s)
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return s
}

// redactAfter replaces the word after each case-insensitive occurrence of
// prefix ("Bearer ", "Basic "): the credential of an echoed header, even
// one this client does not know (another client's, an old one).
func redactAfter(s, prefix string) string {
	var b strings.Builder
	for len(s) > 0 {
		if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			b.WriteString(s[:len(prefix)])
			s = s[len(prefix):]
			end := 0
			for end < len(s) && !isWordEnd(s[end]) {
				end++
			}
			// Only a word long enough to be a credential: "basic plan"
			// stays readable.
			if end >= minCredentialLen && s[:end] != redacted {
				b.WriteString(redacted)
			} else {
				b.WriteString(s[:end])
			}
			s = s[end:]
			continue
		}
		_, size := utf8.DecodeRuneInString(s)
		b.WriteString(s[:size])
		s = s[size:]
	}
	return b.String()
}

// minCredentialLen is the shortest word after "Bearer " or "Basic " taken
// for a credential.
const minCredentialLen = 8

func isWordEnd(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == '\n' || c == '\r' || c == '\t' || c == '\\' || c == '<' || c == '}'
}

// redactURLPasswords replaces the password in "scheme://user:password@".
func redactURLPasswords(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/ \"'\n")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		at := strings.LastIndexByte(authority, '@')
		colon := strings.IndexByte(authority, ':')
		b.WriteString(s[:i+3])
		if at > 0 && colon >= 0 && colon < at {
			b.WriteString(authority[:colon+1])
			b.WriteString(redacted)
			b.WriteString(authority[at:])
		} else {
			b.WriteString(authority)
		}
		s = rest[end:]
	}
}

// isBidiControl reports the characters that reorder text on screen, which
// make a log line say something other than what it holds.
func isBidiControl(r rune) bool {
	return r == 0x200e || r == 0x200f || r == 0x061c ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
