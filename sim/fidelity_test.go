package sim

import (
	"strings"
	"testing"
)

// Exchange's words, verbatim from /work/shared/exo-responses.md (SMTP
// brackets stripped, IMAP tags stripped).
const (
	s2  = "235 2.7.0 Authentication successful"
	s4  = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	s6  = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."
	s8  = "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator."
	s9  = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
	s10 = "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."
	s11 = "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator."
	s12 = "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator."
	s15 = "535 5.7.3 Authentication unsuccessful"
	s17 = "504 5.7.4 Unrecognized authentication type"

	i2  = "NO LOGIN failed."
	i3  = "NO AUTHENTICATE failed."
	i4  = "OK AUTHENTICATE completed."
	i5  = "NO AUTHENTICATE failed."
	i6  = "BAD User is authenticated but not connected."
	i12 = "NO Basic authentication is disabled."

	p3 = "-ERR Logon failure: unknown user name or bad password."
	p5 = "+OK User successfully authenticated."
	p6 = "-ERR Authentication failure: unknown user name or bad password."
	p7 = "-ERR Server Unavailable. 21"
	p8 = "-ERR Basic authentication is disabled"
)

// Secrets a row asks for; resolved against the running sim.
const (
	ownPassword = "<password>"
	appTok      = "<app token>"
	wrongPass   = "not-the-password"
)

func passwordOf(t *testing.T, e Endpoints, upn string) string {
	t.Helper()
	for _, u := range e.Users {
		if strings.EqualFold(u.UPN, upn) {
			return u.Password
		}
	}
	t.Fatalf("no user %s in endpoints", upn)
	return ""
}

// TestFidelity drives the whole emulator over the wire, one fresh demo
// tenant per row, and compares with the corpus row it cites.
func TestFidelity(t *testing.T) {
	const (
		demo    = "demo@contoso.com"
		locked  = "locked@contoso.com"
		mfa     = "mfa@contoso.com"
		noimap  = "noimap@contoso.com"
		shared  = "shared@contoso.com"
		scanner = "scanner@contoso.com"
	)
	rows := []struct {
		row   string // exo-responses.md row id(s)
		setup []string
		login
		want, next string
	}{
		// SMTP
		{row: "S1 S2", login: login{proto: "smtp", mech: "basic", user: demo, secret: ownPassword}, want: s2, next: "250 2.1.0 Sender OK"},
		{row: "S2", login: login{proto: "smtp", mech: "xoauth2", user: demo, secret: appTok}, want: s2},
		{row: "S4", setup: []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"},
			login: login{proto: "smtp", mech: "basic", user: demo, secret: ownPassword}, want: s4},
		{row: "S5", setup: []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"},
			login: login{proto: "smtp", mech: "xoauth2", user: demo, secret: appTok}, want: s4},
		{row: "S6", setup: []string{"Set-CASMailbox -Identity demo@contoso.com -SmtpClientAuthenticationDisabled $True"},
			login: login{proto: "smtp", mech: "basic", user: demo, secret: ownPassword}, want: s6},
		{row: "S6 xoauth2", setup: []string{"Set-CASMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $true"},
			login: login{proto: "smtp", mech: "xoauth2", user: demo, secret: appTok}, want: s6},
		{row: "S6 mailbox $false beats tenant", setup: []string{
			"Set-TransportConfig -SmtpClientAuthenticationDisabled $True",
			"Set-CASMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $False"},
			login: login{proto: "smtp", mech: "basic", user: demo, secret: ownPassword}, want: s2},
		{row: "S8", setup: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true"},
			login: login{proto: "smtp", mech: "basic", user: scanner, secret: ownPassword}, want: s8},
		{row: "S9 (policy, inferred)", setup: []string{
			"Set-AuthenticationPolicy -Identity 'Allow SMTP Basic' -AllowBasicAuthSmtp:$false",
			"Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"},
			login: login{proto: "smtp", mech: "basic", user: demo, secret: ownPassword}, want: s9},
		{row: "S10", login: login{proto: "smtp", mech: "basic", user: demo, secret: wrongPass}, want: s10},
		{row: "S11 MFA", setup: []string{"Set-User mfa@contoso.com -AuthenticationPolicy 'Allow SMTP Basic'", "Set-User mfa@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"},
			login: login{proto: "smtp", mech: "basic", user: mfa, secret: ownPassword}, want: s11},
		{row: "S12", setup: []string{"Set-User locked@contoso.com -AuthenticationPolicy 'Allow SMTP Basic'", "Set-User locked@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"},
			login: login{proto: "smtp", mech: "basic", user: locked, secret: ownPassword}, want: s12},
		{row: "S15", login: login{proto: "smtp", mech: "xoauth2", user: demo, secret: "eyJhbGciOiJub25lIn0.e30.x"}, want: s15},
		{row: "S17", login: login{proto: "smtp", mech: "plain", user: demo, secret: ownPassword}, want: s17},

		// IMAP
		{row: "I4", login: login{proto: "imap", mech: "xoauth2", user: demo, secret: appTok}, want: i4, next: "OK [READ-WRITE] SELECT completed."},
		{row: "I4 STARTTLS", login: login{proto: "imap", mech: "xoauth2", user: demo, secret: appTok, starttls: true}, want: i4, next: "OK [READ-WRITE] SELECT completed."},
		{row: "I5", login: login{proto: "imap", mech: "xoauth2", user: demo, secret: "expired.token.x"}, want: i5},
		{row: "I6 ImapEnabled false", login: login{proto: "imap", mech: "xoauth2", user: noimap, secret: appTok}, want: i4, next: i6},
		{row: "I6 no FullAccess", login: login{proto: "imap", mech: "xoauth2", user: shared, secret: appTok}, want: i4, next: i6},
		{row: "I6 permission removed", setup: []string{"Remove-MailboxPermission -Identity demo@contoso.com -User " + "b7e4d2c1-6a5f-4b3e-8d9c-0a1b2c3d4e5f" + " -AccessRights FullAccess -Confirm:$false"},
			login: login{proto: "imap", mech: "xoauth2", user: demo, secret: appTok}, want: i4, next: i6},
		{row: "I12 LOGIN 2026", login: login{proto: "imap", mech: "basic", user: demo, secret: ownPassword}, want: i12},
		{row: "I12 AUTHENTICATE PLAIN 2026", login: login{proto: "imap", mech: "plain", user: demo, secret: ownPassword}, want: i12},
		{row: "I2 LOGIN 2023", setup: []string{"Set-SimTenant -Era 2023"},
			login: login{proto: "imap", mech: "basic", user: demo, secret: ownPassword}, want: i2},
		{row: "I3 AUTHENTICATE PLAIN 2023", setup: []string{"Set-SimTenant -Era 2023"},
			login: login{proto: "imap", mech: "plain", user: demo, secret: ownPassword}, want: i3},

		// POP
		{row: "P5", login: login{proto: "pop", mech: "xoauth2", user: demo, secret: appTok}, want: p5, next: "+OK 0 0"},
		{row: "P4 P5 over STLS (P9)", login: login{proto: "pop", mech: "xoauth2", user: demo, secret: appTok, starttls: true}, want: p5, next: "+OK 0 0"},
		{row: "P6 token", login: login{proto: "pop", mech: "xoauth2", user: demo, secret: "expired.token.x"}, want: p6},
		{row: "P6 PopEnabled false", login: login{proto: "pop", mech: "xoauth2", user: noimap, secret: appTok}, want: p6},
		{row: "P6 no FullAccess", login: login{proto: "pop", mech: "xoauth2", user: shared, secret: appTok}, want: p6},
		{row: "P8 USER/PASS 2026", login: login{proto: "pop", mech: "basic", user: demo, secret: ownPassword}, want: p8},
		{row: "P8 AUTH PLAIN 2026 (inferred)", login: login{proto: "pop", mech: "plain", user: demo, secret: ownPassword}, want: p8},
		{row: "P3 USER/PASS 2023", setup: []string{"Set-SimTenant -Era 2023"},
			login: login{proto: "pop", mech: "basic", user: demo, secret: ownPassword}, want: p3},
		{row: "P3 wrong password, Basic allowed", setup: []string{"Set-SimTenant -BasicAuthRetiredImapPop:$false",
			"New-AuthenticationPolicy -Name 'Allow POP'", "Set-AuthenticationPolicy 'Allow POP' -AllowBasicAuthPop",
			"Set-User demo@contoso.com -AuthenticationPolicy 'Allow POP'", "Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"},
			login: login{proto: "pop", mech: "basic", user: demo, secret: wrongPass}, want: p3},
		{row: "P2 Basic allowed", setup: []string{"Set-SimTenant -BasicAuthRetiredImapPop:$false",
			"New-AuthenticationPolicy -Name 'Allow POP'", "Set-AuthenticationPolicy 'Allow POP' -AllowBasicAuthPop",
			"Set-User demo@contoso.com -AuthenticationPolicy 'Allow POP'", "Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"},
			login: login{proto: "pop", mech: "basic", user: demo, secret: ownPassword}, want: "+OK User successfully logged on.", next: "+OK 0 0"},
		{row: "P7", setup: []string{"Set-SimUser demo@contoso.com -Throttled"},
			login: login{proto: "pop", mech: "xoauth2", user: demo, secret: appTok}, want: p7},
	}
	for _, r := range rows {
		t.Run(r.row, func(t *testing.T) {
			s, e := startSim(t)
			l := r.login
			switch l.secret {
			case ownPassword:
				l.secret = passwordOf(t, e, l.user)
			case appTok:
				l.secret = appToken(t, e)
			}
			run(t, s, r.setup...)
			got := doLogin(t, e, l)
			if got.auth != r.want {
				t.Errorf("%s %s: auth reply %q, want %q (%s)", l.proto, l.mech, got.auth, r.want, r.row)
			}
			if r.next != "" && got.next != r.next {
				t.Errorf("%s %s: next reply %q, want %q (%s)", l.proto, l.mech, got.next, r.next, r.row)
			}
		})
	}
}
