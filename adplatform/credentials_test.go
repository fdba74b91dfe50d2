package adplatform

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCredentialsNeverPrintThePassword(t *testing.T) {
	const password = "hunter2-SECRET"
	creds := Credentials{Email: "ops@example.com", Password: password}
	provider := StaticCredentials(creds.Email, creds.Password)

	var out bytes.Buffer
	for _, v := range []any{creds, &creds, provider} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		slog.New(slog.NewTextHandler(&out, nil)).Info("creds", "c", v)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("creds", "c", v)
	}
	if strings.Contains(out.String(), password) || strings.Contains(out.String(), fmt.Sprintf("%x", password)) {
		t.Fatalf("password leaked:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "ops@example.com") {
		t.Fatalf("email missing, the redaction is too eager:\n%s", out.String())
	}

	got, err := provider.Credentials(context.Background())
	if err != nil || got != creds {
		t.Fatalf("Credentials() = %v, %v; want the credentials given", got, err)
	}
}
