package cmdlet

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// articlePath is the support article whose commands exoprobe's remedies
// print; every one must run here once its placeholders are filled.
func articlePath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "seed", "outlook-pop-imap-modern-auth.en.md")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("support article not present at %s (it lives outside the repository)", p)
	}
	return p
}

// articleLines are the article's PowerShell lines, verbatim, as of
// ms.date 01/24/2024; TestArticleLinesMatchSeed checks they still match.
var articleLines = []string{
	"Set-AuthenticationPolicy -Identity <Policy Name> -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp",
	"Set-User -Identity <user account> -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
	"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
	"Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
	"Get-EXOCasMailbox <mailbox account> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
	"Set-CasMailbox <mailbox account> -SmtpClientAuthenticationDisabled $False",
}

func TestArticleLinesMatchSeed(t *testing.T) {
	b, err := os.ReadFile(articlePath(t))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```powershell\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	var got []string
	for _, m := range blocks {
		for _, l := range strings.Split(strings.TrimSpace(m[1]), "\n") {
			got = append(got, strings.TrimSpace(l))
		}
	}
	if strings.Join(got, "\n") != strings.Join(articleLines, "\n") {
		t.Fatalf("the article's commands changed:\n%s", strings.Join(got, "\n"))
	}
}

func fill(line string) string {
	return strings.NewReplacer(
		"<Policy Name>", "'Block Basic Auth'",
		"<user account>", "bob@contoso.com",
		"<mailbox account>", "bob@contoso.com",
	).Replace(line)
}

// TestArticleScenario walks the article on the fixture tenant: bob's policy
// blocks Basic; re-enabling it reaches bob only after the propagation delay
// unless Set-User -STSRefreshTokensValidFrom forces it; the SMTP switches
// at tenant and mailbox level read and write as the article describes.
func TestArticleScenario(t *testing.T) {
	tn, in, clk := fixture()
	mustExec(t, in, "Set-TransportConfig -SmtpClientAuthenticationDisabled $True")
	mustExec(t, in, "Set-CasMailbox bob -SmtpClientAuthenticationDisabled $True")
	clk.Advance(time.Hour)

	effective := func() tenant.AllowBasic {
		var ab tenant.AllowBasic
		tn.View(func(s *tenant.State) { ab, _ = s.EffectivePolicy(s.FindUser("bob@contoso.com"), clk.Now()) })
		return ab
	}
	if effective() != (tenant.AllowBasic{}) {
		t.Fatalf("bob starts with %+v, want all blocked", effective())
	}

	mustExec(t, in, fill(articleLines[0]))
	clk.Advance(time.Second)
	if effective() != (tenant.AllowBasic{}) {
		t.Fatalf("policy change reached bob before propagation: %+v", effective())
	}
	mustExec(t, in, fill(articleLines[1]))
	if effective() != tenant.AllowAll {
		t.Fatalf("Set-User -STSRefreshTokensValidFrom did not force the change: %+v", effective())
	}

	if out := mustExec(t, in, fill(articleLines[2])); !strings.Contains(out, "True") {
		t.Errorf("tenant switch reads %q, want True", out)
	}
	mustExec(t, in, fill(articleLines[3]))
	if out := mustExec(t, in, fill(articleLines[2])); !strings.HasSuffix(out, "False\n\n") {
		t.Errorf("tenant switch reads %q, want False", out)
	}
	if out := mustExec(t, in, fill(articleLines[4])); !strings.HasSuffix(out, "True\n\n") {
		t.Errorf("mailbox switch reads %q, want True", out)
	}
	mustExec(t, in, fill(articleLines[5]))
	if out := mustExec(t, in, fill(articleLines[4])); !strings.HasSuffix(out, "False\n\n") {
		t.Errorf("mailbox switch reads %q, want False", out)
	}
}

// TestPolicyChangePropagatesAfterDelay: without Set-User, the change waits
// for PropagationDelay.
func TestPolicyChangePropagatesAfterDelay(t *testing.T) {
	tn, in, clk := fixture()
	clk.Advance(time.Hour)
	mustExec(t, in, "Set-SimTenant -PropagationDelay 2m")
	mustExec(t, in, fill(articleLines[0]))
	check := func(want tenant.AllowBasic) {
		t.Helper()
		tn.View(func(s *tenant.State) {
			if got, _ := s.EffectivePolicy(s.FindUser("bob@contoso.com"), clk.Now()); got != want {
				t.Errorf("at +%v: %+v, want %+v", clk.Now().Sub(t0), got, want)
			}
		})
	}
	clk.Advance(time.Minute)
	check(tenant.AllowBasic{})
	clk.Advance(time.Minute)
	check(tenant.AllowAll)
}

// TestArticleOnDemoTenant runs the filled article lines on the real demo
// tenant, as `exoprobe sim exec` would.
func TestArticleOnDemoTenant(t *testing.T) {
	in := New(tenant.New(tenant.Demo()))
	for _, l := range articleLines {
		l = strings.NewReplacer("<Policy Name>", `"Block Basic Auth"`, "<user account>", tenant.DemoUser, "<mailbox account>", "nosmtp").Replace(l)
		if _, err := in.Exec(context.Background(), l); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}

// remedyLines are the inspect and fix lines exoprobe's remedies print
// (diagnose/remedy.go), placeholders filled; each must run on the demo
// tenant. The emulator does not import diagnose: it is an independent
// witness, so the list is repeated here.
var remedyLines = []string{
	"Get-User -Identity <user> | Select AuthenticationPolicy",
	"Get-OrganizationConfig | Select DefaultAuthenticationPolicy",
	"Get-AuthenticationPolicy -Identity <policy> | Select Name,AllowBasicAuthImap,AllowBasicAuthPop,AllowBasicAuthSmtp",
	"Set-AuthenticationPolicy -Identity <policy> -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp",
	"Set-User -Identity <user> -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
	"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
	"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
	"Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
	"Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False",
	"Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy | Select IsEnabled",
	"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false",
	"Get-MgIdentityConditionalAccessPolicy | Select DisplayName,State",
	"Get-User -Identity <user> | Select UserPrincipalName,AccountDisabled",
	"Get-EXOCasMailbox <mailbox> -Properties ImapEnabled,PopEnabled | Select ImapEnabled,PopEnabled",
	"Set-CasMailbox <mailbox> -ImapEnabled $true",
	"Set-CasMailbox <mailbox> -PopEnabled $true",
	"Get-ServicePrincipal | Select AppId,ObjectId,DisplayName",
	"Get-MailboxPermission -Identity <mailbox> | Select User,AccessRights",
	"Remove-ServicePrincipal -Identity <AppId> -Confirm:$false",
	"New-ServicePrincipal -AppId <AppId> -ObjectId <ObjectId>",
	"Add-MailboxPermission -Identity <mailbox> -User <ServicePrincipalId> -AccessRights FullAccess",
	"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled,ImapEnabled,PopEnabled | Select SmtpClientAuthenticationDisabled,ImapEnabled,PopEnabled",
}

func TestRemedyLinesRunOnDemoTenant(t *testing.T) {
	in := New(tenant.New(tenant.Demo()))
	r := strings.NewReplacer("<user>", "scanner@contoso.com", "<mailbox>", "shared@contoso.com", "<policy>", `"Block Basic Auth"`,
		"<AppId>", tenant.DemoAppID, "<ObjectId>", tenant.DemoAppObjectID, "<ServicePrincipalId>", tenant.DemoAppObjectID)
	for _, l := range remedyLines {
		if _, err := in.Exec(context.Background(), r.Replace(l)); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	out := mustExec(t, in, "Get-MailboxPermission shared | Select User,AccessRights")
	if !strings.Contains(out, "exoprobe demo") && !strings.Contains(out, tenant.DemoAppObjectID) {
		t.Errorf("FullAccess grant missing:\n%s", out)
	}
}
