package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 8 item 1 against the emulator: a posture check (Basic IMAP must
// stay off) refused with Exchange's generic words proves the posture only
// when something shows the password is right. With a wrong password the
// refusal is the same, so XOAUTH2 working on the same mailbox is not
// enough: unverified, exit 1, and never a fix that turns Basic on. With
// Basic SMTP working on the same password, the refusal is proof.
func TestCheckConfigPostureWeakInference(t *testing.T) {
	s, _ := startSimForCheck(t)
	// The 2023 era: Exchange's generic "AUTHENTICATE failed." for Basic
	// off and a wrong password alike (exo-responses I3), not I12's words.
	if _, err := s.Exec(context.Background(), "Set-SimTenant -Era 2023"); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong-pw")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = `defaults:
  timeout: 15s
  hosts: {imap: IMAP_ADDR, smtp: SMTP_ADDR}
oauth_apps:
  demo-app:
    tenant: TENANT
    authority: AUTHORITY
    client_id: CLIENT_ID
    client_secret_file: CLIENT_SECRET_FILE
    ca_file: CA_FILE
targets:
  - name: demo
    user: DEMO_USER
    ca_file: CA_FILE
    oauth: demo-app
`
	cases := []struct {
		name     string
		body     string
		wantCode int
		want     []string
		bad      []string
	}{
		{"wrong password, only xoauth2 to compare", head + `    password_file: ` + wrong + `
    checks:
      - {protocol: imap, mechanism: xoauth2}
      - {protocol: imap, mechanism: basic, expect: fail}
`, exitFail,
			[]string{"POSTURE UNVERIFIED: imap/basic (expect: fail)", "a wrong password is refused the same way", "password_file"},
			[]string{"Refused as expected", "No problems found", "AllowBasicAuthImap", "PS> Set-"}},
		{"right password, only xoauth2 to compare", head + `    password_file: DEMO_PW
    checks:
      - {protocol: imap, mechanism: xoauth2}
      - {protocol: imap, mechanism: basic, expect: fail}
`, exitFail,
			[]string{"POSTURE UNVERIFIED: imap/basic (expect: fail)"},
			[]string{"Refused as expected", "AllowBasicAuthImap"}},
		{"right password, basic smtp works on it", head + `    password_file: DEMO_PW
    checks:
      - {protocol: smtp, mechanism: basic}
      - {protocol: imap, mechanism: xoauth2}
      - {protocol: imap, mechanism: basic, expect: fail}
`, exitOK,
			[]string{"Refused as expected", "imap/basic (basic_auth_disabled)"},
			[]string{"UNVERIFIED", "AllowBasicAuthImap"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(tc.body, "DEMO_USER", s.Endpoints().Demo.User)
			cfg, _ := configForSim(t, s, body)
			var out, errb bytes.Buffer
			code := runCheck([]string{"--config", cfg}, &out, &errb)
			text := out.String()
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.wantCode, text, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, b := range tc.bad {
				if strings.Contains(text, b) {
					t.Errorf("text says %q:\n%s", b, text)
				}
			}
		})
	}
}
