package adplatform

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecodePage(t *testing.T) {
	t.Parallel()
	good := rec()
	bad := rec("clicks", `"many"`)
	for _, tc := range []struct {
		name                string
		body                string
		wantErrField        string // "-": any *DecodeError
		campaigns, invalid  int
		page, limit, total  int
		hasMore             bool
		invalidIDs          []string
		invalidIndex        []int
		invalidFieldsNamed  []string
		pageNumberRequested int
	}{
		{name: "reference page", body: `{"data":[` + good + `],"pagination":{"page":1,"limit":10,"total":100,"has_more":true}}`,
			campaigns: 1, page: 1, limit: 10, total: 100, hasMore: true},
		{name: "bad records kept in place", body: `{"data":[` + good + `,` + bad + `,{"id":7},null,"x"],"pagination":{"page":2,"limit":5,"total":5,"has_more":false}}`,
			campaigns: 1, invalid: 4, page: 2, limit: 5, total: 5,
			invalidIDs: []string{"campaign_1", "", "", ""}, invalidIndex: []int{1, 2, 3, 4}, invalidFieldsNamed: []string{"clicks", "id", "id", ""}},
		{name: "quoted pagination numbers", body: `{"data":[],"pagination":{"page":"3","limit":"10","total":"100","has_more":false}}`,
			page: 3, limit: 10, total: 100},
		{name: "no pagination", body: `{"data":[` + good + `]}`, campaigns: 1, page: 4, pageNumberRequested: 4},
		{name: "null data is an empty page", body: `{"data":null,"pagination":{"has_more":false}}`, page: 1},
		{name: "null pagination fields", body: `{"data":[],"pagination":{"page":null,"total":null,"has_more":null}}`, page: 1},
		{name: "missing data", body: `{"pagination":{"page":1}}`, wantErrField: "data"},
		{name: "data not an array", body: `{"data":{"id":"x"}}`, wantErrField: "-"},
		{name: "truncated", body: `{"data":[` + good[:len(good)/2], wantErrField: "-"},
		{name: "not JSON", body: `<html>502 Bad Gateway</html>`, wantErrField: "-"},
		{name: "trailing garbage", body: `{"data":[]} {}`, wantErrField: "-"},
		{name: "negative total", body: `{"data":[],"pagination":{"total":-1}}`, wantErrField: "pagination.total"},
		{name: "fractional limit", body: `{"data":[],"pagination":{"limit":2.5}}`, wantErrField: "pagination.limit"},
		{name: "huge total", body: `{"data":[],"pagination":{"total":1e400}}`, wantErrField: "-"},
		{name: "has_more string", body: `{"data":[],"pagination":{"has_more":"yes"}}`, wantErrField: "pagination.has_more"},
	} {
		requested := tc.pageNumberRequested
		if requested == 0 {
			requested = 1
		}
		p, err := decodePage([]byte(tc.body), requested, nil)
		if tc.wantErrField != "" {
			var de *DecodeError
			if !errors.As(err, &de) || (tc.wantErrField != "-" && de.Field != tc.wantErrField) {
				t.Errorf("%s: err = %v; want a *DecodeError for %q", tc.name, err, tc.wantErrField)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		campaigns, invalid := split(p)
		if len(campaigns) != tc.campaigns || len(invalid) != tc.invalid {
			t.Errorf("%s: %d campaigns, %d invalid; want %d, %d", tc.name, len(campaigns), len(invalid), tc.campaigns, tc.invalid)
		}
		if p.Number != tc.page || p.Limit != tc.limit || p.Total != tc.total || p.HasMore != tc.hasMore {
			t.Errorf("%s: pagination %d/%d/%d/%v; want %d/%d/%d/%v", tc.name, p.Number, p.Limit, p.Total, p.HasMore, tc.page, tc.limit, tc.total, tc.hasMore)
		}
		// Every record keeps its bytes, in the page's order.
		for i, r := range p.Records {
			if !strings.Contains(tc.body, string(r.Raw)) || (i > 0 && strings.Index(tc.body, string(r.Raw)) < strings.Index(tc.body, string(p.Records[i-1].Raw))) {
				t.Errorf("%s: record %d: raw %s is not the record sent, in its place", tc.name, i, r.Raw)
			}
			if r.Err != nil && (r.Campaign.ID != r.Err.ID || !slices.Equal(r.Raw, r.Err.Raw)) {
				t.Errorf("%s: record %d: campaign id %q, raw %s; want the error's id %q and raw", tc.name, i, r.Campaign.ID, r.Raw, r.Err.ID)
			}
		}
		for i, re := range invalid {
			if re.ID != tc.invalidIDs[i] || re.Index != tc.invalidIndex[i] || re.Page != requested {
				t.Errorf("%s: invalid %d = id %q index %d page %d; want %q %d %d", tc.name, i, re.ID, re.Index, re.Page, tc.invalidIDs[i], tc.invalidIndex[i], requested)
			}
			var de *DecodeError
			if !errors.As(re, &de) || de.Field != tc.invalidFieldsNamed[i] || de.Endpoint != EndpointList {
				t.Errorf("%s: invalid %d: err %v; want a list *DecodeError for field %q", tc.name, i, re.Err, tc.invalidFieldsNamed[i])
			}
			// Nothing is lost: the raw record is kept, and it is a copy.
			if !json.Valid(re.Raw) || !strings.Contains(tc.body, string(re.Raw)) {
				t.Errorf("%s: invalid %d: raw %s not the record sent", tc.name, i, re.Raw)
			}
		}
	}
}

// A bad value quoting our token in a record's error message is redacted.
func TestDecodePageRedactsRecordErrors(t *testing.T) {
	t.Parallel()
	const token = "fake_SECRETTOKEN1234567"
	body := `{"data":[` + rec("clicks", `"`+token+`"`) + `]}`
	p, err := decodePage([]byte(body), 1, newSecrets(token))
	if _, invalid := split(p); err != nil || len(invalid) != 1 {
		t.Fatalf("decodePage = %+v, %v", p, err)
	}
	msg := p.Records[0].Err.Error()
	var de *DecodeError
	if strings.Contains(msg, "SECRET") || !errors.As(p.Records[0].Err, &de) || de.Field != "clicks" {
		t.Fatalf("record error %q; want the token redacted, the field named", msg)
	}
}

// split returns a page's campaigns and the errors of its bad records.
func split(p Page) (campaigns []Campaign, invalid []*RecordError) {
	for _, r := range p.Records {
		if r.Err != nil {
			invalid = append(invalid, r.Err)
		} else {
			campaigns = append(campaigns, r.Campaign)
		}
	}
	return campaigns, invalid
}
