package web

import (
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/inspect"
)

func tenantAuditFixture() []TenantView {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return []TenantView{{Audit: inspect.Audit{Tenant: "contoso", ReadAt: now,
		Cutoff: inspect.AuditCutoff{Date: inspect.BasicSMTPCutoff, DaysLeft: 29, BasicSMTPUsers: []string{"printer@contoso.com"}},
		BasicAuthSignIns: []inspect.AuditSignIns{
			{UserPrincipalName: "printer@contoso.com", ClientAppUsed: "Authenticated SMTP", IPAddress: "192.0.2.7", Protocol: "smtp", Successes: 4, LastSeen: now},
			{UserPrincipalName: "scanner@contoso.com", ClientAppUsed: "Authenticated SMTP", Protocol: "smtp", Successes: 2, Covered: true, LastSeen: now},
			{UserPrincipalName: "<script>alert(1)</script>", ClientAppUsed: "IMAP4", Protocol: "imap", Failures: 3, LastSeen: now},
		},
		AppCredentials: []inspect.AuditCredential{{AppID: "a1", AppName: "Scanner app", Type: "secret", KeyID: "k1", EndDateTime: now.Add(240 * time.Hour), DaysLeft: 10, Expiring: true}},
		Problems:       []string{"could not read GET /auditLogs/signIns because x; Bearer abc.def.ghi"}},
		Changes: []string{"2026-12-03T10:00:00Z Get-TransportConfig: SmtpClientAuthenticationDisabled False -> True"}}}
}

func TestTenantSection(t *testing.T) {
	for _, lang := range []string{langEN, langJA} {
		h, err := renderTenants(lang, tenantAuditFixture())
		if err != nil {
			t.Fatal(err)
		}
		s := string(h)
		for _, want := range []string{`id="tenant-contoso"`, "printer@contoso.com", "Scanner app", "SmtpClientAuthenticationDisabled False -&gt; True", "&lt;script&gt;"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: section lacks %q", lang, want)
			}
		}
		if strings.Contains(s, "<script>") || strings.Contains(s, "abc.def.ghi") {
			t.Errorf("%s: unescaped or unscrubbed text in the section", lang)
		}
	}
	if h, _ := renderTenants(langEN, nil); h != "" {
		t.Error("a section without tenants")
	}
}

func TestTenantReadiness(t *testing.T) {
	r := Readiness{Ready: true}
	addTenantReadiness(&r, tenantAuditFixture())
	if r.Ready || len(r.TenantBasicSignIns) != 1 || r.TenantBasicSignIns[0].UserPrincipalName != "printer@contoso.com" {
		t.Fatalf("readiness = %+v", r)
	}
}
