package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var out, errb bytes.Buffer
		if code := dispatch([]string{arg}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "exoprobe ") {
			t.Errorf("exoprobe %s: exit %d, %q %q", arg, code, out.String(), errb.String())
		}
	}
}

// A mistyped flag names the nearest flag and prints a short usage, not
// the 90 lines of every flag.
func TestFlagTypoSuggests(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"check", "--confg", "x.yaml"}, "did you mean --config?"},
		{[]string{"check", "--protocls", "smtp"}, "did you mean --protocols?"},
		{[]string{"run", "--data-dri", "/tmp/x"}, "did you mean --data-dir?"},
		{[]string{"run", "--log.fromat", "json"}, "did you mean --log.format?"},
		{[]string{"demo", "--lisen", ":1"}, "did you mean --listen?"},
		{[]string{"chekc"}, `did you mean "check"?`},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := dispatch(tc.args, &out, &errb)
		msg := errb.String()
		if code != exitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("exoprobe %s: exit %d:\n%s\nwant %q", strings.Join(tc.args, " "), code, msg, tc.want)
		}
		if tc.args[0] != "chekc" && strings.Count(msg, "\n") > 3 {
			t.Errorf("exoprobe %s: %d lines for a typo:\n%s", strings.Join(tc.args, " "), strings.Count(msg, "\n"), msg)
		}
	}
	if s := nearest("zzzzzz", []string{"config", "listen"}); s != "" {
		t.Errorf("nothing close, yet suggested %q", s)
	}
}

func TestLogFormatJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("exoprobe running", "checks", 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
	}
	if m["msg"] != "exoprobe running" || m["level"] != "INFO" || m["checks"] != float64(3) || m["time"] == nil {
		t.Errorf("JSON log line: %v", m)
	}
	if _, err := newLogger(&buf, "xml", slog.LevelInfo); err == nil {
		t.Error("unknown format accepted")
	}
	var errb bytes.Buffer
	if code := dispatch([]string{"run", "--log.format", "xml", "--config", "/nonexistent"}, &buf, &errb); code != exitUsage || !strings.Contains(errb.String(), "--log.format") {
		t.Errorf("run --log.format xml: exit %d %s", code, errb.String())
	}
}
