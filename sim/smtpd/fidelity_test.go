package smtpd

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func xoauth2IR(user, token string) string {
	return b64("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// greetingRE is §2's greeting with this server's frontend name.
var greetingRE = regexp.MustCompile(`^220 MN2PR05CA0004\.outlook\.office365\.com Microsoft ESMTP MAIL Service ready at (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000 \[([0-9A-F]{16})\]$`)

// ehlo is §2's EHLO list; mid is STARTTLS before TLS and AUTH after.
func ehlo(mid string) []string {
	return []string{
		"< 250-MN2PR05CA0004.outlook.office365.com Hello [127.0.0.1]",
		"< 250-SIZE 157286400",
		"< 250-PIPELINING",
		"< 250-DSN",
		"< 250-ENHANCEDSTATUSCODES",
		"< 250-" + mid,
		"< 250-8BITMIME",
		"< 250-BINARYMIME",
		"< 250-CHUNKING",
		"< 250 SMTPUTF8",
	}
}

// secure is the common prefix: EHLO, STARTTLS, EHLO again.
func secure() []string {
	s := append([]string{"> EHLO client.example"}, ehlo("STARTTLS")...)
	s = append(s, "> STARTTLS", "< 220 2.0.0 SMTP server ready", "TLS", "> EHLO client.example")
	return append(s, ehlo("AUTH LOGIN XOAUTH2")...)
}

func authLogin(user, pass string) []string {
	return []string{"> AUTH LOGIN", "< 334 VXNlcm5hbWU6", "> " + b64(user), "< 334 UGFzc3dvcmQ6", "> " + b64(pass)}
}

func cat(parts ...[]string) []string {
	var s []string
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// TestFidelity replays conversations and asserts Exchange's exact words;
// rows cite exo-responses.md row ids. "> x" sends, "< x" expects (with
// "[BRACKET]" for the trailer), "TLS" upgrades, "EOF" expects a close.
func TestFidelity(t *testing.T) {
	const user = "user@contoso.com"
	ir := xoauth2IR(user, "eyJ0eXAi.token")
	basicRows := []struct {
		ids string
		v   tenant.Verdict
		txt string
	}{
		{"S4", tenant.VerdictSMTPDisabledTenant, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BRACKET]"},
		{"S6 basic", tenant.VerdictSMTPDisabledMailbox, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [BRACKET]"},
		{"S8", tenant.VerdictSecurityDefaults, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [BRACKET]"},
		{"S9", tenant.VerdictBasicDisabled, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BRACKET]"},
		{"S10", tenant.VerdictBadCredentials, "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [BRACKET]"},
		{"S11", tenant.VerdictCriteriaNotMet, "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BRACKET]"},
		{"S12", tenant.VerdictAccountLocked, "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator. [BRACKET]"},
		{"S13", tenant.VerdictAccountDisabled, "535 5.7.139 Authentication unsuccessful, account has an issue. Contact your administrator. [BRACKET]"},
		// S14: the announced text; the bracket is inferred (replies.go).
		{"S14", tenant.VerdictBasicRetired, "550 5.7.30 Basic authentication is not supported for Client Submission. [BRACKET]"},
	}
	type row struct {
		ids    string
		basic  tenant.Verdict
		bearer tenant.Verdict
		steps  []string
	}
	var tests []row
	for _, b := range basicRows {
		tests = append(tests, row{ids: b.ids, basic: b.v, steps: cat(secure(), authLogin(user, "pw"), []string{"< " + b.txt,
			// go-smtp's client sends a stray "*" after a refusal.
			"> *", "< 500 5.3.3 Unrecognized command '*' [BRACKET]"})})
	}
	tests = append(tests,
		row{ids: "S1+S2 AUTH LOGIN ok, mail accepted", basic: tenant.VerdictOK, steps: cat(secure(), authLogin(user, "pw"), []string{
			"< 235 2.7.0 Authentication successful",
			"> MAIL FROM:<" + user + "> SIZE=10",
			"< 250 2.1.0 Sender OK",
			"> RCPT TO:<anyone@example.org>",
			"< 250 2.1.5 Recipient OK",
			"> DATA",
			"< 354 Start mail input; end with <CRLF>.<CRLF>",
			"> Subject: hi",
			">",
			"> ..dot",
			"> .",
			"< 250 2.0.0 OK <*> [Hostname=" + testHost + "]",
			"> RSET",
			"< 250 2.0.0 Resetting",
			"> QUIT",
			"< 221 2.0.0 Service closing transmission channel",
			"EOF",
		})},
		row{ids: "S2+S3 XOAUTH2 without IR ok", bearer: tenant.VerdictOK, steps: cat(secure(), []string{
			"> AUTH XOAUTH2", "< 334 ", "> " + ir, "< 235 2.7.0 Authentication successful",
		})},
		row{ids: "S5", bearer: tenant.VerdictSMTPDisabledTenant, steps: cat(secure(), []string{
			"> AUTH XOAUTH2 " + ir,
			"< 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BRACKET]",
		})},
		row{ids: "S6 xoauth2", bearer: tenant.VerdictSMTPDisabledMailbox, steps: cat(secure(), []string{
			"> AUTH XOAUTH2 " + ir,
			"< 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [BRACKET]",
		})},
		row{ids: "S15", bearer: tenant.VerdictTokenRejected, steps: cat(secure(), []string{
			"> AUTH XOAUTH2 " + ir, "< 535 5.7.3 Authentication unsuccessful [BRACKET]",
		})},
		row{ids: "S15 malformed XOAUTH2 blob (inferred)", bearer: tenant.VerdictOK, steps: cat(secure(), []string{
			"> AUTH XOAUTH2 " + b64("nonsense"), "< 535 5.7.3 Authentication unsuccessful [BRACKET]",
		})},
		row{ids: "S17", basic: tenant.VerdictOK, steps: cat(secure(), []string{
			"> AUTH PLAIN " + b64("\x00u\x00p"), "< 504 5.7.4 Unrecognized authentication type [BRACKET]",
			"> AUTH CRAM-MD5", "< 504 5.7.4 Unrecognized authentication type [BRACKET]",
		})},
		row{ids: "S20", basic: tenant.VerdictBadCredentials, steps: cat(secure(), authLogin(user, "pw"), []string{
			"< 535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [BRACKET]",
			"> MAIL FROM:<" + user + ">",
			"< 530 5.7.57 Client not authenticated to send mail. [BRACKET]",
		})},
		row{ids: "S22 + §2 no AUTH before STARTTLS", basic: tenant.VerdictOK, steps: cat([]string{"> EHLO client.example"}, ehlo("STARTTLS"), []string{
			"> MAIL FROM:<" + user + ">",
			"< 451 5.7.3 STARTTLS is required to send mail [BRACKET]",
			"> AUTH LOGIN",
			"< 451 5.7.3 STARTTLS is required to send mail [BRACKET]",
		})},
		row{ids: "S22 oversized BDAT in clear", basic: tenant.VerdictOK, steps: cat([]string{"> EHLO client.example"}, ehlo("STARTTLS"), []string{
			"> BDAT 99999999999 LAST",
			"< 451 5.7.3 STARTTLS is required to send mail [BRACKET]", "EOF",
		})},
		row{ids: "S20 oversized BDAT before AUTH", basic: tenant.VerdictOK, steps: cat(secure(), []string{
			"> BDAT 99999999999 LAST",
			"< 530 5.7.57 Client not authenticated to send mail. [BRACKET]", "EOF",
		})},
		row{ids: "oversized BDAT after AUTH (inferred)", basic: tenant.VerdictOK, steps: cat(secure(), authLogin(user, "pw"), []string{
			"< 235 2.7.0 Authentication successful",
			"> BDAT 99999999999 LAST",
			"< 552 5.3.4 Message size exceeds fixed maximum message size [BRACKET]", "EOF",
		})},
		row{ids: "S29", basic: tenant.VerdictOK, steps: cat(secure(), authLogin(user, "pw"), []string{
			"< 235 2.7.0 Authentication successful",
			"> MAIL FROM:<ceo@contoso.com>",
			"< 550 5.7.60 SMTP; Client does not have permissions to send as this sender [BRACKET]",
		})},
		row{ids: "S30 not connected at submission (BDAT)", bearer: tenant.VerdictNotConnected, steps: cat(secure(), []string{
			"> AUTH XOAUTH2 " + ir, "< 235 2.7.0 Authentication successful",
			"> MAIL FROM:<" + user + ">", "< 250 2.1.0 Sender OK",
			"> RCPT TO:<x@example.org>", "< 250 2.1.5 Recipient OK",
			"> BDAT 3 LAST\r\nabc",
			"< 430 4.2.0 STOREDRV; mailbox logon failure; STOREDRV.Submission.Exception:ConnectionFailedTransientException.MapiExceptionLogonFailed; Failed to process message due to a transient exception with message [BeginDiagnosticData]Cannot open mailbox. Server = MN2PR05CA0004.NAMPRD05.PROD.OUTLOOK.COM",
		})},
		row{ids: "S24 throttled closes", basic: tenant.VerdictThrottled, steps: cat(secure(), authLogin(user, "pw"), []string{
			"< 421 4.3.2 Service not active [BRACKET]", "EOF",
		})},
	)
	for _, tc := range tests {
		t.Run(tc.ids, func(t *testing.T) {
			auth := &fakeAuth{era: tenant.Era2026, basic: tc.basic, bearer: tc.bearer}
			_, addr := startServer(t, auth)
			r := dialRaw(t, addr)
			g, _ := r.line()
			m := greetingRE.FindStringSubmatch(g)
			if m == nil {
				t.Fatalf("greeting %q", g)
			}
			session := m[3]
			for _, step := range tc.steps {
				switch {
				case step == "EOF":
					r.expectEOF()
				case step == "TLS":
					r.startTLS()
				case step == ">":
					r.send("")
				case strings.HasPrefix(step, "> "):
					r.send(step[2:])
				case strings.HasPrefix(step, "< "):
					want := step[2:]
					if strings.Contains(want, "<*>") {
						got, _ := r.line()
						re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), regexp.QuoteMeta("<*>"), `<[0-9A-F]{16}@`+regexp.QuoteMeta(testHost)+`>`) + "$"
						if !regexp.MustCompile(re).MatchString(got) {
							t.Fatalf("got %q want %q", got, want)
						}
						continue
					}
					got := r.expect(want)
					if strings.Contains(want, "[BRACKET]") && !strings.HasSuffix(got, " "+session+"]") {
						t.Fatalf("bracket session of %q is not the greeting's %s", got, session)
					}
				default:
					t.Fatalf("bad step %q", step)
				}
			}
		})
	}
}
