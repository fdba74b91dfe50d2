package adplatform

import (
	"net/url"
	"testing"
)

func TestEscapeSegment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ id, want string }{
		{"campaign_1", "campaign_1"},
		{"a/b?c#d ü%2F", "a%2Fb%3Fc%23d%20%C3%BC%252F"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "%2E%2E%2E"},
		{"a.b", "a.b"},
		{"~x-y_z", "~x-y_z"},
		{"semi;colon+plus=eq&amp", "semi%3Bcolon%2Bplus%3Deq%26amp"},
		{"\xff\x00", "%FF%00"},
	} {
		got := escapeSegment(tc.id)
		if got != tc.want {
			t.Errorf("escapeSegment(%q) = %q; want %q", tc.id, got, tc.want)
		}
		if back, err := url.PathUnescape(got); err != nil || back != tc.id {
			t.Errorf("escapeSegment(%q) does not unescape back: %q, %v", tc.id, back, err)
		}
	}
	// The URL built keeps the escaped form on the wire.
	c, err := New("https://example.com/v1", StaticCredentials("a", "b"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := c.url("/api/campaigns/../sync", "/api/campaigns/"+escapeSegment("..")+"/sync", "")
	if got := u.String(); got != "https://example.com/v1/api/campaigns/%2E%2E/sync" {
		t.Fatalf("URL = %s", got)
	}
}
