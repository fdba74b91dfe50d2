package adplatform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A listing is {"data": [records...], "pagination": {...}}. encoding/json
// decodes a page all or nothing: one raw control byte in one name, and
// the page fails, and so does every later listing of the account. So
// scanPage follows the page's structure itself and cuts data into each
// record's bytes, and each record is decoded strictly on its own
// (decodeCampaign): a broken record is reported with its bytes, and its
// neighbours arrive.
//
// The scan is tolerant only where a broken record can hide:
//   - A string runs to the next unescaped quote that is followed, after
//     white space, by what may follow a string in JSON (':', ',', ']', '}'
//     or the end). A raw control byte, invalid UTF-8, or an unescaped
//     quote ("a 5" screen") stays inside it.
//   - A closer closes the innermost opener of its kind within the value,
//     and any left open inside that; a closer that matches none is stray,
//     and part of the value.
//   - A value ends at a ',' or at its container's closer, outside any
//     string or bracket of its own. An empty element ([a,,b], [a,]) holds
//     nothing and is skipped.
//
// Everything else is exact: the page is one object whose keys are strings
// followed by ':' and a value, separated by ','; only white space follows
// it; pagination is valid JSON. A page that breaks these (cut
// short, garbage, an HTML error page) cannot be followed: it is a
// *DecodeError wrapping ErrMalformedResponse. A page that can be followed
// but breaks the contract (no data, data not an array, pagination not an
// object) is a *DecodeError naming the field.
//
// On a page that encoding/json accepts, the scan finds what encoding/json
// would: keys match case-insensitively, the last "data" wins (null being
// an empty page), and several "pagination" objects merge.

// span is a value's place in the body: b[start:end].
type span struct{ start, end int }

// listing is what scanPage finds in a page.
type listing struct {
	records    []span // data's elements, in order
	pagination pageFields
}

// pageFields are the raw values of pagination's fields; nil when absent.
type pageFields struct {
	Page    json.RawMessage `json:"page"`
	Limit   json.RawMessage `json:"limit"`
	Total   json.RawMessage `json:"total"`
	HasMore json.RawMessage `json:"has_more"`
}

// scanPage finds a page's records and pagination, as described above.
func scanPage(b []byte) (listing, error) {
	s := pageScanner{b: b}
	if err := s.object(); err != nil {
		return listing{}, err
	}
	switch {
	case s.breach != nil:
		return listing{}, s.breach
	case !s.hasData:
		return listing{}, &DecodeError{Endpoint: EndpointList, Field: "data", Err: errors.New("missing")}
	}
	return s.l, nil
}

type pageScanner struct {
	b       []byte
	l       listing
	hasData bool
	// breach is the first breach of the contract found. It is reported
	// once the whole page has been followed: a page that cannot be is
	// malformed, which says more (another attempt may bring it whole).
	breach *DecodeError
	stack  []byte // the brackets open in the value being skipped
}

// object scans the page's object and what follows it.
func (s *pageScanner) object() error {
	b := s.b
	i := s.space(0)
	if i == len(b) || b[i] != '{' {
		return s.notAnObject()
	}
	i = s.space(i + 1)
	if i < len(b) && b[i] == '}' {
		return s.end(i + 1)
	}
	for {
		if i == len(b) || b[i] != '"' {
			return s.unexpected(i, "a key")
		}
		keyEnd := s.str(i)
		if keyEnd < 0 {
			return s.cut()
		}
		key := b[i:keyEnd]
		if i = s.space(keyEnd); i == len(b) || b[i] != ':' {
			return s.unexpected(i, "':'")
		}
		if i = s.space(i + 1); i == len(b) || b[i] == ',' || b[i] == '}' {
			return s.unexpected(i, "a value")
		}
		var err error
		switch {
		case keyFolds(key, "data"):
			i, err = s.data(i)
		case keyFolds(key, "pagination"):
			i, err = s.pagination(i)
		default:
			i, err = s.skip(i, '}')
		}
		if err != nil {
			return err
		}
		switch i = s.space(i); {
		case i == len(b):
			return s.cut()
		case b[i] == ',':
			i = s.space(i + 1)
		case b[i] == '}':
			return s.end(i + 1)
		default:
			return s.unexpected(i, "',' or '}'")
		}
	}
}

// end checks that only white space follows the page's object.
func (s *pageScanner) end(i int) error {
	if i = s.space(i); i < len(s.b) {
		return malformedBody(EndpointList, "", fmt.Sprintf("%s at byte %d after the listing's end", describeByte(s.b[i]), i))
	}
	return nil
}

// notAnObject classifies a body that does not start with '{'.
func (s *pageScanner) notAnObject() error {
	switch {
	case !json.Valid(s.b):
		return s.unexpected(s.space(0), "'{'")
	case isNull(s.b):
		return nil // like an object without data
	default:
		return &DecodeError{Endpoint: EndpointList, Err: fmt.Errorf("want a JSON object, got %s", jsonKind(s.b))}
	}
}

// data scans data's value from i, a value's first byte, and returns
// where it ends.
func (s *pageScanner) data(i int) (int, error) {
	b := s.b
	s.hasData = true
	s.l.records = nil // the last data wins
	if b[i] != '[' {
		end, err := s.skip(i, '}')
		if err != nil {
			return 0, err
		}
		switch v := bytes.TrimRight(b[i:end], " \t\r\n"); {
		case isNull(v): // an empty page
		case !json.Valid(v):
			return 0, malformedBody(EndpointList, "data", fmt.Sprintf("not an array at byte %d", i))
		default:
			s.breached("data", fmt.Errorf("want an array, got %s", jsonKind(v)))
		}
		return end, nil
	}
	for i++; ; {
		if i = s.space(i); i == len(b) {
			return 0, s.cut()
		}
		switch b[i] {
		case ']':
			return i + 1, nil
		case ',':
			i++
			continue
		}
		end, err := s.skip(i, ']')
		if err != nil {
			return 0, err
		}
		s.l.records = append(s.l.records, span{i, len(bytes.TrimRight(b[:end], " \t\r\n"))})
		if i = end; b[i] == ',' {
			i++
		}
	}
}

// pagination scans pagination's value from i and merges its fields.
func (s *pageScanner) pagination(i int) (int, error) {
	end, err := s.skip(i, '}')
	if err != nil {
		return 0, err
	}
	switch v := s.b[i:end]; {
	case !json.Valid(v):
		// The page's own fields are broken: so is the page.
		return 0, malformedBody(EndpointList, "pagination", syntaxDetail(json.Unmarshal(v, new(any)), len(v)))
	case isNull(v):
		s.l.pagination = pageFields{}
	case json.Unmarshal(v, &s.l.pagination) != nil: // merging, as encoding/json does
		s.breached("pagination", fmt.Errorf("want an object, got %s", jsonKind(v)))
	}
	return end, nil
}

func (s *pageScanner) breached(field string, err error) {
	if s.breach == nil {
		s.breach = &DecodeError{Endpoint: EndpointList, Field: field, Err: err}
	}
}

// skip finds the end of the value starting at i: the index of the ','
// or closer that ends it, outside any string or bracket of its own.
func (s *pageScanner) skip(i int, closer byte) (int, error) {
	b := s.b
	stack := s.stack[:0]
	var open [2]int // brackets ([0]) and braces ([1]) on the stack
	defer func() { s.stack = stack[:0] }()
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := s.str(i)
			if end < 0 {
				return 0, s.cut()
			}
			i = end - 1
		case '[', '{':
			stack = append(stack, c)
			open[c>>5&1]++
		case ']', '}':
			kind := c >> 5 & 1 // '[' and ']' differ from '{' and '}' in bit 5
			if open[kind] == 0 {
				if len(stack) == 0 && c == closer {
					return i, nil
				}
				continue // stray: part of the broken value
			}
			for {
				top := stack[len(stack)-1] >> 5 & 1
				stack = stack[:len(stack)-1]
				open[top]--
				if top == kind {
					break
				}
			}
		case ',':
			if len(stack) == 0 {
				return i, nil
			}
		}
	}
	return 0, s.cut()
}

// str returns the end of the string starting at i (after its closing
// quote), or -1 if the body ends first.
func (s *pageScanner) str(i int) int {
	b := s.b
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte, whatever it is
		case '"':
			if j := s.space(i + 1); j == len(b) || strings.IndexByte(":,]}", b[j]) >= 0 {
				return i + 1
			}
		}
	}
	return -1
}

func (s *pageScanner) space(i int) int {
	for i < len(s.b) && isSpace(s.b[i]) {
		i++
	}
	return i
}

func (s *pageScanner) cut() error {
	return malformedBody(EndpointList, "", fmt.Sprintf("the listing ends before its structure does, at byte %d", len(s.b)))
}

func (s *pageScanner) unexpected(i int, want string) error {
	if i == len(s.b) {
		return s.cut()
	}
	return malformedBody(EndpointList, "", fmt.Sprintf("unexpected %s at byte %d, want %s", describeByte(s.b[i]), i, want))
}

// keyFolds reports whether a key literal, as the tolerant scan found it,
// matches name as encoding/json matches a struct field: ignoring case.
func keyFolds(lit []byte, name string) bool {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return strings.EqualFold(string(inner), name)
	}
	var k string
	if json.Unmarshal(lit, &k) != nil {
		return false // not a key encoding/json would read either
	}
	return strings.EqualFold(k, name)
}
