package main

import (
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 8 "done when": a posture check (expect: fail) whose password file is
// missing, or whose server is unreachable, proves nothing. check exits 1 and
// says the posture is unverified — never "Refused as expected" and exit 0.
func TestCheckConfigPostureUnverified(t *testing.T) {
	s, _ := startSimForCheck(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	missing := filepath.Join(t.TempDir(), "no-such-password")

	cases := []struct {
		name, body string
	}{
		{"missing password file", `targets:
  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    password_file: ` + missing + `
    hosts: {imap: IMAP_ADDR}
    checks: [{protocol: imap, mechanism: basic, expect: fail}]
`},
		{"unreachable server", `targets:
  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    password_file: SCANNER_PW
    hosts: {imap: ` + closed + `}
    checks: [{protocol: imap, mechanism: basic, expect: fail}]
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := configForSim(t, s, tc.body)
			var out, errb bytes.Buffer
			code := runCheck([]string{"--config", cfg}, &out, &errb)
			text := out.String()
			if code != exitFail {
				t.Errorf("exit %d, want %d (posture unverified)\n%s%s", code, exitFail, text, errb.String())
			}
			for _, want := range []string{"UNVERIFIED", "POSTURE UNVERIFIED: imap/basic (expect: fail)", "the posture is unverified"} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			for _, bad := range []string{"Refused as expected", "No problems found", "fail (expected)", "Set-AuthenticationPolicy"} {
				if strings.Contains(text, bad) {
					t.Errorf("text says %q:\n%s", bad, text)
				}
			}

			out.Reset()
			code = runCheck([]string{"--config", cfg, "--output", "json"}, &out, &errb)
			var docs []struct {
				Attempts []struct {
					OK         bool   `json:"ok"`
					Cause      string `json:"cause"`
					AsExpected *bool  `json:"as_expected"`
					Status     string `json:"status"`
				} `json:"attempts"`
			}
			if err := json.Unmarshal(out.Bytes(), &docs); err != nil {
				t.Fatalf("json: %v\n%s", err, out.String())
			}
			if code != exitFail || len(docs) != 1 || len(docs[0].Attempts) != 1 {
				t.Fatalf("json: exit %d\n%s", code, out.String())
			}
			a := docs[0].Attempts[0]
			if a.OK || a.AsExpected == nil || *a.AsExpected || a.Status != "unverified" {
				t.Errorf("json attempt: ok=%v as_expected=%v status=%q cause=%s, want refused, not as expected, unverified", a.OK, a.AsExpected, a.Status, a.Cause)
			}
		})
	}
}

// Local faults get local causes through --config (issue 8 item 2): a
// password file that is missing, and an OAuth app whose client-secret file
// is missing (no request was made: never "the token endpoint refused").
func TestCheckConfigLocalCauses(t *testing.T) {
	s, _ := startSimForCheck(t)
	missing := filepath.Join(t.TempDir(), "no-such-file")
	cfg, _ := configForSim(t, s, `oauth_apps:
  demo-app:
    tenant: TENANT
    authority: AUTHORITY
    client_id: CLIENT_ID
    client_secret_file: `+missing+`
    ca_file: CA_FILE
targets:
  - name: demo
    user: demo@contoso.com
    ca_file: CA_FILE
    password_file: `+missing+`
    oauth: demo-app
    hosts: {imap: IMAP_ADDR, smtp: SMTP_ADDR}
    checks:
      - {protocol: smtp, mechanism: basic}
      - {protocol: imap, mechanism: xoauth2}
`)
	var out, errb bytes.Buffer
	code := runCheck([]string{"--config", cfg}, &out, &errb)
	text := out.String()
	if code != exitFail {
		t.Fatalf("exit %d\n%s%s", code, text, errb.String())
	}
	for _, want := range []string{"secret_unreadable", "password_file", "client_secret_file", missing} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"token endpoint refused", "token_request_failed", "PS> "} {
		if strings.Contains(text, bad) {
			t.Errorf("text says %q:\n%s", bad, text)
		}
	}
}
