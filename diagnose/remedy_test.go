package diagnose

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// allCauses is every Cause constant of finding.go, listed by hand so that a
// constant added there without a catalog entry fails here.
var allCauses = []Cause{
	CauseOK, CauseBasicAuthDisabled, CauseBasicAuthRetired, CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx, CauseSecurityDefaults,
	CauseConditionalAccess, CauseMFARequired, CauseBadCredentials, CauseAccountLocked, CauseAccountDisabled,
	CauseProtocolDisabled, CauseOAuthTokenInvalid, CauseOAuthNotAuthorized, CauseTokenRequestFailed, CauseTLSError,
	CauseNetworkError, CauseTimeout, CauseThrottled, CauseAuthMechanismUnsupported,
	CauseSecretUnreadable, CauseTLSModeMismatch, CauseTokenEndpointUnreachable, CauseLoginDisabled, CauseAppPasswordRequired, CauseUnknown,
}

// withFix are the causes an admin fixes with PowerShell; the closed-loop
// test runs these lines against the emulator.
var withFix = []Cause{
	CauseBasicAuthDisabled, CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx, CauseSecurityDefaults,
	CauseProtocolDisabled, CauseOAuthNotAuthorized, CauseBasicAuthRetired,
}

// Cmdlets a Fix line may use: real Exchange Online / Graph cmdlets that the
// emulator's interpreter also runs. Set-Sim* knobs are never remedies.
var fixCmdlets = []string{
	"Set-AuthenticationPolicy", "Set-User", "Set-TransportConfig", "Set-CasMailbox",
	"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy", "New-ServicePrincipal", "Add-MailboxPermission",
}

func hasJapanese(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}

func TestCatalogComplete(t *testing.T) {
	if !slices.Equal(Causes(), allCauses) {
		t.Fatalf("Causes() = %v\nwant %v", Causes(), allCauses)
	}
	for _, c := range allCauses {
		for _, lang := range []string{"en", "ja"} {
			r := RemedyFor(c, lang, Vars{})
			title, text, ok := Explain(c, lang)
			if !ok || title == "" || text == "" || r.Summary == "" {
				t.Errorf("%s/%s: title %q summary %q explain ok=%v", c, lang, title, r.Summary, ok)
			}
			if lang == "ja" {
				for _, s := range append([]string{title, r.Summary}, append(r.Steps, r.Caveats...)...) {
					if !hasJapanese(s) {
						t.Errorf("%s/ja: not Japanese: %q", c, s)
					}
				}
			}
			if r.Inspect == nil || r.Fix == nil || r.Caveats == nil || r.Links == nil {
				t.Errorf("%s/%s: nil slice in remedy (JSON must show [])", c, lang)
			}
			wantFix := slices.Contains(withFix, c)
			if wantFix != (len(r.Fix) > 0) {
				t.Errorf("%s/%s: fix lines %q, want present=%v", c, lang, r.Fix, wantFix)
			}
			if c != CauseOK && len(r.Fix) == 0 && len(r.Steps) == 0 {
				t.Errorf("%s/%s: neither fix nor steps", c, lang)
			}
			for _, l := range r.Links {
				if !strings.HasPrefix(l, "https://") {
					t.Errorf("%s: link %q", c, l)
				}
			}
		}
		en, ja := catalog[c], catalog[c]
		if len(en.steps[0]) != len(ja.steps[1]) || len(en.caveats[0]) != len(ja.caveats[1]) {
			t.Errorf("%s: English and Japanese differ in number of steps or caveats", c)
		}
	}
}

func TestFixLinesAreRunnable(t *testing.T) {
	vars := Vars{Mailbox: "alice@contoso.com", User: "alice@contoso.com", Policy: "Block Basic Auth",
		AppID: "11111111-2222-3333-4444-555555555555", ObjectID: "66666666-7777-8888-9999-000000000000", Protocol: "imap"}
	placeholder := regexp.MustCompile(`<[A-Za-z ]+>`)
	for _, c := range allCauses {
		for _, p := range []string{"", "imap", "pop", "smtp"} {
			v := vars
			v.Protocol = p
			for _, lang := range []string{"en", "ja"} {
				for _, line := range RemedyFor(c, lang, v).Fix {
					name, _, _ := strings.Cut(line, " ")
					if !slices.Contains(fixCmdlets, name) {
						t.Errorf("%s: fix line uses %q: %q", c, name, line)
					}
					if placeholder.MatchString(line) {
						t.Errorf("%s: placeholder left with every var known: %q", c, line)
					}
				}
			}
		}
	}
}

func TestArticleCommandsVerbatim(t *testing.T) {
	// No protocol: the reference, where the article's line is shown whole
	// (a failing check narrows it to its protocol: TestBasicFixOnlyFailingProtocols).
	v := Vars{Mailbox: "alice@contoso.com", User: "alice@contoso.com", Policy: "NoBasic"}
	want := map[Cause][]string{
		CauseBasicAuthDisabled: {
			"Set-AuthenticationPolicy -Identity NoBasic -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp",
			"Set-User -Identity alice@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
		},
		// With a mailbox named, the tenant fix is that mailbox's exception
		// (TestSMTPAuthTenantFixOnlyTheMailbox); the article's line is the
		// reference's.
		CauseSMTPAuthDisabledMbx: {"Set-CasMailbox alice@contoso.com -SmtpClientAuthenticationDisabled $False"},
		CauseSecurityDefaults:    {"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false"},
	}
	for c, lines := range want {
		if got := RemedyFor(c, "en", v).Fix; !slices.Equal(got, lines) {
			t.Errorf("%s fix:\n got %q\nwant %q", c, got, lines)
		}
	}
	if got := RemedyFor(CauseSMTPAuthDisabledTenant, "en", Vars{}).Fix; !slices.Equal(got, []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $False"}) {
		t.Errorf("smtp_auth_disabled_tenant reference fix: %q", got)
	}
	insp := RemedyFor(CauseSMTPAuthDisabledMbx, "en", v).Inspect
	if !slices.Contains(insp, "Get-EXOCasMailbox alice@contoso.com -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled") ||
		!slices.Contains(insp, "Get-TransportConfig | Select SmtpClientAuthenticationDisabled") {
		t.Errorf("inspect lines: %q", insp)
	}
}

func TestPlaceholders(t *testing.T) {
	// Unknown vars keep their placeholder.
	r := RemedyFor(CauseBasicAuthDisabled, "en", Vars{User: "alice@contoso.com"})
	if !strings.Contains(r.Fix[0], "-Identity <policy>") || !strings.Contains(r.Fix[1], "-Identity alice@contoso.com ") {
		t.Errorf("fix: %q", r.Fix)
	}
	// A policy name with spaces or quotes is quoted for PowerShell.
	r = RemedyFor(CauseBasicAuthDisabled, "en", Vars{Policy: "Don't allow Basic"})
	if !strings.HasPrefix(r.Fix[0], "Set-AuthenticationPolicy -Identity 'Don''t allow Basic' -AllowBasicAuthPop") {
		t.Errorf("quoted policy: %q", r.Fix[0])
	}
	// OAuth: ServicePrincipalId defaults to the ObjectId.
	r = RemedyFor(CauseOAuthNotAuthorized, "ja", Vars{Mailbox: "alice@contoso.com", AppID: "app-1", ObjectID: "obj-1"})
	want := []string{"New-ServicePrincipal -AppId app-1 -ObjectId obj-1", "Add-MailboxPermission -Identity alice@contoso.com -User obj-1 -AccessRights FullAccess"}
	if !slices.Equal(r.Fix, want) {
		t.Errorf("oauth fix %q, want %q", r.Fix, want)
	}
	r = RemedyFor(CauseOAuthNotAuthorized, "en", Vars{ObjectID: "obj-1", ServicePrincipalID: "sp-9"})
	if !strings.Contains(r.Fix[1], "-User sp-9 ") || !strings.Contains(r.Fix[1], "<mailbox>") {
		t.Errorf("oauth fix with SP id: %q", r.Fix[1])
	}
}

func TestProtocolTailoring(t *testing.T) {
	if f := RemedyFor(CauseProtocolDisabled, "en", Vars{Mailbox: "m@x.com", Protocol: "imap"}).Fix; !slices.Equal(f, []string{"Set-CasMailbox m@x.com -ImapEnabled $true"}) {
		t.Errorf("imap: %q", f)
	}
	if f := RemedyFor(CauseProtocolDisabled, "en", Vars{Mailbox: "m@x.com", Protocol: "pop"}).Fix; !slices.Equal(f, []string{"Set-CasMailbox m@x.com -PopEnabled $true"}) {
		t.Errorf("pop: %q", f)
	}
	if f := RemedyFor(CauseProtocolDisabled, "en", Vars{}).Fix; len(f) != 2 {
		t.Errorf("no protocol: %q", f)
	}
	imap := strings.Join(RemedyFor(CauseBasicAuthDisabled, "en", Vars{Protocol: "imap"}).Caveats, "\n")
	smtp := strings.Join(RemedyFor(CauseBasicAuthDisabled, "en", Vars{Protocol: "smtp"}).Caveats, "\n")
	if !strings.Contains(imap, "permanently retired") || strings.Contains(imap, "December 2026") {
		t.Errorf("imap caveats: %s", imap)
	}
	if !strings.Contains(smtp, "end of December 2026") || !strings.Contains(smtp, "second half of 2027") || strings.Contains(smtp, "permanently retired") {
		t.Errorf("smtp caveats: %s", smtp)
	}
	ja := strings.Join(RemedyFor(CauseBasicAuthDisabled, "ja", Vars{Protocol: "pop"}).Caveats, "\n")
	if !strings.Contains(ja, "恒久的に廃止") {
		t.Errorf("ja pop caveats: %s", ja)
	}
}

func TestGenericCauses(t *testing.T) {
	for _, c := range []Cause{CauseBasicAuthDisabled, CauseBasicAuthRetired, CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx, CauseSecurityDefaults, CauseConditionalAccess, CauseMFARequired, CauseAccountLocked, CauseAccountDisabled, CauseProtocolDisabled, CauseOAuthNotAuthorized} {
		if Generic(c) {
			t.Errorf("%s should be Exchange/Entra-specific", c)
		}
	}
	for _, c := range []Cause{CauseOK, CauseBadCredentials, CauseTLSError, CauseNetworkError, CauseTimeout, CauseUnknown} {
		if !Generic(c) {
			t.Errorf("%s should be generic", c)
		}
	}
}

// A failing mailbox gets its own SMTP AUTH exception, not the organization's
// switch, which would open SMTP AUTH (and Basic, where policies allow it)
// for every mailbox that follows the organization; the article's line stays
// as a step that says so.
func TestSMTPAuthTenantFixOnlyTheMailbox(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		r := RemedyFor(CauseSMTPAuthDisabledTenant, lang, Vars{Mailbox: "scanner@contoso.com", Protocol: "smtp"})
		if !slices.Equal(r.Fix, []string{"Set-CasMailbox scanner@contoso.com -SmtpClientAuthenticationDisabled $False"}) {
			t.Errorf("%s: fix %q", lang, r.Fix)
		}
		steps := strings.Join(r.Steps, "\n")
		if !strings.Contains(steps, "Set-TransportConfig -SmtpClientAuthenticationDisabled $False") || strings.Count(steps, "Set-CasMailbox") != 0 {
			t.Errorf("%s: steps %q", lang, r.Steps)
		}
	}
}
