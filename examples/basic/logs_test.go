package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// durationKeys are the attributes that hold a duration, as a part of
// their key: each must be text ("1.5s"), never a number of nanoseconds.
var durationKeys = []string{"duration", "expires", "after", "wait", "latency", "elapsed", "eta", "margin", "timeout", "backoff"}

// With -log-format json, stderr holds only JSON records, each with a msg:
// the messages, the progress and the summary included; durations are
// text. -progress=false turns the progress records off.
func TestJSONLogs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		env      []string
		args     []string
		code     int
		want     []string // msgs that must appear
		progress int      // 1 records of progress, 0 none, -1 either
	}{
		{"a run", nil, []string{"-rate", "20/1s", "-concurrency", "25", "-log-level", "debug"}, exitOK,
			[]string{"syncing account \"default\", concurrency 25, page size 100", "progress", "summary", "adplatform: obtained a bearer token"}, 1},
		{"no progress", nil, []string{"-rate", "20/1s", "-concurrency", "25", "-progress=false"}, exitOK, []string{"summary"}, 0},
		{"a failed run", platformEnv("http://127.0.0.1:1", "pw"), nil, exitFailed, []string{"summary", "the run stopped"}, -1},
		{"a configuration error", nil, []string{"-concurrency", "0"}, exitStartup, []string{"-concurrency: must be at least 1, got 0"}, 0},
		{"a flag error before -log-format", nil, []string{"-rate", "abc", "--log-format=json"}, exitStartup,
			[]string{`invalid value "abc" for flag -rate: want N/DURATION, e.g. 10/1m or 10/2s (-h for help)`}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-log-format", "json"}, tt.args...)
			if slices.Contains(tt.args, "--log-format=json") {
				args = tt.args
			}
			p := runBasic(t, tt.env, args...)
			if code := p.ExitCode(); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			msgs := map[string]map[string]any{}
			for _, line := range strings.Split(strings.TrimSuffix(p.Stderr(), "\n"), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("a stderr line is not a JSON record (%v): %q", err, line)
					continue
				}
				msg, ok := rec["msg"].(string)
				if !ok || msg == "" {
					t.Errorf("a record without a msg: %q", line)
				}
				msgs[msg] = rec
				for k, v := range rec {
					for _, d := range durationKeys {
						if _, isNumber := v.(float64); isNumber && strings.Contains(k, d) && !strings.HasSuffix(k, "_ms") {
							t.Errorf("attribute %q of %q is a number (%v): a duration must be text", k, msg, v)
						}
					}
				}
			}
			for _, m := range tt.want {
				if msgs[m] == nil {
					t.Errorf("no record %q on stderr:\n%s", m, p.Stderr())
				}
			}
			if _, got := msgs["progress"]; tt.progress >= 0 && got != (tt.progress == 1) {
				t.Errorf("progress records: %v, want %v", got, tt.progress == 1)
			}
			if s := msgs["summary"]; s != nil && tt.code == exitOK && (s["duration"] == nil || s["status"] != "completed" || s["synced"] != float64(100)) {
				t.Errorf("summary record %v, want the status, the counts and the duration as text", s)
			}
			if e := msgs["the run stopped"]; e != nil && (e["level"] != "ERROR" || !strings.Contains(e["advice"].(string), "cannot reach the platform at 127.0.0.1:1")) {
				t.Errorf("error record %v, want level ERROR and the advice", e)
			}
		})
	}
}
