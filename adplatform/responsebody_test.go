package adplatform

import (
	"errors"
	"strings"
	"testing"
)

// Retry only what can change: a 2xx body that is not well-formed JSON, or
// is cut short, may come whole next time, and wraps ErrMalformedResponse;
// one that is JSON but breaks the contract never will, and names the
// field instead. These are issue 9's examples, and their neighbours (the
// listing's are TestDecodePageClassifiesBrokenPages').
func TestDecodeClassifiesResponses(t *testing.T) {
	t.Parallel()
	sync := func(b string) error { _, err := decodeSync([]byte(b), "c1", nil); return err }
	token := func(b string) error { return decodeToken([]byte(b), new(tokenBody)) }
	for _, tc := range []struct {
		name      string
		decode    func(string) error
		endpoint  Endpoint
		body      string
		malformed bool
		field     string
	}{
		{"sync without success", sync, EndpointSync, `{"campaign_id":"c1","message":"ok"}`, false, "success"},
		{"sync success a string", sync, EndpointSync, `{"success":"yes"}`, false, "success"},
		{"sync campaign_id a number", sync, EndpointSync, `{"success":true,"campaign_id":1}`, false, "campaign_id"},
		{"sync another campaign", sync, EndpointSync, `{"success":true,"campaign_id":"c2"}`, false, "campaign_id"},
		{"sync an array", sync, EndpointSync, `[{"success":true}]`, false, ""},
		{"sync null", sync, EndpointSync, `null`, false, "success"},
		{"sync cut short", sync, EndpointSync, `{"success":tr`, true, ""},
		{"sync cut in a string", sync, EndpointSync, `{"success":true,"message":"synced wi`, true, ""},
		{"sync empty", sync, EndpointSync, ``, true, ""},
		{"sync HTML", sync, EndpointSync, `<html>oops</html>`, true, ""},
		{"sync trailing garbage", sync, EndpointSync, `{"success":true}x`, true, ""},

		{"token_type mac", token, EndpointAuth, `{"access_token":"abcdefgh","token_type":"mac"}`, false, "token_type"},
		{"no token", token, EndpointAuth, `{"token_type":"Bearer","expires_in":3600}`, false, "access_token"},
		{"token a number", token, EndpointAuth, `{"access_token":12345678}`, false, "access_token"},
		{"expires_in a boolean", token, EndpointAuth, `{"access_token":"abcdefgh","expires_in":true}`, false, "expires_in"},
		{"token response a string", token, EndpointAuth, `"abcdefgh"`, false, ""},
		{"token cut short", token, EndpointAuth, `{"access_token":"abcdefgh`, true, ""},
		{"token garbage", token, EndpointAuth, `access_token=abcdefgh`, true, ""},
	} {
		err := tc.decode(tc.body)
		var de *DecodeError
		if !errors.As(err, &de) || de.Endpoint != tc.endpoint || de.Field != tc.field || errors.Is(err, ErrMalformedResponse) != tc.malformed {
			t.Errorf("%s: err = %v; want a %s *DecodeError naming %q, malformed %v", tc.name, err, tc.endpoint, tc.field, tc.malformed)
			continue
		}
		if strings.Contains(err.Error(), "abcdefgh") {
			t.Errorf("%s: the error quotes the token: %v", tc.name, err)
		}
	}
}
