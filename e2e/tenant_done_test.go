package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Issue 10's "done when", through the binary a user runs: against the
// emulator in era 2023 (generic words), `check --tenant-reads` names
// security defaults, a blocking authentication policy and a missing
// mailbox permission definitively, each fix line runs as printed through
// `sim exec` and the login then works; `tenant audit` lists a device that
// logged in with Basic SMTP though no check covers it and an app secret
// that expires in 10 days.
func TestTenantReadsDoneWhen(t *testing.T) {
	s, ep := startSim(t)
	simExec(t, ep, "Set-SimTenant -Era 2023 -PropagationDelay 0 -SignInLogDelay 0")
	var scannerPW string
	for _, u := range s.Endpoints().Users {
		if u.UPN == "scanner@contoso.com" {
			scannerPW = u.Password
		}
	}
	t.Setenv("E2E_SCANNER_PW", scannerPW)
	spID := s.Endpoints().Apps[0].EnterpriseObjectID
	reader := s.Endpoints().Reader.ClientSecret
	basic := []string{"check", "--endpoints", ep, "--user", "scanner@contoso.com", "--password-env", "E2E_SCANNER_PW",
		"--protocols", "smtp", "--mechanisms", "basic", "--output", "json"}
	oauth := []string{"check", "--endpoints", ep, "--user", "scanner@contoso.com", "--protocols", "imap", "--mechanisms", "xoauth2", "--output", "json"}
	for _, tc := range []struct {
		name, cause, evidence string
		args                  []string
		breaks                []string
	}{
		{"authentication policy", "basic_auth_disabled", "Get-AuthenticationPolicy Block Basic Auth: AllowBasicAuthSmtp = False", basic,
			[]string{"Set-User -Identity scanner@contoso.com -AuthenticationPolicy 'Block Basic Auth'"}},
		{"security defaults", "security_defaults", "isEnabled = true", basic,
			[]string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true"}},
		{"mailbox permission", "oauth_not_authorized", "Get-MailboxPermission scanner@contoso.com: no FullAccess", oauth,
			[]string{"Remove-MailboxPermission -Identity scanner@contoso.com -User " + spID + " -AccessRights FullAccess -Confirm:$false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			simExec(t, ep, tc.breaks...)
			r := run(t, "", append(tc.args, "--tenant-reads")...)
			if r.code != 1 {
				t.Fatalf("check --tenant-reads: want exit 1 (a check failed):\n%s", r)
			}
			d := parseCheck(t, r)
			if len(d.Findings) != 1 {
				t.Fatalf("findings: %+v", d.Findings)
			}
			f := d.Findings[0]
			if *f.Cause != tc.cause || *f.Confidence != "definitive" ||
				!slices.ContainsFunc(f.Evidence, func(e string) bool { return strings.Contains(e, tc.evidence) }) {
				t.Fatalf("%s/%s, evidence:\n%s", *f.Cause, *f.Confidence, strings.Join(f.Evidence, "\n"))
			}
			if strings.Contains(r.stdout+r.stderr, reader) || strings.Contains(r.stdout+r.stderr, scannerPW) {
				t.Fatal("a secret in check's output")
			}
			if len(f.Remedy.Fix) == 0 {
				t.Fatal("no fix line")
			}
			for _, l := range f.Remedy.Fix {
				if strings.Contains(l, "<") {
					t.Fatalf("placeholder left: %q", l)
				}
				simExec(t, ep, l) // as printed
			}
			after := parseCheck(t, run(t, "", tc.args...))
			if ok := after.Attempts[0].OK; ok == nil || !*ok {
				t.Fatalf("the login still fails after the printed fix: %+v", after.Findings)
			}
		})
	}

	// The audit: scanner's Basic SMTP logins above, no check covering it;
	// the demo app's secret ending in 10 days.
	simExec(t, ep, "Set-SimApp -AppId "+s.Endpoints().Demo.ClientID+" -SecretEndDateTime (Get-Date).AddDays(10)")
	r := run(t, "", "tenant", "audit", "--endpoints", ep, "--output", "json")
	if r.code != 0 {
		t.Fatalf("tenant audit:\n%s", r)
	}
	var a struct {
		Creds []struct {
			AppID    string `json:"appId"`
			Type     string `json:"type"`
			DaysLeft int    `json:"days_left"`
			Expiring bool   `json:"expiring"`
		} `json:"app_credentials"`
		SignIns []struct {
			UPN       string `json:"userPrincipalName"`
			Client    string `json:"clientAppUsed"`
			Successes int    `json:"successes"`
			Covered   bool   `json:"covered_by_checks"`
		} `json:"basic_auth_signins"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, r)
	}
	if !slices.ContainsFunc(a.SignIns, func(g struct {
		UPN       string `json:"userPrincipalName"`
		Client    string `json:"clientAppUsed"`
		Successes int    `json:"successes"`
		Covered   bool   `json:"covered_by_checks"`
	}) bool {
		return g.UPN == "scanner@contoso.com" && g.Client == "Authenticated SMTP" && g.Successes > 0 && !g.Covered
	}) {
		t.Errorf("the uncovered Basic SMTP device is not listed: %+v", a.SignIns)
	}
	found := false
	for _, c := range a.Creds {
		found = found || (c.AppID == s.Endpoints().Demo.ClientID && c.Type == "secret" && c.DaysLeft == 10 && c.Expiring)
	}
	if !found {
		t.Errorf("the secret ending in 10 days is not listed: %+v", a.Creds)
	}
	if strings.Contains(r.stdout+r.stderr, reader) {
		t.Fatal("the reader's secret in the audit")
	}
}
