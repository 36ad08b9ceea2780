package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

func TestWriteFleetGroupsIncidents(t *testing.T) {
	const reply = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [X.prod.outlook.com %d]"
	var rs []Result
	for i := 1; i <= 2; i++ {
		rs = append(rs, New(fmt.Sprintf("mailbox-%d", i), []probe.Attempt{{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, OK: true,
			User: fmt.Sprintf("mailbox-%d@contoso.com", i), Stage: probe.StageDone}}, diagnose.Vars{}))
	}
	for i := 1; i <= 3; i++ {
		rs = append(rs, New(fmt.Sprintf("printer-%d", i), []probe.Attempt{{Protocol: probe.SMTP, Mechanism: probe.Basic,
			User: fmt.Sprintf("printer-%d@contoso.com", i), Stage: probe.StageAuth, ErrorKind: probe.ErrRefused,
			Reply: fmt.Sprintf(reply, i)}}, diagnose.Vars{}))
	}
	for _, lang := range []string{"en", "ja"} {
		var buf bytes.Buffer
		if err := WriteFleet(&buf, rs, lang); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if n := strings.Count(out, "smtp_auth_disabled_tenant —"); n != 1 {
			t.Errorf("%s: %d groups for the tenant switch, want 1:\n%s", lang, n, out)
		}
		for i := 1; i <= 3; i++ {
			if !strings.Contains(out, fmt.Sprintf("printer-%d smtp/basic", i)) {
				t.Errorf("%s: the incident does not name printer-%d", lang, i)
			}
		}
		// The remedy once, with each printer's own SMTP AUTH exception
		// (never the organization's switch, which would open every mailbox).
		for i := 1; i <= 3; i++ {
			if n := strings.Count(out, fmt.Sprintf("Set-CasMailbox printer-%d@contoso.com -SmtpClientAuthenticationDisabled $False", i)); n != 1 {
				t.Errorf("%s: printer-%d's fix printed %d times, want once:\n%s", lang, i, n, out)
			}
		}
		if n := strings.Count(out, "535 5.7.139"); n != 1 {
			t.Errorf("%s: server words printed %d times, want once", lang, n)
		}
		if lines := strings.Split(out, "\n"); !strings.HasPrefix(lines[0], "TARGET") && !strings.HasPrefix(lines[0], "監視対象") || !strings.Contains(out, "FAIL smtp_auth_disabled_tenant") {
			t.Errorf("%s: no summary table:\n%s", lang, out)
		}
	}
}

// Two printers refused by Basic-blocking policies: the incident's fix names
// a policy only when every member's policy is that one.
func TestWriteFleetPolicyOnlyWhenShared(t *testing.T) {
	build := func(policies ...string) string {
		var rs []Result
		for i, p := range policies {
			rs = append(rs, New(fmt.Sprintf("printer-%d", i), []probe.Attempt{{Protocol: probe.SMTP, Mechanism: probe.Basic,
				User: fmt.Sprintf("printer-%d@contoso.com", i), Stage: probe.StageAuth, ErrorKind: probe.ErrRefused,
				Reply: "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [X.prod.outlook.com]"}},
				diagnose.Vars{Policy: p}))
		}
		var buf bytes.Buffer
		if err := WriteFleet(&buf, rs, "en"); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if out := build("Block Basic A", "Block Basic B"); strings.Contains(out, "Block Basic A") || !strings.Contains(out, "<policy>") {
		t.Errorf("different policies: the fix names one of them:\n%s", out)
	}
	if out := build("Block Basic A", "Block Basic A"); !strings.Contains(out, "Set-AuthenticationPolicy -Identity 'Block Basic A'") {
		t.Errorf("one shared policy is not named:\n%s", out)
	}
}
