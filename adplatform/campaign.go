package adplatform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Campaign is one campaign as the platform lists it.
//
// Records arrive exactly or are reported. Values are exact: ids and text
// are whatever Unicode the platform sent, counts are int64 (values above
// 2^53 survive), and Budget is the decimal the platform sent, never passed
// through a float. Text is never repaired: a record holding invalid UTF-8
// (an overlong \xc0\xaf, a stray \xff, anywhere, keys and fields adsync
// ignores included) or an escape of a lone surrogate (\ud800, \udc00, a
// high surrogate not followed by a low one) is not decoded, where
// encoding/json alone would put U+FFFD in its place: it is a [*DecodeError]
// naming the field, and in a listing a [*RecordError] holding the raw
// bytes, which the syncer keeps as a dead letter. Valid surrogate pairs (\ud83d\ude00), U+FFFD sent as such and
// every other valid character pass unchanged. NUL sent as the escape
// \u0000 is valid JSON and is kept: a store that cannot hold it
// (PostgreSQL text cannot) rejects the campaign, which becomes a dead
// letter there. A raw control byte (NUL included) inside a string is not
// JSON at all: the record is reported, and the rest of its page arrives.
type Campaign struct {
	// ID is the platform's opaque campaign id. It is never empty, and
	// nothing guarantees it is URL-safe.
	ID     string
	Name   string
	Status string
	// Budget is an exact decimal in plain notation: an optional minus
	// sign, integer digits without leading zeros, and the fractional
	// digits the platform sent (trailing zeros kept), e.g. "1100" or
	// "-12.50". Exponents are expanded ("1.5e3" becomes "1500") and
	// negative zero is "0".
	Budget      string
	Impressions int64
	Clicks      int64
	Conversions int64
	// CreatedAt is zero when the platform sent no created_at (absent,
	// null or "").
	CreatedAt time.Time
}

// maxDecimalDigits bounds a budget's length: more digits than this is not
// a budget but an attack on memory.
const maxDecimalDigits = 1000

// UnmarshalJSON decodes a campaign record in the platform's wire format and
// validates it. id, name, status, budget, impressions, clicks and
// conversions are required; created_at is optional. Counts and the budget
// may be JSON numbers or strings holding one (some platforms quote int64s).
// A missing field or a value of the wrong type is a *[DecodeError] naming
// the field; unknown fields are ignored.
//
// The record must be exact JSON: a string holding invalid UTF-8 (anywhere,
// keys and unknown fields included) or a lone surrogate escape such as
// \ud800 is a *DecodeError naming the field and the byte, never text with
// U+FFFD in its place. See [Campaign] for what that means.
func (c *Campaign) UnmarshalJSON(data []byte) error {
	out, _, err := decodeCampaign(data)
	if err != nil {
		return err
	}
	*c = out
	return nil
}

// decodeCampaign decodes a record. It returns the record's top-level
// members too, those before the failure on an error, to name a broken
// record by its id.
func decodeCampaign(data []byte) (Campaign, members, error) {
	fields, isObject, jerr := parseStrict(data)
	switch {
	case jerr != nil:
		return Campaign{}, fields, &DecodeError{Field: jerr.Path, Err: jerr}
	case !isObject && !isNull(data):
		return Campaign{}, nil, &DecodeError{Err: errors.New("campaign is not a JSON object")}
	}
	var out Campaign
	var err error
	if out.ID, err = stringField(fields, "id"); err != nil {
		return Campaign{}, fields, err
	}
	if out.ID == "" {
		return Campaign{}, fields, &DecodeError{Field: "id", Err: errors.New("empty")}
	}
	if out.Name, err = stringField(fields, "name"); err != nil {
		return Campaign{}, fields, err
	}
	if out.Status, err = stringField(fields, "status"); err != nil {
		return Campaign{}, fields, err
	}
	lit, err := numberField(fields, "budget")
	if err != nil {
		return Campaign{}, fields, err
	}
	if out.Budget, err = canonicalDecimal(lit); err != nil {
		return Campaign{}, fields, &DecodeError{Field: "budget", Err: err}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"impressions", &out.Impressions}, {"clicks", &out.Clicks}, {"conversions", &out.Conversions}} {
		lit, err := numberField(fields, f.name)
		if err != nil {
			return Campaign{}, fields, err
		}
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return Campaign{}, fields, &DecodeError{Field: f.name, Err: fmt.Errorf("not an int64: %s", excerpt([]byte(lit), 40))}
		}
		*f.dst = n
	}
	if out.CreatedAt, err = timeField(fields, "created_at"); err != nil {
		return Campaign{}, fields, err
	}
	return out, fields, nil
}

// recordID is a bad record's id when it has a usable one: a string "id"
// among the members that parsed.
func recordID(fields members) string {
	raw, ok := fields.get("id")
	if !ok || raw[0] != '"' {
		return ""
	}
	return unquote(raw)
}

// wireCampaign is the platform's wire format, for encoding/json.
type wireCampaign struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Status      string      `json:"status"`
	Budget      json.Number `json:"budget"`
	Impressions int64       `json:"impressions"`
	Clicks      int64       `json:"clicks"`
	Conversions int64       `json:"conversions"`
	CreatedAt   *time.Time  `json:"created_at,omitempty"`
}

// MarshalJSON encodes c in the platform's wire format, the inverse of
// [Campaign.UnmarshalJSON]: the budget is written as a JSON number with the
// same digits, and created_at is omitted when zero.
func (c Campaign) MarshalJSON() ([]byte, error) {
	if _, err := canonicalDecimal(c.Budget); err != nil {
		return nil, fmt.Errorf("adplatform: campaign %q: budget: %w", c.ID, err)
	}
	wire := wireCampaign{c.ID, c.Name, c.Status, json.Number(c.Budget), c.Impressions, c.Clicks, c.Conversions, nil}
	if !c.CreatedAt.IsZero() {
		t := c.CreatedAt
		wire.CreatedAt = &t
	}
	return json.Marshal(wire)
}

func stringField(fields members, name string) (string, error) {
	raw, ok := fields.get(name)
	if !ok || isNull(raw) {
		return "", &DecodeError{Field: name, Err: errors.New("missing")}
	}
	if raw[0] != '"' {
		return "", &DecodeError{Field: name, Err: fmt.Errorf("want a string, got %s", jsonKind(raw))}
	}
	return unquote(raw), nil
}

// numberField returns the literal of a JSON number, or of a string that
// holds one.
func numberField(fields members, name string) (string, error) {
	raw, ok := fields.get(name)
	if !ok || isNull(raw) {
		return "", &DecodeError{Field: name, Err: errors.New("missing")}
	}
	if raw[0] == '"' {
		s := unquote(raw)
		if !isJSONNumber(s) {
			return "", &DecodeError{Field: name, Err: fmt.Errorf("want a number, got the string %q", excerpt([]byte(s), 40))}
		}
		return s, nil
	}
	if !isJSONNumber(raw) {
		return "", &DecodeError{Field: name, Err: fmt.Errorf("want a number, got %s", jsonKind(raw))}
	}
	return string(raw), nil
}

func timeField(fields members, name string) (time.Time, error) {
	raw, ok := fields.get(name)
	if !ok || isNull(raw) {
		return time.Time{}, nil
	}
	if raw[0] != '"' {
		return time.Time{}, &DecodeError{Field: name, Err: fmt.Errorf("want an RFC 3339 string, got %s", jsonKind(raw))}
	}
	s := unquote(raw)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &DecodeError{Field: name, Err: fmt.Errorf("not an RFC 3339 time: %q", excerpt([]byte(s), 40))}
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// jsonKind names the JSON type of raw, for error messages that must not
// echo arbitrary data.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "the number " + excerpt(raw, 40)
	}
}

// isJSONNumber reports whether s is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber[T string | []byte](s T) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		if i = skipDigits(s, i+1); !isDigit(s[i-1]) {
			return false // no digit after the point
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		if i = skipDigits(s, i); i == start {
			return false
		}
	}
	return i == len(s)
}

// skipDigits returns the index of the first non-digit of s at or after i.
func skipDigits[T string | []byte](s T, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// canonicalDecimal turns a JSON number literal into the plain decimal
// notation documented on [Campaign.Budget], exactly: the exponent only moves
// the decimal point.
func canonicalDecimal(lit string) (string, error) {
	if !isJSONNumber(lit) {
		return "", fmt.Errorf("not a decimal number: %q", excerpt([]byte(lit), 40))
	}
	neg := strings.HasPrefix(lit, "-")
	lit = strings.TrimPrefix(lit, "-")
	mant, exp := lit, 0
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		mant = lit[:i]
		e, err := strconv.Atoi(lit[i+1:])
		if err != nil || e > maxDecimalDigits || e < -maxDecimalDigits {
			return "", errors.New("exponent out of range")
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	// Move the decimal point exp places to the right (left if negative).
	digits := intPart + frac
	point := len(intPart) + exp
	switch {
	case point <= 0:
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	intPart, frac = strings.TrimLeft(digits[:point], "0"), digits[point:]
	if intPart == "" {
		intPart = "0"
	}
	if len(intPart)+len(frac) > maxDecimalDigits {
		return "", fmt.Errorf("more than %d digits", maxDecimalDigits)
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(intPart+frac, "0") != "" {
		out = "-" + out
	}
	return out, nil
}

// excerpt returns at most n bytes of b as a printable string, for error
// messages: enough to recognise a value, never a whole body.
func excerpt(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	cut := false
	if len(s) > n {
		s = s[:n]
		s = strings.ToValidUTF8(s, "")
		cut = true
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}
