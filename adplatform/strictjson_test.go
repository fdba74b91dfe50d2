package adplatform

import (
	"strings"
	"testing"
)

// parseStrict accepts RFC 8259 JSON with exact text, and no more.
func TestParseStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		path string // "-": accepted
		msg  string
	}{
		{` {"a" : [1, -0.5e+3, true, false, null, "x\u00e9\ud83d\ude00", {}, []] } `, "-", ""},
		{`"\ud800"`, "", "lone surrogate"},
		{`{"a":{"b":["\udfff"]}}`, "a.b[0]", "lone surrogate \\udfff"},
		{`{"a b":{"c.d":"` + "\xff" + `"}}`, `"a b"."c.d"`, "invalid UTF-8"},
		{`{"кампания":"` + "\x00" + `"}`, "кампания", "raw control character"},
		{`{"a":1,}`, "", "want a key"},
		{`[1,]`, "[1]", "where a value should start"},
		{`{"a":1 "b":2}`, "a", "want ',' or '}'"},
		{`{"a":1}{}`, "", "after the value"},
		{`-`, "", "invalid number"},
		{`1.5e`, "", "invalid number"},
		{`nul`, "", "invalid literal"},
		{`"abc`, "", "unexpected end in a string"},
		{`"\`, "", "unexpected end in an escape"},
		{`{"a":`, "a", "unexpected end"},
		{``, "", "unexpected end"},
	} {
		_, _, err := parseStrict([]byte(tc.in))
		switch {
		case tc.path == "-" && err != nil:
			t.Errorf("%s: %v; want it accepted", tc.in, err)
		case tc.path == "-":
		case err == nil:
			t.Errorf("%s: accepted; want an error at %q", tc.in, tc.path)
		case err.Path != tc.path || !strings.Contains(err.Msg, tc.msg):
			t.Errorf("%s: error %q at %q; want %q at %q", tc.in, err.Msg, err.Path, tc.msg, tc.path)
		}
	}
}
