package adplatform

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// listingOf is a page holding records, its pagination saying so.
func listingOf(records ...string) string {
	return `{"data":[` + strings.Join(records, ",") + `],"pagination":{"page":1,"limit":10,"total":` +
		strconv.Itoa(len(records)) + `,"has_more":false}}`
}

// One broken record, whatever broke it, is reported with its exact bytes,
// named by its id when that is readable, its field named; the records
// around it arrive; the page is not an error.
func TestDecodePageKeepsTheNeighboursOfABrokenRecord(t *testing.T) {
	t.Parallel()
	c2 := func(overrides ...string) string { return rec(append([]string{"id", `"c2"`}, overrides...)...) }
	for _, tc := range []struct {
		name   string
		broken string
		id     string // the id the RecordError carries
		field  string
		msg    string // in the error's message
	}{
		// Text that encoding/json would repair, silently.
		{"invalid UTF-8", c2("name", "\"a\xff\xfeb\""), "c2", "name", "invalid UTF-8 (byte 0xff)"},
		{"overlong encoding", c2("name", "\"\xc0\xaf\""), "c2", "name", "invalid UTF-8"},
		{"surrogate encoded in UTF-8", c2("status", "\"\xed\xa0\x80\""), "c2", "status", "invalid UTF-8"},
		{"UTF-8 cut short", c2("name", "\"ab\xe2\x82\""), "c2", "name", "invalid UTF-8"},
		{"invalid UTF-8 in a key", c2("na\xffme", `"x"`), "c2", `"na\xffme"`, "invalid UTF-8"},
		{"invalid UTF-8 deep in an unknown field", c2("meta", "{\"tags\":[\"ok\",\"\xff\"]}"), "c2", "meta.tags[1]", "invalid UTF-8"},
		{"lone high surrogate", c2("name", `"\ud800"`), "c2", "name", `lone surrogate \ud800`},
		{"lone low surrogate", c2("name", `"\udc00"`), "c2", "name", `lone surrogate \udc00`},
		{"high surrogate then a letter", c2("name", `"\ud800\u0041"`), "c2", "name", "lone surrogate"},
		{"high surrogate at the end", c2("name", `"abc\uDBFF"`), "c2", "name", "lone surrogate"},
		{"two high surrogates", c2("name", `"\ud83d\ud83d"`), "c2", "name", "lone surrogate"},
		{"high surrogate then an escaped backslash", c2("name", `"\ud800\\u0041"`), "c2", "name", "lone surrogate"},
		{"lone surrogate in a key", c2(`\ud800`, `1`), "c2", `"\\ud800"`, "lone surrogate"},
		{"lone surrogate in the id", rec("id", `"c\ud800"`), "", "id", "lone surrogate"},
		// Text that makes the page invalid JSON.
		{"raw NUL", c2("name", "\"a\x00b\""), "c2", "name", "raw control character 0x00"},
		{"raw newline", c2("status", "\"act\nive\""), "c2", "status", "raw control character 0x0a"},
		{"raw unit separator", c2("name", "\"\x1f\""), "c2", "name", "raw control character 0x1f"},
		{"invalid escape", c2("name", `"C:\x"`), "c2", "name", `invalid escape \'x'`},
		{"short unicode escape", c2("name", `"\u12"`), "c2", "name", `invalid \u escape`},
		{"unescaped quotes", c2("name", `"The "best" deal"`), "c2", "name", "unexpected 'b'"},
		{"one unescaped quote", c2("name", `"a 5" screen"`), "c2", "name", "unexpected 's'"},
		// Numbers.
		{"leading zero", c2("budget", `01`), "c2", "budget", "invalid number 01"},
		{"no digit after the point", c2("budget", `1.`), "c2", "budget", "invalid number"},
		{"no digit before the point", c2("budget", `.5`), "c2", "budget", "unexpected '.'"},
		{"plus sign", c2("clicks", `+1`), "c2", "clicks", "unexpected '+'"},
		{"NaN", c2("clicks", `NaN`), "c2", "clicks", "unexpected 'N'"},
		{"empty exponent", c2("clicks", `1e`), "c2", "clicks", "invalid number"},
		{"two points", c2("clicks", `1.2.3`), "c2", "clicks", "invalid number"},
		{"hexadecimal", c2("clicks", `0x10`), "c2", "clicks", "invalid number"},
		// Values cut short or malformed, whose extent brackets still give.
		{"missing value", c2("budget", ``) + `x`, "c2", "", "unexpected 'x'"},
		{"value cut short", `{"id":"c2","name":"x","budget":}`, "c2", "budget", "unexpected '}'"},
		{"bracket closed by a brace", c2("meta", `{"a":[1}`), "c2", "meta.a[0]", "unexpected '}'"},
		{"stray bracket", c2("x", `1]`), "c2", "x", "unexpected ']'"},
		{"stray brace", c2() + `}`, "c2", "", "unexpected '}' after the value"},
		{"unclosed object inside", c2("tags", `[1,{"a":2]`), "c2", "tags[1].a", "unexpected ']'"},
		{"literal cut short", c2("paused", `tru`), "c2", "paused", "invalid literal"},
		{"unquoted key", `{id:"c2"}`, "", "", "unexpected 'i', want a key"},
		{"trailing comma", `{"id":"c2",}`, "c2", "", "want a key"},
		{"bare word", `undefined`, "", "", "unexpected 'u'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := listingOf(rec("id", `"c1"`), tc.broken, rec("id", `"c3"`, "name", `"Été 🎉"`))
			p, err := decodePage([]byte(body), 2, nil)
			if err != nil {
				t.Fatalf("decodePage: %v; want the page, with one bad record", err)
			}
			if len(p.Records) != 3 || len(campaigns(p)) != 2 || campaigns(p)[0].ID != "c1" || campaigns(p)[1].ID != "c3" ||
				campaigns(p)[1].Name != "Été 🎉" || len(invalid(p)) != 1 || p.Records[1].Err != invalid(p)[0] {
				t.Fatalf("got %+v, %d p.Records; want c1 and c3 around one RecordError", p, len(p.Records))
			}
			re := invalid(p)[0]
			if re.Page != 2 || re.Index != 1 || re.ID != tc.id || string(re.Raw) != tc.broken {
				t.Errorf("RecordError page %d index %d id %q raw %q; want 2, 1, %q, the record as sent", re.Page, re.Index, re.ID, re.Raw, tc.id)
			}
			var de *DecodeError
			if !errors.As(re, &de) || de.Field != tc.field || de.Endpoint != EndpointList || !strings.Contains(de.Error(), tc.msg) {
				t.Errorf("error %v; want a list *DecodeError for field %q saying %q", re.Err, tc.field, tc.msg)
			}
			if errors.Is(re, ErrMalformedResponse) {
				t.Errorf("a record's error wraps ErrMalformedResponse: nothing retries a record")
			}
			if !utf8.ValidString(re.Error()) || strings.ContainsAny(re.Error(), "\x00\n") {
				t.Errorf("the message %q echoes raw bytes", re.Error())
			}
		})
	}
}

// A record's error names its field by the record's own keys, which a
// hostile platform could fill with our token: redacted like the message.
func TestDecodePageRedactsFieldPaths(t *testing.T) {
	t.Parallel()
	const token = "fake_SECRETTOKEN1234567"
	body := listingOf(rec("id", `"c1"`, token, `{"x":"\ud800"}`))
	p, err := decodePage([]byte(body), 1, newSecrets(token))
	if err != nil || len(invalid(p)) != 1 {
		t.Fatalf("decodePage = %+v, %v", p, err)
	}
	var de *DecodeError
	if msg := invalid(p)[0].Error(); strings.Contains(msg, "SECRET") || !errors.As(invalid(p)[0], &de) || !strings.HasSuffix(de.Field, ".x") {
		t.Fatalf("record error %q; want the token redacted from the field path", msg)
	}
}

// Valid Unicode passes exactly, whatever it looks like: nothing is
// repaired, and nothing valid is refused.
func TestDecodePageKeepsValidTextExactly(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"😀"`, `"\udbff\udfff"`, "\"\U0010FFFF\"",
		`"\ufffd"`, "\"\xef\xbf\xbd\"", // U+FFFD sent as such
		`"\u0000"`, // NUL, escaped: kept; a store that cannot hold it rejects it
		`"\uffff"`, "\"\xef\xbf\xbf\"", "\"\x7f\"", "\"\u2028\"",
		`"\/\"\\\b\f\n\r\t"`, `"\u00e9 é e\u0301"`, `""`,
	} {
		var want string
		if err := json.Unmarshal([]byte(name), &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := decodePage([]byte(listingOf(rec("name", name))), 1, nil)
		if err != nil || len(campaigns(p)) != 1 {
			t.Errorf("name %s: %+v, %v; want it decoded", name, p, err)
			continue
		}
		if got := campaigns(p)[0].Name; got != want {
			t.Errorf("name %s decoded as %q; want %q", name, got, want)
		}
	}
}

// A page that cannot be followed is a *DecodeError wrapping
// ErrMalformedResponse: it may have been cut in transfer. A page that
// can be followed but breaks the contract names the field, and does not
// wrap it.
func TestDecodePageClassifiesBrokenPages(t *testing.T) {
	t.Parallel()
	good := rec()
	for _, tc := range []struct {
		name      string
		body      string
		malformed bool
		field     string
	}{
		{"empty body", ``, true, ""},
		{"white space", " \n", true, ""},
		{"HTML", `<html>502 Bad Gateway</html>`, true, ""},
		{"byte order mark", "\ufeff" + listingOf(good), true, ""},
		{"trailing garbage", `{"data":[]} {}`, true, ""},
		{"extra brace", `{"data":[]}}`, true, ""},
		{"missing colon", `{"data" []}`, true, ""},
		{"unquoted key", `{data: []}`, true, ""},
		{"missing comma", `{"data":[] "pagination":{}}`, true, ""},
		{"empty value", `{"x":,"data":[]}`, true, ""},
		{"data never closed", `{"data":[` + good + `,` + good + `}`, true, ""},
		{"data broken", `{"data":tru}`, true, "data"},
		{"pagination with a raw control byte", `{"data":[],"pagination":{"page":"` + "\x00" + `"}}`, true, "pagination"},
		{"pagination with a bad number", `{"data":[],"pagination":{"total":01}}`, true, "pagination"},
		{"pagination unclosed", `{"data":[],"pagination":{"total":1]}`, true, ""},

		{"no data", `{"pagination":{"page":1}}`, false, "data"},
		{"empty object", `{}`, false, "data"},
		{"null", `null`, false, "data"},
		{"an array", `[` + good + `]`, false, ""},
		{"a string", `"data"`, false, ""},
		{"data an object", `{"data":{"id":"x"}}`, false, "data"},
		{"data a number", `{"data":5}`, false, "data"},
		{"data a number, then an array", `{"data":5,"data":[]}`, false, "data"},
		{"pagination an array", `{"data":[],"pagination":[]}`, false, "pagination"},
		{"negative total", `{"data":[],"pagination":{"total":-1}}`, false, "pagination.total"},
		{"huge total", `{"data":[],"pagination":{"total":1e400}}`, false, "pagination.total"},
		{"has_more a string", `{"data":[],"pagination":{"has_more":"yes"}}`, false, "pagination.has_more"},
		{"pagination with a lone surrogate", `{"data":[],"pagination":{"page":"\ud800"}}`, false, "pagination.page"},
		{"no data, a broken other field", `{"x":"` + "\x00" + `"}`, false, "data"},
	} {
		_, err := decodePage([]byte(tc.body), 1, nil)
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || de.Endpoint != EndpointList || errors.Is(err, ErrMalformedResponse) != tc.malformed {
			t.Errorf("%s: err = %v; want a list *DecodeError for field %q, malformed %v", tc.name, err, tc.field, tc.malformed)
		}
	}
}

// A page cut anywhere short of its end cannot be followed: it is never
// taken for a shorter page.
func TestDecodePageCutAnywhereIsMalformed(t *testing.T) {
	t.Parallel()
	body := listingOf(rec(), rec("id", `"c2"`, "name", `"a \"q\" [x] {y}, z"`, "meta", `{"a":[1,{"b":null}]}`))
	for n := range len(body) {
		_, err := decodePage([]byte(body[:n]), 1, nil)
		if !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("body cut at byte %d of %d: err = %v; want ErrMalformedResponse", n, len(body), err)
		}
	}
}

// On pages encoding/json accepts, however odd, the scan finds what
// encoding/json finds: the same records, byte for byte, and the same
// pagination.
func TestScanPageAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	r1, r2 := rec("id", `"c1"`), rec("id", `"c2"`, "name", `"a \"]}\\\" ,"`)
	for _, body := range []string{
		listingOf(r1, r2),
		" \t\r\n{ \"data\" :\n[ " + r1 + " ,\n" + r2 + "\n] , \"pagination\" : { \"total\" : 2 } }\n",
		`{"DATA":[` + r1 + `],"pagination":{"Page":3,"LIMIT":"5","Total":7,"HAS_MORE":true}}`,
		`{"d\u0061ta":[` + r1 + `]}`,
		`{"data":[` + r1 + `],"Data":[` + r2 + `]}`,
		`{"data":[` + r1 + `],"data":null}`,
		`{"data":null,"data":[` + r2 + `]}`,
		`{"data":[],"pagination":{"page":2},"Pagination":{"total":5}}`,
		`{"data":[],"pagination":{"total":5},"pagination":null}`,
		`{"data":[],"pagination":{"total":5,"total":6,"page":null}}`,
		`{"data":[],"pagination":{"haſ_more":true}}`, // ſ folds to s, for encoding/json too
		`{"meta":{"data":[1],"x":"]}"},"data":[` + r1 + `,[1,{"a":"}"}],"x",null,1e5]}`,
		`{"data":[` + r1 + `],"x":"` + "\xff" + `"}`,
	} {
		want, wantPage, ok := referenceListing([]byte(body))
		if !ok {
			t.Fatalf("encoding/json refuses %s", body)
		}
		l, err := scanPage([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if got := spanBytes([]byte(body), l.records); !sameRecords(got, want) {
			t.Errorf("%s:\n records %q\n want %q", body, got, want)
		}
		p, err := decodePage([]byte(body), 1, nil)
		if err != nil || p.Number != wantPage.Number || p.Limit != wantPage.Limit || p.Total != wantPage.Total || p.HasMore != wantPage.HasMore {
			t.Errorf("%s: pagination %+v, %v; want %+v", body, p, err, wantPage)
		}
	}
}

// FuzzDecodePage checks, on any body: decodePage never panics; a failure
// is a list *DecodeError, malformed only if the body is not well-formed
// JSON; every record, good or bad, is a piece of the body, in order; a
// record decoded is one that encoding/json decodes to the same values
// without repairing its text, and a record refused is one it does not;
// a page encoding/json accepts yields the records and pagination it
// finds; the same page cut short is malformed.
func FuzzDecodePage(f *testing.F) {
	deep := strings.Repeat(`[{"a":`, 300) + `1` + strings.Repeat("}]", 300) // deeper is TestDecodePageDeepNesting's: big seeds slow the fuzzer down
	for _, seed := range []string{
		`{"data":[` + rec() + `],"pagination":{"page":1,"limit":10,"total":100,"has_more":true}}`,
		`{"data":[` + rec("budget", "1.5e3", "clicks", `"9007199254740993"`) + `,{"id":null}],"pagination":{}}`,
		`{"data":[` + rec("created_at", `"2024-02-29T23:59:59.123456789-05:00"`, "name", `"\u202e"`) + `]}`,
		`{"data":null}`,
		`[]`,
		// Text encoding/json would repair.
		listingOf(rec("id", `"a"`), rec("id", `"b"`, "name", "\"\xff\xfe\""), rec("id", `"c"`)),
		listingOf(rec("name", "\"\xc0\xaf\""), rec("name", "\"\xed\xa0\x80\""), rec("status", "\"\xf4\x90\x80\x80\"")),
		listingOf(rec("name", `"\ud800"`), rec("name", `"\udc00x"`), rec("name", `"\ud83d\ude00"`), rec(`n\ud800`, "1")),
		listingOf(rec("name", `"\ufffd"`), rec("name", "\"\xef\xbf\xbd\""), rec("name", `"\u0000"`)),
		// Raw control bytes.
		listingOf(rec("id", `"a"`), rec("id", `"b"`, "name", "\"a\x00b\""), rec("id", `"c"`, "status", "\"\x01\t\n\x1f\"")),
		// Cut short.
		listingOf(rec(), rec())[:100],
		`{"data":[` + rec() + `,{"id":"x","name":"ab`,
		`{"data":[` + rec(),
		`{"data":`,
		// Garbage, nested.
		listingOf(rec(), `{"a":[1,{"b":]},"c"}`, `]]]`, `}}`, `{"x":"\"}`, rec()),
		listingOf(rec("meta", `{"a":[1}`), rec("x", `1]`), rec("name", `"a "quoted" b"`), rec("name", `"5" screen"`)),
		`{"a":{"data":[1]},"data":[` + rec() + `],"z":[{"]":"}"}]}`,
		`<html><body>502</body></html>`,
		// Numbers, huge and wrong.
		listingOf(rec("budget", "1e999999"), rec("clicks", "99999999999999999999"), rec("budget", strings.Repeat("9", 2000)), rec("budget", "01"), rec("clicks", "-")),
		`{"data":[],"pagination":{"total":1e400,"page":-0,"limit":1.0}}`,
		// Deep.
		listingOf(deep, rec("meta", deep), deep[:len(deep)-300]),
		// Keys as encoding/json matches them.
		`{"DATA":[` + rec() + `],"Pagination":{"HAS_MORE":true},"pagination":{"total":3}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePage(body, 1, nil)
		refRecords, refPage, refOK := referenceListing(body)
		if err != nil {
			var de *DecodeError
			switch {
			case !errors.As(err, &de) || de.Endpoint != EndpointList:
				t.Fatalf("page error %T is not a list *DecodeError: %v", err, err)
			case errors.Is(err, ErrMalformedResponse) && json.Valid(body):
				t.Fatalf("a well-formed body is called malformed: %v", err)
			case refOK:
				t.Fatalf("encoding/json accepts the page, decodePage says %v", err)
			}
			return
		}
		l, err := scanPage(body)
		if err != nil || len(p.Records) != len(l.records) || len(p.Records) != len(campaigns(p))+len(invalid(p)) {
			t.Fatalf("%d p.Records, %d campaigns and %d invalid for %d records (%v)", len(p.Records), len(campaigns(p)), len(invalid(p)), len(l.records), err)
		}
		prev := 0
		for i, sp := range l.records {
			if sp.start < prev || sp.end <= sp.start || sp.end > len(body) {
				t.Fatalf("record %d at [%d:%d] after [:%d] of %d bytes: not a piece of the body in order", i, sp.start, sp.end, prev, len(body))
			}
			prev = sp.end
			raw := body[sp.start:sp.end]
			want, wantOK := referenceCampaign(raw)
			switch it := p.Records[i]; {
			case it.Err != nil:
				if !bytes.Equal(it.Err.Raw, raw) || it.Err.Index != i || !utf8.ValidString(it.Err.ID) {
					t.Fatalf("record %d: RecordError index %d id %q raw %q; want %d, the raw bytes %q", i, it.Err.Index, it.Err.ID, it.Err.Raw, i, raw)
				}
				if wantOK {
					t.Fatalf("record %q refused (%v), but encoding/json decodes it exactly to %+v", raw, it.Err, want)
				}
			case !wantOK:
				t.Fatalf("record %q decoded to %+v, but encoding/json refuses it or repairs its text", raw, it.Campaign)
			case !campaignsEqual(it.Campaign, want):
				t.Fatalf("record %q decoded to %+v; encoding/json says %+v", raw, it.Campaign, want)
			}
		}
		if refOK {
			if got := spanBytes(body, l.records); !sameRecords(got, refRecords) {
				t.Fatalf("records %q; encoding/json finds %q", got, refRecords)
			}
			if p.Number != refPage.Number || p.Limit != refPage.Limit || p.Total != refPage.Total || p.HasMore != refPage.HasMore {
				t.Fatalf("pagination %d/%d/%d/%v; encoding/json finds %d/%d/%d/%v", p.Number, p.Limit, p.Total, p.HasMore, refPage.Number, refPage.Limit, refPage.Total, refPage.HasMore)
			}
		}
		whole := bytes.TrimRight(body, " \t\r\n")
		for _, n := range []int{len(whole) - 1, len(whole) / 2} {
			if _, err := decodePage(whole[:n], 1, nil); !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("the page cut at byte %d of %d: err = %v; want ErrMalformedResponse", n, len(whole), err)
			}
		}
	})
}

// Nesting past encoding/json's limit is one bad record, not a crash or a
// broken page; brackets nest as deep as the body goes.
func TestDecodePageDeepNesting(t *testing.T) {
	t.Parallel()
	tooDeep := rec("meta", strings.Repeat(`{"a":`, maxNesting)+`1`+strings.Repeat(`}`, maxNesting))
	deepest := strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)
	p, err := decodePage([]byte(listingOf(rec("id", `"c1"`), tooDeep, deepest, rec("id", `"c4"`))), 1, nil)
	if err != nil || len(campaigns(p)) != 2 || len(invalid(p)) != 2 {
		t.Fatalf("decodePage = %d campaigns, %d invalid, %v; want 2 and 2", len(campaigns(p)), len(invalid(p)), err)
	}
	for _, re := range invalid(p) {
		var de *DecodeError
		if !errors.As(re, &de) || !strings.Contains(de.Err.Error(), "nested deeper than 10000") || len(de.Error()) > 300 {
			t.Errorf("record %d: %.300v; want a short error saying it nests too deep", re.Index, re)
		}
	}
	var c Campaign
	if err := json.Unmarshal([]byte(rec("meta", strings.Repeat("[", maxNesting-1)+strings.Repeat("]", maxNesting-1))), &c); err != nil {
		t.Errorf("a record nested as deep as allowed: %v", err)
	}
}

func spanBytes(b []byte, spans []span) [][]byte {
	out := make([][]byte, len(spans))
	for i, s := range spans {
		out[i] = b[s.start:s.end]
	}
	return out
}

func sameRecords(got [][]byte, want []json.RawMessage) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

// referenceListing decodes a page with encoding/json as the decoder did
// before the scanner: ok when encoding/json accepts it, it has data (null
// data being an empty page) and its pagination is right.
func referenceListing(b []byte) (records []json.RawMessage, p Page, ok bool) {
	var wire struct {
		Data       *[]json.RawMessage `json:"data"`
		Pagination *struct {
			Page    json.RawMessage `json:"page"`
			Limit   json.RawMessage `json:"limit"`
			Total   json.RawMessage `json:"total"`
			HasMore json.RawMessage `json:"has_more"`
		} `json:"pagination"`
	}
	if json.Unmarshal(b, &wire) != nil {
		return nil, Page{}, false
	}
	p.Number = 1
	if pg := wire.Pagination; pg != nil {
		var errs [4]error
		p.Number, errs[0] = optionalCount(pg.Page, "")
		p.Limit, errs[1] = optionalCount(pg.Limit, "")
		p.Total, errs[2] = optionalCount(pg.Total, "")
		if len(pg.HasMore) > 0 && !isNull(pg.HasMore) {
			errs[3] = json.Unmarshal(pg.HasMore, &p.HasMore)
		}
		if errors.Join(errs[:]...) != nil {
			return nil, Page{}, false
		}
		if p.Number == 0 {
			p.Number = 1
		}
	}
	if wire.Data == nil {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(b, &keys)
		if !slices.ContainsFunc(slices.Collect(maps.Keys(keys)), func(k string) bool { return strings.EqualFold(k, "data") }) {
			return nil, Page{}, false
		}
		wire.Data = new([]json.RawMessage)
	}
	return *wire.Data, p, true
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// referenceCampaign decodes a record with encoding/json and the
// documented rules, independently of decodeCampaign; ok is false for a
// record those rules refuse, or whose text encoding/json had to repair.
func referenceCampaign(raw []byte) (c Campaign, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return c, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, false
	}
	if !utf8.Valid(raw) || decodedReplacements(raw) != sentReplacements(raw) {
		return c, false // encoding/json changed the text
	}
	number := func(v any) (string, bool) {
		switch v := v.(type) {
		case json.Number:
			return string(v), true
		case string:
			return v, jsonNumber.MatchString(v)
		}
		return "", false
	}
	var okID, okName, okStatus bool
	c.ID, okID = m["id"].(string)
	c.Name, okName = m["name"].(string)
	c.Status, okStatus = m["status"].(string)
	if !okID || c.ID == "" || !okName || !okStatus {
		return c, false
	}
	lit, ok := number(m["budget"])
	if !ok {
		return c, false
	}
	var err error
	if c.Budget, err = canonicalDecimal(lit); err != nil {
		return c, false
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"impressions", &c.Impressions}, {"clicks", &c.Clicks}, {"conversions", &c.Conversions}} {
		lit, ok := number(m[f.name])
		if !ok {
			return c, false
		}
		if *f.dst, err = strconv.ParseInt(lit, 10, 64); err != nil {
			return c, false
		}
	}
	switch v := m["created_at"].(type) {
	case nil:
	case string:
		if v != "" {
			if c.CreatedAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return c, false
			}
		}
	default:
		return c, false
	}
	return c, true
}

// decodedReplacements counts U+FFFD in every string encoding/json
// decodes from raw, keys and duplicates included.
func decodedReplacements(raw []byte) int {
	dec := json.NewDecoder(bytes.NewReader(raw))
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if s, ok := tok.(string); ok {
			n += strings.Count(s, "\uFFFD")
		}
	}
}

// sentReplacements counts the U+FFFD that raw holds, as UTF-8 or as an
// escape.
func sentReplacements(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); i++ {
		switch {
		case bytes.HasPrefix(raw[i:], []byte("\uFFFD")):
			n++
			i += 2
		case raw[i] == '\\' && i+5 < len(raw) && raw[i+1] == 'u' && strings.EqualFold(string(raw[i+2:i+6]), "fffd"):
			n++
			i += 5
		case raw[i] == '\\':
			i++
		}
	}
	return n
}

func campaigns(p Page) []Campaign { c, _ := split(p); return c }

func invalid(p Page) []*RecordError { _, i := split(p); return i }
