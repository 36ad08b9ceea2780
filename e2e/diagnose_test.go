package e2e

import (
	"strings"
	"testing"
)

// The 535 rows of exo-responses.md, verbatim with their per-server bracket,
// and the cause each must get. S11 is Conditional Access / MFA by
// Microsoft's documentation; without a token request to tell them apart,
// the catalog says conditional_access.
var corpus535 = []struct{ row, text, cause string }{
	{"S4", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]", "smtp_auth_disabled_tenant"},
	{"S6", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", "smtp_auth_disabled_mailbox"},
	{"S8", "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", "security_defaults"},
	{"S9", "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PN0PR01CA0024.INDPRD01.PROD.OUTLOOK.COM 2025-01-26T18:54:30.055Z 08DD3DD7D75D7743]", "basic_auth_disabled"},
	{"S10", "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]", "bad_credentials"},
	{"S11", "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0716.namprd03.prod.outlook.com 2026-07-01T01:57:31.695Z 08DED6A3FAA75B29]", "conditional_access"},
	{"S12", "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator. [CH2PR19CA0002.namprd19.prod.outlook.com 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]", "account_locked"},
	{"S13", "535 5.7.139 Authentication unsuccessful, account has an issue. Contact your administrator. [AM8P190CA0003.EURP190.PROD.OUTLOOK.COM 2024-10-04T07:21:07.773Z 08DCE3FEF68EE81B]", "account_disabled"},
}

// clientWrappers are how applications log an SMTP reply (exo-responses
// §1 preamble and §5a.9). They take the reply with its code.
var clientWrappers = []struct {
	name string
	wrap func(reply string) string
}{
	{"raw", func(r string) string { return r }},
	{"nodemailer", func(r string) string { return "Error: Invalid login: " + r }},
	{"dotnet", func(r string) string {
		return "System.Net.Mail.SmtpException: The SMTP server requires a secure connection or the client was not authenticated. The server response was: " + strings.TrimPrefix(r, "535 ")
	}},
	{"dotnet-57", func(r string) string {
		return "The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: " + r
	}},
	{"python", func(r string) string {
		return "smtplib.SMTPAuthenticationError: (535, b'" + strings.TrimPrefix(r, "535 ") + "')"
	}},
	{"mailkit", func(r string) string {
		return "MailKit.Security.AuthenticationException: 535: " + strings.TrimPrefix(r, "535 ")
	}},
}

// TestDiagnoseCorpusWithWrappers pastes every 535 text of the corpus, in
// every client's wrapping, into `exoprobe diagnose` on stdin, and as an
// argument.
func TestDiagnoseCorpusWithWrappers(t *testing.T) {
	for _, row := range corpus535 {
		for _, w := range clientWrappers {
			t.Run(row.row+"/"+w.name, func(t *testing.T) {
				t.Parallel()
				pasted := w.wrap(row.text)
				r := run(t, pasted+"\n", "diagnose", "--protocol", "smtp", "--output", "json", "-")
				if r.code != 0 {
					t.Fatalf("stdin: %s", r)
				}
				d := parseCheck(t, r)
				if len(d.Attempts) != 1 || *d.Attempts[0].Cause != row.cause {
					t.Fatalf("stdin: want cause %s for %q\n%s", row.cause, pasted, r)
				}
				if len(d.Findings) != 1 || *d.Findings[0].Cause != row.cause || *d.Findings[0].Remedy.Summary == "" {
					t.Errorf("stdin: want one finding %s with a remedy\n%s", row.cause, r)
				}
				// As an argument, with the mechanism an admin would add,
				// in text form.
				r = run(t, "", "diagnose", "--protocol", "smtp", "--mechanism", "basic", pasted)
				if r.code != 0 || !strings.Contains(r.stdout, row.cause) {
					t.Errorf("argument: want %s in the text\n%s", row.cause, r)
				}
			})
		}
	}
}
