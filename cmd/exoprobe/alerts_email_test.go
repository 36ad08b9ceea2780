package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The email sink sends through the emulated Exchange Online, which (like
// smtp.office365.com) offers AUTH LOGIN and XOAUTH2 but not PLAIN: with a
// password the sink must pick LOGIN, with `oauth:` it must use the app's
// client-credentials token. A wrong client secret and an app the mailbox
// has not granted are reported clearly by `alerts test`, and no secret is
// echoed.
func TestAlertsTestEmailThroughExchange(t *testing.T) {
	s, _ := startSimForCheck(t)
	ep := s.Endpoints()
	demo := ep.Demo
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", demo.Password)
	secret := write("secret", demo.ClientSecret)
	const badSecret = "CANARY-not-the-secret-0123456789"
	bad := write("bad", badSecret)
	cfg := fmt.Sprintf(`oauth_apps:
  mail: {tenant: %[1]s, client_id: %[2]s, authority: %[3]q, client_secret_file: %[4]s, ca_file: %[5]s}
  wrong: {tenant: %[1]s, client_id: %[2]s, authority: %[3]q, client_secret_file: %[6]s, ca_file: %[5]s}
targets:
  - {name: t, user: %[8]s, checks: [{protocol: smtp, mechanism: xoauth2}], oauth: mail}
alerts:
  sinks:
    - {name: login, type: email, smtp: %[7]q, ca_file: %[5]s, username: %[8]s, password_file: %[9]s, from: %[8]s, to: [ops@contoso.com]}
    - {name: oauth, type: email, smtp: %[7]q, ca_file: %[5]s, username: %[8]s, oauth: mail, from: %[8]s, to: [ops@contoso.com]}
    - {name: badsecret, type: email, smtp: %[7]q, ca_file: %[5]s, username: %[8]s, oauth: wrong, from: %[8]s, to: [ops@contoso.com]}
    - {name: nomailbox, type: email, smtp: %[7]q, ca_file: %[5]s, username: nobody@contoso.com, oauth: mail, from: nobody@contoso.com, to: [ops@contoso.com]}
`, demo.Tenant, demo.ClientID, ep.Authority, secret, ep.CAFile, bad, ep.SMTP.StartTLS, demo.User, pw)
	cfgPath := write("exoprobe.yaml", cfg)

	run := func(sink string) (int, string) {
		var out, errb bytes.Buffer
		code := alertsCmd([]string{"test", "--config", cfgPath, "--sink", sink, "--tries", "1"}, &out, &errb)
		all := out.String() + errb.String()
		for _, sec := range []string{demo.Password, demo.ClientSecret, badSecret} {
			if strings.Contains(all, sec) {
				t.Errorf("sink %s: output echoes a secret: %s", sink, all)
			}
		}
		return code, all
	}
	before := s.SMTPDelivered()
	for _, sink := range []string{"login", "oauth"} {
		if code, out := run(sink); code != exitOK || !strings.Contains(out, "sample alert accepted") {
			t.Fatalf("alerts test --sink %s: exit %d\n%s", sink, code, out)
		}
	}
	if got := s.SMTPDelivered() - before; got != 2 {
		t.Errorf("the emulator accepted %d messages, want 2 (one per sink)", got)
	}

	// A refused token request: Entra's AADSTS7000215 (invalid client
	// secret) is named; nothing reached SMTP AUTH.
	code, out := run("badsecret")
	if code != exitFail || !strings.Contains(out, "AADSTS7000215") || !strings.Contains(out, "XOAUTH2 access token") {
		t.Errorf("bad client secret: exit %d, want %d and AADSTS7000215 named:\n%s", code, exitFail, out)
	}
	// A token for a mailbox the app may not send as: Exchange refuses the
	// XOAUTH2 AUTH itself, and the error says which mechanism was refused.
	code, out = run("nomailbox")
	if code != exitFail || !strings.Contains(out, "AUTH XOAUTH2 refused: SMTP 535 5.7.3 Authentication unsuccessful") {
		t.Errorf("mailbox without permission: exit %d, want the refused XOAUTH2 named:\n%s", code, out)
	}
}

// An email sink naming an app that oauth_apps lacks is a configuration
// error, caught by --check-config before the daemon would start.
func TestCheckConfigEmailOAuthApp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	cfg := `targets:
  - {name: t, user: a@contoso.com, password_file: /nonexistent, checks: [{protocol: smtp, mechanism: basic}]}
alerts:
  sinks:
    - {name: m, type: email, smtp: "smtp.office365.com:587", username: a@contoso.com, oauth: nosuch, from: a@contoso.com, to: [b@contoso.com]}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runCmd([]string{"--config", p, "--check-config"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), `unknown oauth app "nosuch"`) {
		t.Errorf("exit %d, stderr %s", code, errb.String())
	}
}
