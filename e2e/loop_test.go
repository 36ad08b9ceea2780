package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// loopCase is one broken state of the closed loop: check must name the
// cause, and the remedy's fix lines, run verbatim through `sim exec`, must
// turn the same check green.
type loopCase struct {
	name   string
	break_ []string // cmdlet lines that break the login
	user   string   // local part; "" is demo
	creds  creds
	// protocols/mechanisms of the check: only what the fix can turn green
	// (Basic IMAP/POP stays retired in the 2026 era whatever the policy).
	protocols, mechanisms string
	want                  string // the cause
	// authPolicy is passed as --auth-policy: check then fills <policy>
	// itself and no fix line may keep a placeholder.
	authPolicy string
}

var placeholder = regexp.MustCompile(`<[A-Za-z][A-Za-z ]*>`)

// TestClosedLoop is the "Done when": in each state the article
// describes (and every other state whose remedy has fix lines), check names
// the cause, and its own fix lines make the check pass. Nothing waits out
// the policy propagation delay: the remedy's Set-User
// -STSRefreshTokensValidFrom must force it.
func TestClosedLoop(t *testing.T) {
	cases := []loopCase{
		// The article's four states.
		{name: "article/basic-blocked-by-policy", protocols: "smtp", mechanisms: "basic", want: "basic_auth_disabled",
			break_: []string{
				`Set-AuthenticationPolicy -Identity "Allow SMTP Basic" -AllowBasicAuthSmtp:$false`,
				`Set-User -Identity demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)`,
			}},
		{name: "article/basic-blocked-by-policy/auth-policy-flag", protocols: "smtp", mechanisms: "basic", want: "basic_auth_disabled",
			authPolicy: "Allow SMTP Basic",
			break_: []string{
				`Set-AuthenticationPolicy -Identity "Allow SMTP Basic" -AllowBasicAuthSmtp:$false`,
				`Set-User -Identity demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)`,
			}},
		{name: "article/smtp-auth-off-tenant", protocols: "smtp", want: "smtp_auth_disabled_tenant",
			break_: []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $True`}},
		{name: "article/smtp-auth-off-mailbox", protocols: "smtp", want: "smtp_auth_disabled_mailbox",
			break_: []string{`Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $true`}},
		{name: "article/security-defaults-on", protocols: "smtp", mechanisms: "basic", want: "security_defaults",
			break_: []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true`}},
		// The same causes from the demo tenant's own users and other routes.
		{name: "smtp-auth-off-mailbox/nosmtp", user: "nosmtp", protocols: "smtp", want: "smtp_auth_disabled_mailbox"},
		{name: "basic-imap-pop-era-2023", protocols: "imap,pop", want: "basic_auth_disabled",
			break_: []string{`Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false`}},
		{name: "protocol-disabled-imap", creds: credROPC, protocols: "imap", mechanisms: "xoauth2", want: "protocol_disabled",
			break_: []string{`Set-CasMailbox demo@contoso.com -ImapEnabled $false`}},
		{name: "oauth-not-authorized", protocols: "imap", mechanisms: "xoauth2", want: "oauth_not_authorized",
			break_: []string{`Remove-MailboxPermission -Identity demo@contoso.com -User ` + tenantDemoAppObjectID + ` -AccessRights FullAccess -Confirm:$false`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Each loop changes and repairs its own tenant.
			s, ep := startSim(t)
			if len(c.break_) > 0 {
				simExec(t, ep, c.break_...)
			}
			args := []string{"check", "--endpoints", ep, "--protocols", c.protocols}
			if c.mechanisms != "" {
				args = append(args, "--mechanisms", c.mechanisms)
			}
			args = append(args, credArgs(t, s, c.user, c.creds)...)
			if c.authPolicy != "" {
				args = append(args, "--auth-policy", c.authPolicy)
			}

			r := run(t, "", append(args, "--output", "json")...)
			if r.code != 1 {
				t.Fatalf("broken state: want exit 1\n%s", r)
			}
			d := parseCheck(t, r)
			// Each finding's fix narrows to its own protocol (issue 8): an
			// admin fixing IMAP and POP runs both policy lines, then the
			// token refresh that makes them apply now.
			var fix, refresh []string
			for _, f := range d.Findings {
				if *f.Cause != c.want {
					continue
				}
				for _, l := range f.Remedy.Fix {
					switch {
					case strings.HasPrefix(l, "Set-User ") && strings.Contains(l, "-STSRefreshTokensValidFrom"):
						if !contains(refresh, l) {
							refresh = append(refresh, l)
						}
					case !contains(fix, l):
						fix = append(fix, l)
					}
				}
			}
			fix = append(fix, refresh...)
			if len(fix) == 0 {
				t.Fatalf("no finding %s with fix lines:\n%s", c.want, r)
			}
			// check cannot know which authentication policy applies to a
			// mailbox (no protocol reveals it): the remedy leaves <policy>
			// and its Inspect lines say how to find it. Do what an admin
			// does: run them and read the name off their output.
			var inspect []string
			for _, f := range d.Findings {
				if *f.Cause == c.want {
					inspect = append(inspect, f.Remedy.Inspect...)
				}
			}
			for i, l := range fix {
				if c.authPolicy != "" && strings.HasPrefix(l, "Set-AuthenticationPolicy ") && !strings.Contains(l, psQuote(c.authPolicy)) {
					t.Errorf("--auth-policy %q not in the fix line %q", c.authPolicy, l)
				}
				for _, m := range placeholder.FindAllString(l, -1) {
					if m != "<policy>" || c.authPolicy != "" {
						t.Errorf("fix line still has the placeholder %s after check filled it from the target: %q", m, l)
						continue
					}
					fix[i] = strings.ReplaceAll(fix[i], m, psQuote(policyFromInspect(t, ep, inspect)))
				}
			}
			for _, l := range fix {
				r := run(t, "", "sim", "exec", "--endpoints", ep, l)
				// The remedy's own step: "Skip New-ServicePrincipal if
				// Get-ServicePrincipal already lists the app."
				if r.code != 0 && !(strings.HasPrefix(l, "New-ServicePrincipal ") && strings.Contains(r.stderr, "already exists")) {
					t.Fatalf("fix line %q: %s", l, r)
				}
			}

			r = run(t, "", args...)
			if r.code != 0 {
				t.Fatalf("after running the fix %q check still fails:\n%s", fix, r)
			}
		})
	}
}

// policyFromInspect runs the remedy's inspect lines that name the
// authentication policy (the user's assignment, else the organization's
// default) through `exoprobe sim exec` and returns the name they print.
func policyFromInspect(t *testing.T, ep string, inspect []string) string {
	t.Helper()
	for _, prop := range []string{"| Select AuthenticationPolicy", "| Select DefaultAuthenticationPolicy"} {
		for _, l := range inspect {
			if !strings.HasSuffix(l, prop) {
				continue
			}
			if placeholder.MatchString(l) {
				t.Fatalf("inspect line has an unfilled placeholder: %q", l)
			}
			r := run(t, "", "sim", "exec", "--endpoints", ep, l)
			if r.code != 0 {
				t.Fatalf("inspect line %q: %s", l, r)
			}
			// A Select table: header, dashes, value.
			var rows []string
			for _, row := range strings.Split(r.stdout, "\n") {
				if strings.TrimSpace(row) != "" {
					rows = append(rows, strings.TrimSpace(row))
				}
			}
			if len(rows) >= 3 && strings.HasPrefix(rows[1], "---") {
				return rows[2]
			}
		}
	}
	t.Fatalf("no inspect line named the policy: %q", inspect)
	return ""
}

func psQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestClosedLoopTextShowsArticleCommands: the text form in the article's
// states prints the cause and the article's command lines exactly, and
// --lang ja prints Japanese around the same commands.
func TestClosedLoopTextShowsArticleCommands(t *testing.T) {
	cases := []struct {
		name    string
		break_  []string
		cause   string
		lines   []string // the article's lines, exactly as it prints them
		jaTitle string
	}{
		{name: "tenant", break_: []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $True`},
			cause: "smtp_auth_disabled_tenant", jaTitle: "組織全体で SMTP AUTH が無効",
			lines: []string{"Get-TransportConfig | Select SmtpClientAuthenticationDisabled", "Set-TransportConfig -SmtpClientAuthenticationDisabled $False"}},
		{name: "mailbox", break_: []string{`Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $true`},
			cause: "smtp_auth_disabled_mailbox", jaTitle: "メールボックスで SMTP AUTH が無効",
			lines: []string{
				"Get-EXOCasMailbox demo@contoso.com -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
				"Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $False",
			}},
		{name: "policy", break_: []string{
			`Set-AuthenticationPolicy -Identity "Allow SMTP Basic" -AllowBasicAuthSmtp:$false`,
			`Set-User -Identity demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)`,
		},
			cause: "basic_auth_disabled", jaTitle: "基本認証が無効",
			lines: []string{
				// Only the protocol whose Basic login failed (issue 8).
				"Set-AuthenticationPolicy -Identity <policy> -AllowBasicAuthSmtp\n",
				"Set-User -Identity demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
			}},
		{name: "security-defaults", break_: []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true`},
			cause: "security_defaults", jaTitle: "セキュリティの既定値",
			lines: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false"}},
	}
	s, ep := startSim(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			simExec(t, ep, c.break_...)
			args := append([]string{"check", "--endpoints", ep, "--protocols", "smtp", "--mechanisms", "basic"}, credArgs(t, s, "", credApp)...)
			en := run(t, "", args...)
			if en.code != 1 {
				t.Fatalf("want exit 1\n%s", en)
			}
			for _, want := range append([]string{c.cause}, c.lines...) {
				if !strings.Contains(en.stdout, want) {
					t.Errorf("text output lacks %q\n%s", want, en.stdout)
				}
			}
			ja := run(t, "", append(args, "--lang", "ja")...)
			if ja.code != 1 || !strings.Contains(ja.stdout, c.jaTitle) || !strings.Contains(ja.stdout, c.cause) {
				t.Errorf("--lang ja: want exit 1, %q and %q\n%s", c.jaTitle, c.cause, ja)
			}
			for _, want := range c.lines {
				if !strings.Contains(ja.stdout, want) {
					t.Errorf("--lang ja lacks the command %q", want)
				}
			}
			if !hasKana(ja.stdout) || hasKana(en.stdout) {
				t.Errorf("Japanese only with --lang ja: en has kana %v, ja has kana %v", hasKana(en.stdout), hasKana(ja.stdout))
			}
			// Undo, so the next state is the only one in force.
			fix := run(t, "", append(args, "--output", "json")...)
			for _, f := range parseCheck(t, fix).Findings {
				lines := f.Remedy.Fix
				for i, l := range lines {
					// The policy name is filled here, where check could not
					// (see TestClosedLoop).
					lines[i] = strings.ReplaceAll(l, "<policy>", `"Allow SMTP Basic"`)
				}
				simExec(t, ep, lines...)
			}
		})
	}
}

// hasKana reports whether s holds hiragana or katakana.
func hasKana(s string) bool {
	for _, r := range s {
		if (r >= 0x3040 && r <= 0x30ff) || (r >= 0x31f0 && r <= 0x31ff) {
			return true
		}
	}
	return false
}
