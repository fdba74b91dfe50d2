package adplatform_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/adsync/adsync/adplatform"
)

// Issue 9: one raw NUL in one name made the page invalid JSON, the list was
// retried, and the run stored 0 of 47, every time. Now the page is listed
// once, 45 campaigns arrive exactly, and the two broken records are
// reported with their bytes, never repaired.
func TestListingSurvivesBrokenRecords(t *testing.T) {
	t.Parallel()
	var records []string
	for i := 1; i <= 47; i++ {
		name := fmt.Sprintf("Campaign %d", i)
		switch i {
		case 7:
			name = "Camp\x00aign 7" // a raw NUL: the page is not JSON any more
		case 30:
			name = "Caf\xc3\xa9 \xff\xfe" // invalid UTF-8: encoding/json would have stored U+FFFD
		case 31:
			name = `\ud83d\ude00 \u0000` // exact: a surrogate pair, and NUL escaped (the store decides)
		}
		records = append(records, fmt.Sprintf(`{"id":"campaign_%d","name":"%s","status":"active","budget":"10.50","impressions":1,"clicks":2,"conversions":3}`, i, name))
	}
	body := `{"data":[` + strings.Join(records, ",") + `],"pagination":{"page":1,"limit":100,"total":47,"has_more":false}}`
	p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
	c := client(t, p.URL)
	ids, bad, err := collect(t, c)
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	if len(ids) != 45 || len(bad) != 2 || p.count("/api/campaigns") != 1 {
		t.Fatalf("%d campaigns, %d bad records, %d list requests; want 45, 2, 1", len(ids), len(bad), p.count("/api/campaigns"))
	}
	for i, want := range []struct {
		id    string
		index int
	}{{"campaign_7", 6}, {"campaign_30", 29}} {
		re := bad[i]
		var de *adplatform.DecodeError
		if re.ID != want.id || re.Index != want.index || !bytes.Equal(re.Raw, []byte(records[want.index])) ||
			!errors.As(re, &de) || de.Field != "name" {
			t.Errorf("bad record %d: %v, raw %q; want %s at index %d, its bytes as sent, the name named", i, re, re.Raw, want.id, want.index)
		}
	}
	page, err := c.ListCampaigns(ctxT(t), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(page.Records, func(r adplatform.Record) bool { return r.Err == nil && r.Campaign.ID == "campaign_31" })
	if i < 0 || page.Records[i].Campaign.Name != "😀 \x00" {
		t.Errorf("campaign_31 (at %d of %+v); want its name, the pair and the NUL, exactly", i, page.Records)
	}
}

// Through the client's call machinery, a page cut short still says it is
// malformed (worth retrying); a page without data says it breaks the
// contract, naming the field.
func TestListingErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		body      string
		malformed bool
		field     string
	}{
		{"cut short", `{"data":[{"id":"campaign_1","name":"Camp`, true, ""},
		{"no data", `{"pagination":{"page":1,"total":0}}`, false, "data"},
	} {
		p := scripted(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(tc.body))
		})
		_, err := client(t, p.URL, func(o *adplatform.Options) { o.MaxRetries = 1 }).ListCampaigns(ctxT(t), 1, 10)
		var de *adplatform.DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || errors.Is(err, adplatform.ErrMalformedResponse) != tc.malformed {
			t.Errorf("%s: err = %v; want a *DecodeError naming %q, malformed %v", tc.name, err, tc.field, tc.malformed)
		}
	}
}
