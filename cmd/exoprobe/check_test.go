package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/sim"
)

// startSimForCheck runs the emulator in-process and returns its
// endpoints.json path.
func startSimForCheck(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Start(context.Background(), sim.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, filepath.Join(dir, "endpoints.json")
}

func TestCheckAgainstEmulator(t *testing.T) {
	s, ep := startSimForCheck(t)
	demo := s.Endpoints().Demo

	// Healthy path: SMTP with both mechanisms works for the demo mailbox.
	var out, errb bytes.Buffer
	code := runCheck([]string{"--endpoints", ep, "--protocols", "smtp", "--output", "json", "--transcript"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, errb.String(), out.String())
	}
	var doc struct {
		Target   string `json:"target"`
		Attempts []struct {
			Protocol, Mechanism, Stage, Reply, Cause, Confidence string
			OK                                                   bool
			DurationMS                                           *int64   `json:"duration_ms"`
			Transcript                                           []string `json:"transcript"`
		} `json:"attempts"`
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if doc.Target != demo.User || len(doc.Attempts) != 2 || len(doc.Findings) != 0 {
		t.Fatalf("doc = %+v", doc)
	}
	for _, a := range doc.Attempts {
		if !a.OK || a.Cause != "ok" || a.DurationMS == nil || len(a.Transcript) == 0 {
			t.Errorf("attempt %+v", a)
		}
	}
	// Secrets given to the probe never come out.
	for _, secret := range []string{demo.Password, demo.ClientSecret} {
		if strings.Contains(out.String()+errb.String(), secret) {
			t.Errorf("a secret leaked into check's output")
		}
	}

	// SMTP AUTH off for the tenant: exit 1, cause and the article's fix.
	if _, err := s.Exec(context.Background(), "Set-TransportConfig -SmtpClientAuthenticationDisabled $True"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = runCheck([]string{"--endpoints", ep, "--protocols", "smtp"}, &out, &errb)
	if code != exitFail || !strings.Contains(out.String(), "smtp_auth_disabled_tenant") ||
		!strings.Contains(out.String(), "Set-TransportConfig -SmtpClientAuthenticationDisabled $False") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	// The fix turns the check green.
	if _, err := s.Exec(context.Background(), "Set-TransportConfig -SmtpClientAuthenticationDisabled $False"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code = runCheck([]string{"--endpoints", ep, "--protocols", "smtp"}, &out, &errb); code != exitOK {
		t.Fatalf("after the fix: exit %d\n%s", code, out.String())
	}
}

func TestCheckUsageErrors(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("x\n"), 0o600)
	cases := [][]string{
		{},                // no user, no credentials
		{"--user", "a@b"}, // no credentials
		{"--user", "a@b", "--password-file", pwFile, "--protocols", "nntp"},
		{"--user", "a@b", "--password-file", pwFile, "--mechanisms", "xoauth2"},
		{"--user", "a@b", "--password-file", pwFile, "--output", "yaml"},
		{"--user", "a@b", "--password-file", pwFile, "hunter2"}, // a password on the command line
		{"--user", "a@b", "--password-env", "EXOPROBE_TEST_UNSET_VAR"},
		{"--config", "x.yaml"}, // no such file
		{"--no-such-flag"},
	}
	for _, args := range cases {
		var out, errb bytes.Buffer
		if code := runCheck(args, &out, &errb); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %s)", args, code, exitUsage, errb.String())
		}
	}
}
