package adplatform

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// rec builds a campaign record from a valid base with fields replaced
// (a value of "" removes the field).
func rec(overrides ...string) string {
	fields := [][2]string{
		{"id", `"campaign_1"`}, {"name", `"Campaign 1"`}, {"status", `"active"`},
		{"budget", `1100`}, {"impressions", `8432`}, {"clicks", `234`}, {"conversions", `12`},
		{"created_at", `"2024-12-11T10:30:00.000Z"`},
	}
	for i := 0; i < len(overrides); i += 2 {
		found := false
		for j := range fields {
			if fields[j][0] == overrides[i] {
				fields[j][1], found = overrides[i+1], true
			}
		}
		if !found {
			fields = append(fields, [2]string{overrides[i], overrides[i+1]})
		}
	}
	var parts []string
	for _, f := range fields {
		if f[1] != "" {
			parts = append(parts, `"`+f[0]+`":`+f[1])
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestCampaignUnmarshal(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 12, 11, 10, 30, 0, 0, time.UTC)
	base := Campaign{ID: "campaign_1", Name: "Campaign 1", Status: "active", Budget: "1100",
		Impressions: 8432, Clicks: 234, Conversions: 12, CreatedAt: created}
	with := func(f func(*Campaign)) Campaign { c := base; f(&c); return c }

	for _, tc := range []struct {
		name      string
		in        string
		want      Campaign
		wantField string // non-empty: a *DecodeError naming this field
	}{
		{"reference record", rec(), base, ""},
		{"unknown fields ignored", rec("extra", `{"deep":[1,2]}`), base, ""},
		{"2^53+1 survives", rec("impressions", "9007199254740993"), with(func(c *Campaign) { c.Impressions = 9007199254740993 }), ""},
		{"max int64", rec("clicks", "9223372036854775807"), with(func(c *Campaign) { c.Clicks = 9223372036854775807 }), ""},
		{"min int64", rec("clicks", "-9223372036854775808"), with(func(c *Campaign) { c.Clicks = -9223372036854775808 }), ""},
		{"quoted count", rec("conversions", `"12"`), base, ""},
		{"quoted budget", rec("budget", `"1100.50"`), with(func(c *Campaign) { c.Budget = "1100.50" }), ""},
		{"budget exact beyond float64", rec("budget", "12345678901234567890.123456789"), with(func(c *Campaign) { c.Budget = "12345678901234567890.123456789" }), ""},
		{"budget exponent", rec("budget", "1.5e3"), with(func(c *Campaign) { c.Budget = "1500" }), ""},
		{"budget negative exponent", rec("budget", "15E-3"), with(func(c *Campaign) { c.Budget = "0.015" }), ""},
		{"budget negative zero", rec("budget", "-0.0"), with(func(c *Campaign) { c.Budget = "0.0" }), ""},
		{"budget trailing zeros kept", rec("budget", "12.50"), with(func(c *Campaign) { c.Budget = "12.50" }), ""},
		{"null created_at", rec("created_at", "null"), with(func(c *Campaign) { c.CreatedAt = time.Time{} }), ""},
		{"empty created_at", rec("created_at", `""`), with(func(c *Campaign) { c.CreatedAt = time.Time{} }), ""},
		{"absent created_at", rec("created_at", ""), with(func(c *Campaign) { c.CreatedAt = time.Time{} }), ""},
		{"created_at with offset", rec("created_at", `"2024-12-11T12:30:00+02:00"`), base, ""},
		{"unicode text", rec("id", `"кампания/1?#%"`, "name", `"Été 🎉 \u202e evil \u0000"`),
			with(func(c *Campaign) { c.ID = "кампания/1?#%"; c.Name = "Été 🎉 \u202e evil \u0000" }), ""},
		{"hostile text kept verbatim", rec("name", `"'; DROP TABLE campaigns; --<script>"`),
			with(func(c *Campaign) { c.Name = "'; DROP TABLE campaigns; --<script>" }), ""},

		{"missing id", rec("id", ""), Campaign{}, "id"},
		{"null id", rec("id", "null"), Campaign{}, "id"},
		{"empty id", rec("id", `""`), Campaign{}, "id"},
		{"numeric id", rec("id", "42"), Campaign{}, "id"},
		{"missing name", rec("name", ""), Campaign{}, "name"},
		{"status object", rec("status", `{"a":1}`), Campaign{}, "status"},
		{"budget bool", rec("budget", "true"), Campaign{}, "budget"},
		{"budget word", rec("budget", `"lots"`), Campaign{}, "budget"},
		{"budget huge exponent", rec("budget", "1e999999"), Campaign{}, "budget"},
		{"budget too many digits", rec("budget", "1e1001"), Campaign{}, "budget"},
		{"count fraction", rec("impressions", "1.5"), Campaign{}, "impressions"},
		{"count exponent", rec("impressions", "1e3"), Campaign{}, "impressions"},
		{"count over int64", rec("clicks", "9223372036854775808"), Campaign{}, "clicks"},
		{"count quoted word", rec("clicks", `"many"`), Campaign{}, "clicks"},
		{"count null", rec("conversions", "null"), Campaign{}, "conversions"},
		{"created_at number", rec("created_at", "1733913000"), Campaign{}, "created_at"},
		{"created_at garbage", rec("created_at", `"yesterday"`), Campaign{}, "created_at"},
		{"not an object", `[1,2]`, Campaign{}, ""},
		{"null record", `null`, Campaign{}, "id"},
	} {
		var got Campaign
		err := json.Unmarshal([]byte(tc.in), &got)
		if tc.wantField == "" && tc.want.ID == "" {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if tc.wantField != "" {
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.wantField {
				t.Errorf("%s: err = %v; want a *DecodeError for field %q", tc.name, err, tc.wantField)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !campaignsEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func campaignsEqual(a, b Campaign) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Status == b.Status && a.Budget == b.Budget &&
		a.Impressions == b.Impressions && a.Clicks == b.Clicks && a.Conversions == b.Conversions &&
		a.CreatedAt.Equal(b.CreatedAt)
}

// A decode error names the field and its kind, never the whole value: a
// record can be huge or hostile.
func TestCampaignDecodeErrorIsShort(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("9", 5000)
	var c Campaign
	err := json.Unmarshal([]byte(rec("clicks", long)), &c)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("err = %.300v (%d bytes); want a short error", err, len(err.Error()))
	}
}

func TestCampaignMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Campaign{
		{ID: "a/b?c#d ü%2F", Name: "\u202e\u0000<b>", Status: "paused", Budget: "-12.50", Impressions: 1 << 62, Clicks: -1,
			CreatedAt: time.Date(2024, 2, 29, 23, 59, 59, 999_000_000, time.FixedZone("x", -5*3600))},
		{ID: "x", Budget: "0"},
	} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Campaign
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !campaignsEqual(back, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
		}
	}
	if _, err := json.Marshal(Campaign{ID: "x", Budget: "12,5"}); err == nil {
		t.Error("Marshal accepted a budget that is not a decimal")
	}
}
