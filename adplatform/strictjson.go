package adplatform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Records arrive exactly or are reported. encoding/json repairs what a Go
// string cannot say faithfully: invalid UTF-8 and a \u escape of a lone
// surrogate (\ud800) both become U+FFFD, and nothing reports it. A
// campaign decoded that way would be stored changed, and nobody told. So
// a record is parsed here first, strictly: RFC 8259 JSON whose strings
// are valid UTF-8 and whose escaped surrogates come in pairs. What fails
// is reported with the path of the field and the byte where it fails;
// what passes is text that encoding/json decodes without changing it.

// maxNesting bounds how deep a record may nest: encoding/json's own
// limit, and a bound on the parser's recursion.
const maxNesting = 10_000

// member is one member of a JSON object: its key (a string literal,
// quotes included) and its value, both as raw JSON.
type member struct{ key, value []byte }

// members are an object's members, in order.
type members []member

// get returns the value of the member whose key is name. Of several, the
// last wins, as when encoding/json decodes into a map.
func (ms members) get(name string) ([]byte, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if keyEquals(ms[i].key, name) {
			return ms[i].value, true
		}
	}
	return nil, false
}

// keyEquals reports whether the validated key literal k decodes to name.
func keyEquals(k []byte, name string) bool {
	inner := k[1 : len(k)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	return unquote(k) == name
}

// unquote returns the text of a string literal that parseStrict
// accepted: encoding/json decodes it without replacing anything.
func unquote(lit []byte) string {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // cannot fail on a validated literal
	return s
}

// jsonError is where and why strict parsing failed.
type jsonError struct {
	Path string // the field: "name", "meta.tags[2]", or "" for the value itself
	Off  int    // the byte of the value where it fails
	Msg  string
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Off) }

// parseStrict parses b, one JSON value with optional white space around
// it. When the value is an object it returns its members, isObject true;
// on an error, the members before the failing one (so that a broken
// record can still be named by its id).
func parseStrict(b []byte) (ms members, isObject bool, err *jsonError) {
	p := strictParser{b: b}
	p.space()
	if p.i < len(b) && b[p.i] == '{' {
		isObject = true
		ms, err = p.object(true)
	} else {
		err = p.value()
	}
	if err == nil {
		if p.space(); p.i < len(b) {
			err = p.fail("unexpected %s after the value", describeByte(b[p.i]))
		}
	}
	return ms, isObject, err
}

type strictParser struct {
	b     []byte
	i     int
	depth int
	path  []pathStep // where the parser is, to name the field of an error
}

// pathStep is an object member (key, a literal) or an array element
// (index). broken marks a key literal that failed to parse.
type pathStep struct {
	key    []byte
	index  int
	broken bool
}

func (p *strictParser) fail(format string, args ...any) *jsonError {
	return &jsonError{Path: renderPath(p.path), Off: p.i, Msg: fmt.Sprintf(format, args...)}
}

func (p *strictParser) space() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *strictParser) value() *jsonError {
	if p.i >= len(p.b) {
		return p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		_, err := p.object(false)
		return err
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.fail("unexpected %s where a value should start", describeByte(c))
	}
}

func (p *strictParser) enter() *jsonError {
	if p.depth++; p.depth > maxNesting {
		return p.fail("nested deeper than %d", maxNesting)
	}
	p.i++
	p.space()
	return nil
}

// object parses an object, returning its members if collect.
func (p *strictParser) object(collect bool) (members, *jsonError) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	var ms members
	if collect {
		ms = make(members, 0, 8) // a campaign's fields
	}
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return ms, nil
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return ms, p.unexpected("a key")
		}
		start := p.i
		if err := p.str(); err != nil {
			err.Path = renderPath(append(p.path, pathStep{key: keyExcerpt(p.b[start:]), broken: true}))
			return ms, err
		}
		key := p.b[start:p.i]
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return ms, p.unexpected("':'")
		}
		p.i++
		p.space()
		p.path = append(p.path, pathStep{key: key})
		vstart := p.i
		if err := p.value(); err != nil {
			return ms, err
		}
		if collect {
			ms = append(ms, member{key: key, value: p.b[vstart:p.i]})
		}
		p.space()
		if p.i >= len(p.b) || (p.b[p.i] != ',' && p.b[p.i] != '}') {
			return ms, p.unexpected("',' or '}'") // still naming the member it follows
		}
		p.path = p.path[:len(p.path)-1]
		if p.b[p.i] == '}' {
			p.i++
			p.depth--
			return ms, nil
		}
		p.i++
		p.space()
	}
}

func (p *strictParser) array() *jsonError {
	if err := p.enter(); err != nil {
		return err
	}
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return nil
	}
	for n := 0; ; n++ {
		p.path = append(p.path, pathStep{index: n})
		if err := p.value(); err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.b) || (p.b[p.i] != ',' && p.b[p.i] != ']') {
			return p.unexpected("',' or ']'")
		}
		p.path = p.path[:len(p.path)-1]
		if p.b[p.i] == ']' {
			p.i++
			p.depth--
			return nil
		}
		p.i++
		p.space()
	}
}

func (p *strictParser) unexpected(want string) *jsonError {
	if p.i >= len(p.b) {
		return p.fail("unexpected end, want %s", want)
	}
	return p.fail("unexpected %s, want %s", describeByte(p.b[p.i]), want)
}

// str parses a string literal: printable characters as valid UTF-8,
// escapes as JSON defines them, and surrogates only in pairs.
func (p *strictParser) str() *jsonError {
	b := p.b
	p.i++
	for p.i < len(b) {
		c := b[p.i]
		switch {
		case c == '"':
			p.i++
			return nil
		case c == '\\':
			if err := p.escape(); err != nil {
				return err
			}
		case c < 0x20:
			return p.fail("raw control character 0x%02x in a string", c)
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return p.fail("invalid UTF-8 (byte 0x%02x)", c)
			}
			p.i += size
		}
	}
	return p.fail("unexpected end in a string")
}

func (p *strictParser) escape() *jsonError {
	b := p.b
	if p.i+1 >= len(b) {
		p.i++
		return p.fail("unexpected end in an escape")
	}
	switch b[p.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i += 2
		return nil
	case 'u':
	default:
		p.i++
		return p.fail("invalid escape \\%s", describeByte(b[p.i]))
	}
	r, ok := hex4(b[p.i+2:])
	if !ok {
		return p.fail("invalid \\u escape")
	}
	switch {
	case r >= 0xd800 && r < 0xdc00: // high: a low one must follow
		if lo, ok := hex4(b[min(p.i+8, len(b)):]); ok && b[p.i+6] == '\\' && b[p.i+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
			p.i += 12
			return nil
		}
		return p.fail("lone surrogate \\u%04x", r)
	case r >= 0xdc00 && r < 0xe000:
		return p.fail("lone surrogate \\u%04x", r)
	}
	p.i += 6
	return nil
}

// hex4 reads the 4 hex digits of a \u escape at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case isDigit(c):
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number parses a number in JSON's grammar, and fails on what would make
// one of a longer token (01, 1.5.2, 2x, NaN is not even started).
func (p *strictParser) number() *jsonError {
	b, start := p.b, p.i
	end := start
	for end < len(b) && (isDigit(b[end]) || b[end] == '-' || b[end] == '+' || b[end] == '.' ||
		b[end] == 'e' || b[end] == 'E' || b[end] == '_' || 'a' <= b[end]|0x20 && b[end]|0x20 <= 'z') {
		end++
	}
	if !isJSONNumber(b[start:end]) {
		return p.fail("invalid number %s", excerpt(b[start:end], 40))
	}
	p.i = end
	return nil
}

func (p *strictParser) literal(word string) *jsonError {
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return p.fail("invalid literal, want %s", word)
	}
	p.i += len(word)
	return nil
}

// describeByte names a byte in an error message without echoing data:
// a printable ASCII character, else its value.
func describeByte(c byte) string {
	if c > ' ' && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// maxPathBytes bounds a field path in an error message.
const maxPathBytes = 120

// renderPath writes a path as "meta.tags[2]": keys as they are when they
// read plainly, quoted (Go syntax) when they hold anything else.
func renderPath(path []pathStep) string {
	var sb strings.Builder
	for _, s := range path {
		if sb.Len() > maxPathBytes {
			return sb.String()[:maxPathBytes] + "…"
		}
		if s.key == nil {
			fmt.Fprintf(&sb, "[%d]", s.index)
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(keyName(s))
	}
	if sb.Len() > maxPathBytes {
		return sb.String()[:maxPathBytes] + "…"
	}
	return sb.String()
}

// keyName renders a step's key for a path. A key that failed to parse is
// quoted as raw bytes (an invalid byte shows as \xff).
func keyName(s pathStep) string {
	if s.broken {
		return strconv.Quote(strings.TrimSuffix(string(s.key[1:]), `"`))
	}
	k := unquote(s.key)
	plain := k != ""
	for _, r := range k {
		if r < '!' || r == '.' || r == '[' || r == ']' || r == '"' || r == '\\' || r == 0x7f || !strconv.IsPrint(r) {
			plain = false
			break
		}
	}
	if plain {
		return k
	}
	return strconv.Quote(k)
}

// keyExcerpt is a key that failed to parse, as far as it seems to go: up
// to its closing quote, and at most 64 bytes.
func keyExcerpt(b []byte) []byte {
	end := 1
	for end < len(b) && end < 64 && b[end] != '"' {
		if b[end] == '\\' {
			end++
		}
		end++
	}
	return b[:min(end+1, len(b))]
}
