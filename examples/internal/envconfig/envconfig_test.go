package envconfig

import (
	"strings"
	"testing"
)

func TestDescribeDBHidesSecrets(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u:pw@db.example.com:5432/app?sslmode=require&password=x", "PostgreSQL at db.example.com:5432/app"},
		{"postgresql://db.example.com/app", "PostgreSQL at db.example.com/app"},
		{"postgres://u:se/cret@host/db", "PostgreSQL (DATABASE_URL not shown)"}, // '/' in the password
		{"postgres://u:12/34@host/db", "PostgreSQL (DATABASE_URL not shown)"},   // ... parsed as a port
		{"postgres://u:p@ss@host/db", "PostgreSQL at host/db"},                  // the last '@' ends the user info
		{"host=db user=u password=secret dbname=app", "PostgreSQL (DATABASE_URL not shown)"},
		{"postgres://%zz", "PostgreSQL (DATABASE_URL not shown)"},
		{"postgres:///app?host=/var/run/postgresql", "PostgreSQL (DATABASE_URL not shown)"},
	}
	for _, tt := range tests {
		if got := DescribeDB(tt.dsn); got != tt.want {
			t.Errorf("DescribeDB(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

func TestCheckAPIURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://ads.example.com", ""},
		{"http://127.0.0.1:8080/v1", ""},
		{"ftp://ads.example.com", "want an http:// or https:// URL"},
		{"https://", "no host in the URL"},
		{"https://ops:hunter2@ads.example.com", "must not hold credentials"},
		{"https://ads.example.com/%zz", "not a valid URL"},
	} {
		err := CheckAPIURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckAPIURL(%q) = %v; want nil", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckAPIURL(%q) = %v; want an error saying %q", tt.url, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("CheckAPIURL's error %q echoes the password", err)
		}
	}
}

func TestSecretsAndRedact(t *testing.T) {
	secrets := Secrets("pl@tform", "postgres://u:db%2Fpw@host/db")
	got := Redact("platform pl@tform, database db/pw, user u", secrets)
	if want := "platform [REDACTED], database [REDACTED], user u"; got != want {
		t.Errorf("Redact = %q; want %q", got, want)
	}
	if got := Secrets("", "host=db password=x"); len(got) != 1 || got[0] != "" {
		t.Errorf("Secrets of a key=value DSN = %q; want only the (empty) password", got)
	}
	if got := Redact("nothing secret", []string{""}); got != "nothing secret" {
		t.Errorf("Redact with an empty secret = %q; want the text unchanged", got)
	}
}

func TestCheckPlatform(t *testing.T) {
	for _, tt := range []struct{ url, email, password, want string }{
		{"", "", "", ""}, // the embedded fake: nothing needed
		{"https://ads.example.com", "ops@example.com", "hunter2", ""},
		{"https://ads.example.com", "", "hunter2", Email + " not set"},
		{"https://ads.example.com", "ops@example.com", "", Password + " not set"},
		{"https://ads.example.com", "", "", Email + " and " + Password + " not set"},
		{"ftp://ads.example.com", "ops@example.com", "hunter2", APIURL + ": want an http:// or https:// URL"},
	} {
		err := CheckPlatform(tt.url, tt.email, tt.password)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckPlatform(%q, %q, _) = %v; want nil", tt.url, tt.email, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("CheckPlatform(%q, %q, _) = %v; want an error starting %q", tt.url, tt.email, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("CheckPlatform's error %q shows the password", err)
		}
	}
}
