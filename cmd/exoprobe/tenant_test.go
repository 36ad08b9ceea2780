package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim"
)

// startSim2023 runs the emulator in the 2023 era (Exchange's generic
// refusals), policy changes effective at once, sign-ins visible at once.
func startSim2023(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	s, ep := startSimForCheck(t)
	tenantSimExec(t, s, "Set-SimTenant -Era 2023 -PropagationDelay 0 -SignInLogDelay 0")
	return s, ep
}

func tenantSimExec(t *testing.T, s *sim.Sim, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if out, err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%s: %v\n%s", l, err, out)
		}
	}
}

type checkDoc struct {
	Attempts []struct {
		Protocol, Mechanism, Cause, Confidence string
		OK                                     bool
	} `json:"attempts"`
	Findings []struct {
		Protocol, Mechanism, Cause, Confidence string
		Evidence                               []string
		Remedy                                 struct {
			Fix     []string `json:"fix"`
			Inspect []string `json:"inspect"`
		} `json:"remedy"`
	} `json:"findings"`
	TenantReads *struct {
		Problems []string `json:"problems"`
	} `json:"tenant_reads"`
}

func runCheckJSON(t *testing.T, args ...string) (checkDoc, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCheck(append(args, "--output", "json"), &out, &errb)
	if code == exitUsage {
		t.Fatalf("check %v: exit %d: %s", args, code, errb.String())
	}
	var d checkDoc
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	return d, out.String() + errb.String()
}

func userPassword(t *testing.T, s *sim.Sim, upn string) string {
	for _, u := range s.Endpoints().Users {
		if u.UPN == upn {
			return u.Password
		}
	}
	t.Fatalf("no user %s", upn)
	return ""
}

// TestCheckTenantReadsConfirms is issue 10's "done when" for check: in
// era 2023 the words are generic; the tenant's settings name security
// defaults, a blocking authentication policy and a missing mailbox
// permission definitively, with fix lines that run as printed and repair
// the check.
func TestCheckTenantReadsConfirms(t *testing.T) {
	t.Parallel()
	s, ep := startSim2023(t)
	scannerPW := writeFile(t, t.TempDir(), "scanner.pw", userPassword(t, s, "scanner@contoso.com"))
	secrets := []string{s.Endpoints().Reader.ClientSecret, s.Endpoints().Demo.ClientSecret, userPassword(t, s, "scanner@contoso.com")}
	basic := []string{"--endpoints", ep, "--user", "scanner@contoso.com", "--password-file", scannerPW, "--mechanisms", "basic", "--protocols", "smtp"}

	runFixes := func(t *testing.T, fix []string) {
		t.Helper()
		if len(fix) == 0 {
			t.Fatal("no fix lines")
		}
		for _, l := range fix {
			if strings.Contains(l, "<") {
				t.Fatalf("placeholder left in %q", l)
			}
			tenantSimExec(t, s, l) // runs as printed
		}
	}
	spID := s.Endpoints().Apps[0].EnterpriseObjectID
	cases := []struct {
		name  string
		setup []string
		args  []string
		cause string
		ev    string
		// wordsDecide: the 2023 words already name the cause (SMTP's
		// security-defaults sentence); the reads then add evidence.
		wordsDecide bool
		fix         func(*testing.T, []string)
	}{
		// The 2023 SMTP words say "basic authentication is disabled" but
		// not which policy: the reads name it in the evidence and the fix.
		{name: "authentication policy", args: basic, cause: "basic_auth_disabled", wordsDecide: true,
			setup: []string{"Set-User -Identity scanner@contoso.com -AuthenticationPolicy 'Block Basic Auth'"},
			ev:    "Get-AuthenticationPolicy Block Basic Auth: AllowBasicAuthSmtp = False",
			fix: func(t *testing.T, fix []string) {
				if !slices.ContainsFunc(fix, func(l string) bool {
					return strings.HasPrefix(l, "Set-AuthenticationPolicy -Identity 'Block Basic Auth' ")
				}) {
					t.Fatalf("fix does not name the user's policy: %q", fix)
				}
			}},
		{name: "security defaults", args: basic, cause: "security_defaults", ev: "isEnabled = true", wordsDecide: true,
			setup: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true"}},
		{name: "missing mailbox permission", cause: "oauth_not_authorized", ev: "Get-MailboxPermission scanner@contoso.com: no FullAccess",
			setup: []string{"Remove-MailboxPermission -Identity scanner@contoso.com -User " + spID + " -AccessRights FullAccess -Confirm:$false"},
			args:  []string{"--endpoints", ep, "--user", "scanner@contoso.com", "--mechanisms", "xoauth2", "--protocols", "imap"},
			fix: func(t *testing.T, fix []string) {
				if len(fix) != 1 || !strings.HasPrefix(fix[0], "Add-MailboxPermission -Identity scanner@contoso.com -User "+spID) {
					t.Fatalf("fix = %q, want only the Add-MailboxPermission for the app's enterprise object id (Exchange knows the app already)", fix)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenantSimExec(t, s, tc.setup...)
			plain, _ := runCheckJSON(t, tc.args...)
			if len(plain.Findings) != 1 {
				t.Fatalf("findings without reads: %+v", plain.Findings)
			}
			if f := plain.Findings[0]; !tc.wordsDecide && f.Cause == tc.cause && f.Confidence == "definitive" {
				t.Fatalf("the words alone already decide %s: the case does not test the reads", tc.cause)
			}
			if tc.name == "authentication policy" && !slices.ContainsFunc(plain.Findings[0].Remedy.Fix, func(l string) bool { return strings.Contains(l, "<policy>") }) {
				t.Fatalf("without reads the policy is already named: %q", plain.Findings[0].Remedy.Fix)
			}
			d, all := runCheckJSON(t, append(tc.args, "--tenant-reads")...)
			if len(d.Findings) != 1 {
				t.Fatalf("findings: %+v", d.Findings)
			}
			f := d.Findings[0]
			if f.Cause != tc.cause || f.Confidence != "definitive" {
				t.Fatalf("got %s/%s, want %s/definitive; evidence:\n%s", f.Cause, f.Confidence, tc.cause, strings.Join(f.Evidence, "\n"))
			}
			if !slices.ContainsFunc(f.Evidence, func(e string) bool { return strings.Contains(e, tc.ev) }) {
				t.Errorf("evidence lacks %q:\n%s", tc.ev, strings.Join(f.Evidence, "\n"))
			}
			if d.TenantReads == nil || len(d.TenantReads.Problems) != 0 {
				t.Errorf("tenant reads = %+v", d.TenantReads)
			}
			for _, sec := range secrets {
				if strings.Contains(all, sec) {
					t.Fatal("a secret appears in check's output")
				}
			}
			if tc.fix != nil {
				tc.fix(t, f.Remedy.Fix)
			}
			runFixes(t, f.Remedy.Fix)
			after, _ := runCheckJSON(t, tc.args...)
			if len(after.Attempts) != 1 || !after.Attempts[0].OK {
				t.Fatalf("after the printed fix the check still fails: %+v", after)
			}
		})
	}
}

// Sign-in correlation: the emulator's Entra writes a 53003 row naming the
// Conditional Access policy; check --tenant-reads turns the inferred
// conditional_access of Exchange's "criteria" sentence into a definitive
// one naming the policy.
func TestCheckTenantReadsSignIn(t *testing.T) {
	t.Parallel()
	s, ep := startSim2023(t)
	blockedPW := writeFile(t, t.TempDir(), "blocked.pw", userPassword(t, s, "blocked@contoso.com"))
	args := []string{"--endpoints", ep, "--user", "blocked@contoso.com", "--password-file", blockedPW, "--mechanisms", "basic", "--protocols", "smtp"}
	plain, _ := runCheckJSON(t, args...)
	if f := plain.Findings[0]; f.Cause != "conditional_access" || f.Confidence == "definitive" {
		t.Fatalf("without reads: %s/%s", f.Cause, f.Confidence)
	}
	d, _ := runCheckJSON(t, append(args, "--tenant-reads")...)
	f := d.Findings[0]
	all := strings.Join(f.Evidence, "\n")
	if f.Cause != "conditional_access" || f.Confidence != "definitive" || !strings.Contains(all, "errorCode 53003") ||
		!strings.Contains(all, "Conditional Access policies that failed: ") {
		t.Fatalf("with reads: %s/%s\n%s", f.Cause, f.Confidence, all)
	}
}

// TestTenantAuditEmulator is issue 10's "done when" for the audit: a
// device that logged in with Basic SMTP though no check covers it, and an
// app secret that expires in 10 days.
func TestTenantAuditEmulator(t *testing.T) {
	t.Parallel()
	s, ep := startSim2023(t)
	demo := s.Endpoints().Demo
	tenantSimExec(t, s, "Set-SimApp -AppId "+demo.ClientID+" -SecretEndDateTime (Get-Date).AddDays(10)")
	scannerPW := writeFile(t, t.TempDir(), "scanner.pw", userPassword(t, s, "scanner@contoso.com"))
	if d, _ := runCheckJSON(t, "--endpoints", ep, "--user", "scanner@contoso.com", "--password-file", scannerPW,
		"--protocols", "smtp", "--mechanisms", "basic"); !d.Attempts[0].OK {
		t.Fatalf("scanner's Basic SMTP login failed: %+v", d)
	}
	var out, errb bytes.Buffer
	if code := runTenant([]string{"audit", "--endpoints", ep, "--output", "json"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var a struct {
		TransportConfig *struct {
			SmtpClientAuthenticationDisabled *bool
		} `json:"transport_config"`
		SecurityDefaults *struct {
			IsEnabled *bool `json:"isEnabled"`
		} `json:"security_defaults"`
		Policies  []map[string]any `json:"authentication_policies"`
		Mailboxes []struct {
			Address string `json:"address"`
			Covered bool   `json:"covered_by_checks"`
		} `json:"mailboxes"`
		CA    []map[string]any `json:"conditional_access"`
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
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if a.TransportConfig == nil || a.TransportConfig.SmtpClientAuthenticationDisabled == nil || a.SecurityDefaults == nil || a.SecurityDefaults.IsEnabled == nil {
		t.Errorf("settings missing: %s", out.String())
	}
	if len(a.Policies) == 0 || len(a.Mailboxes) < 5 || len(a.Problems) != 0 {
		t.Errorf("policies %d, mailboxes %d, problems %v", len(a.Policies), len(a.Mailboxes), a.Problems)
	}
	found := false
	for _, si := range a.SignIns {
		if si.UPN == "scanner@contoso.com" && si.Client == "Authenticated SMTP" && si.Successes >= 1 && !si.Covered {
			found = true
		}
	}
	if !found {
		t.Errorf("the uncovered Basic SMTP device is not listed: %+v", a.SignIns)
	}
	found = false
	for _, c := range a.Creds {
		if c.AppID == demo.ClientID && c.Type == "secret" && c.DaysLeft == 10 && c.Expiring {
			found = true
		}
	}
	if !found {
		t.Errorf("the secret expiring in 10 days is not listed: %+v", a.Creds)
	}
	if strings.Contains(out.String()+errb.String(), s.Endpoints().Reader.ClientSecret) {
		t.Fatal("the reader's secret appears in the audit")
	}
	// The text form says the same.
	out.Reset()
	if code := runTenant([]string{"audit", "--endpoints", ep}, &out, &errb); code != exitOK {
		t.Fatalf("text exit %d", code)
	}
	for _, want := range []string{"scanner@contoso.com  Authenticated SMTP", "EXPIRING", "will break unless moved to OAuth: scanner@contoso.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTenantReadsDegrade: every failure of a read is one clear line and
// the rest still works; check's verdicts fall back to the words.
func TestTenantReadsDegrade(t *testing.T) {
	t.Parallel()
	s, ep := startSim2023(t)
	reader := s.Endpoints().Reader.ClientID
	for _, tc := range []struct {
		name  string
		setup []string
		undo  []string
		want  []string
	}{
		{name: "no licence", setup: []string{"Set-SimTenant -EntraLicense Free"}, undo: []string{"Set-SimTenant -EntraLicense P1"},
			want: []string{"could not read GET /auditLogs/signIns because the tenant has no Microsoft Entra ID P1 or P2 licence"}},
		{name: "no permission", setup: []string{"Set-SimApp -AppId " + reader + " -RemoveGraphRole Policy.Read.All"},
			undo: []string{"Set-SimApp -AppId " + reader + " -AddGraphRole Policy.Read.All"},
			want: []string{"could not read GET /policies/identitySecurityDefaultsEnforcementPolicy because the reader app lacks the permission", "Policy.Read.All"}},
		{name: "no Exchange role", setup: []string{"Set-SimApp -AppId " + reader + " -RemoveDirectoryRole 'Global Reader'"},
			undo: []string{"Set-SimApp -AppId " + reader + " -AddDirectoryRole 'Global Reader'"},
			want: []string{"could not read Get-TransportConfig because the reader app lacks the permission (HTTP 403)", "Global Reader"}},
		{name: "throttled", setup: []string{"Set-SimTenant -GraphThrottle 1 -RetryAfter 2.128"},
			want: []string{"because the service is throttling the reader (HTTP 429", "Retry-After 2.128s"}},
		{name: "endpoint withdrawn", setup: []string{"Set-SimTenant -InvokeCommandEnabled $false"}, undo: []string{"Set-SimTenant -InvokeCommandEnabled $true"},
			want: []string{"could not read Get-TransportConfig because the service answered HTTP 404"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenantSimExec(t, s, tc.setup...)
			defer tenantSimExec(t, s, tc.undo...)
			var out, errb bytes.Buffer
			code := runTenant([]string{"audit", "--endpoints", ep, "--output", "json", "--timeout", "30s"}, &out, &errb)
			if code != exitOK {
				t.Fatalf("exit %d (something was read): %s", code, errb.String())
			}
			var a struct {
				Problems  []string `json:"problems"`
				Mailboxes []any    `json:"mailboxes"`
			}
			if err := json.Unmarshal(out.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(a.Problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems lack %q:\n%s", w, all)
				}
			}
			if strings.Contains(out.String(), s.Endpoints().Reader.ClientSecret) {
				t.Fatal("reader secret in output")
			}
		})
	}
	// A degraded read never changes a check's verdict beyond the words.
	tenantSimExec(t, s, "Set-SimTenant -InvokeCommandEnabled $false", "Set-SimApp -AppId "+reader+" -RemoveGraphRole Policy.Read.All")
	scannerPW := writeFile(t, t.TempDir(), "scanner.pw", userPassword(t, s, "scanner@contoso.com"))
	args := []string{"--endpoints", ep, "--user", "scanner@contoso.com", "--password-file", scannerPW, "--mechanisms", "basic", "--protocols", "imap"}
	plain, _ := runCheckJSON(t, args...)
	d, _ := runCheckJSON(t, append(args, "--tenant-reads")...)
	if d.Findings[0].Cause != plain.Findings[0].Cause || d.Findings[0].Confidence != plain.Findings[0].Confidence {
		t.Fatalf("with nothing read the verdict changed: %+v -> %+v", plain.Findings[0], d.Findings[0])
	}
	if d.TenantReads == nil || len(d.TenantReads.Problems) == 0 {
		t.Fatalf("the degraded reads are not reported: %+v", d.TenantReads)
	}
}

func TestTenantAuditUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"audit"}, {"audit", "--output", "xml", "--endpoints", "x"}, {"bogus"},
		{"audit", "--config", "a", "--endpoints", "b"}} {
		var out, errb bytes.Buffer
		if code := runTenant(args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("targets:\n  - name: a\n    user: a@contoso.com\n    password_env: X\n    checks: [{protocol: smtp, mechanism: basic}]\n"), 0o600)
	var out, errb bytes.Buffer
	if code := runTenant([]string{"audit", "--config", cfg}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "no tenant has tenant_reads") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	_ = time.Second
}
