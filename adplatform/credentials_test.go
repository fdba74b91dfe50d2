package adplatform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// No exported value holding a secret shows it, through any of the ways a
// program shows a value: every fmt verb, slog's text and JSON handlers,
// encoding/json, encoding/xml and gob. The client is shown after it has
// obtained a token, so it holds the password, the Basic credential and
// the token.
func TestNoSecretThroughAnyDoor(t *testing.T) {
	t.Parallel()
	const pw = "pw-DOOR-7c1e9b"
	srv := fake(t, adplatformtest.Options{Email: email, Password: pw})
	creds := adplatform.Credentials{Email: email, Password: pw}
	provider := adplatform.StaticCredentials(email, pw)
	c := clientAs(t, srv.URL, provider)
	if _, err := c.SyncCampaign(ctxT(t), "campaign_1"); err != nil {
		t.Fatal(err)
	}
	secrets := append([]string{pw, base64.StdEncoding.EncodeToString([]byte(email + ":" + pw))}, srv.Platform.Tokens()...)
	if len(secrets) != 3 {
		t.Fatalf("the fake issued %d tokens; want 1", len(secrets)-2)
	}

	type holder struct {
		Creds    adplatform.Credentials
		CredsPtr *adplatform.Credentials
		Provider adplatform.CredentialsProvider
		Client   *adplatform.Client
	}
	// fmt calls no method of a value reached through an unexported
	// field: it prints the fields, and with a verb that does not fit a
	// pointer (%s, %q, %x) it prints what the pointer points to.
	type private struct {
		provider adplatform.CredentialsProvider
		client   *adplatform.Client
	}
	values := map[string]any{
		"Credentials":       creds,
		"*Credentials":      &creds,
		"StaticCredentials": provider,
		"*Client":           c,
		"exported fields":   holder{creds, &creds, provider, c},
		"*exported fields":  &holder{creds, &creds, provider, c},
		"unexported fields": private{provider, c},
		"*unexported":       &private{provider, c},
		"slice":             []any{creds, &creds, provider, c},
		"map":               map[string]any{"creds": creds, "provider": provider, "client": c},
		"Credentials error": fmt.Errorf("login as %v failed", creds),
	}
	for name, v := range values {
		var out bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		slog.New(slog.NewTextHandler(&out, nil)).Info("v", "v", v)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("v", "v", v)
		slog.New(slog.NewTextHandler(&out, nil)).Info("v", slog.Any("v", v), slog.Group("g", "v", v))
		if b, err := json.Marshal(v); err == nil {
			out.Write(b)
		}
		if b, err := json.MarshalIndent(v, "", " "); err == nil {
			out.Write(b)
		}
		if b, err := xml.Marshal(v); err == nil {
			out.Write(b)
		}
		_ = gob.NewEncoder(&out).Encode(v) // may fail (no exported fields): what it wrote counts
		text := out.String()
		for _, s := range secrets {
			for _, form := range []string{s, fmt.Sprintf("%x", s), fmt.Sprintf("%X", s)} {
				if strings.Contains(text, form) {
					i := strings.Index(text, form)
					t.Errorf("%s shows a secret: …%s…", name, text[max(0, i-60):min(len(text), i+len(form)+10)])
				}
			}
		}
		// The redaction is not so eager that the value says nothing.
		if strings.HasPrefix(name, "Credentials") && !strings.Contains(text, email) {
			t.Errorf("%s: the email is not shown:\n%s", name, text)
		}
	}
}

func TestCredentialsJSON(t *testing.T) {
	t.Parallel()
	creds := adplatform.Credentials{Email: "ops@example.com", Password: "hunter2-SECRET"}
	b, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"email":"ops@example.com","password":"[REDACTED]"}`; string(b) != want {
		t.Fatalf("json.Marshal = %s; want %s", b, want)
	}
	if b, _ := json.Marshal(adplatform.Credentials{Email: "a@b"}); string(b) != `{"email":"a@b","password":""}` {
		t.Fatalf("json.Marshal without a password = %s; want it empty, not redacted", b)
	}

	// What marshalling writes cannot pass for the credentials.
	var back adplatform.Credentials
	if err := json.Unmarshal(b, &back); !errors.Is(err, adplatform.ErrRedactedCredentials) {
		t.Fatalf("json.Unmarshal(%s) = %v, %+v; want ErrRedactedCredentials", b, err, back)
	}
	// What a secrets manager holds can be read.
	for _, in := range []string{
		`{"email":"ops@example.com","password":"hunter2-SECRET"}`,
		`{"Email":"ops@example.com","Password":"hunter2-SECRET","extra":1}`,
	} {
		var got adplatform.Credentials
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != creds {
			t.Errorf("json.Unmarshal(%s) = %v, %+v; want the credentials", in, err, got)
		}
	}
	var got adplatform.Credentials
	if err := json.Unmarshal([]byte(`{"email":1}`), &got); err == nil {
		t.Error("json.Unmarshal of a number email succeeded")
	}
}

func TestStaticCredentials(t *testing.T) {
	t.Parallel()
	want := adplatform.Credentials{Email: "ops@example.com", Password: "hunter2-SECRET"}
	got, err := adplatform.StaticCredentials(want.Email, want.Password).Credentials(context.Background())
	if err != nil || got != want {
		t.Fatalf("Credentials() = %v, %v; want the credentials given", got, err)
	}
}
