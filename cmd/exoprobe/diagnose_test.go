package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// run calls a subcommand through the registry, as dispatch does.
func runRegistered(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	sc, ok := subcommands[name]
	if !ok {
		t.Fatalf("subcommand %q not registered", name)
	}
	var out, errb bytes.Buffer
	code := sc.run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDiagnoseCommand(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		cause string
	}{
		{"nodemailer", []string{"--protocol", "smtp", "Invalid login: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]"}, "smtp_auth_disabled_tenant"},
		{"flags after text", []string{"535: 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", "--protocol", "smtp"}, "smtp_auth_disabled_mailbox"},
		{"python split over args", []string{"--protocol", "smtp", "--mechanism", "basic", "(535,", "b'5.7.139", "Authentication", "unsuccessful,", "basic", "authentication", "is", "disabled.", "[BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]')"}, "basic_auth_disabled"},
		{"xoauth2 generic", []string{"--protocol", "imap", "--mechanism", "xoauth2", "A01 NO AUTHENTICATE failed."}, "oauth_token_invalid"},
		{"success", []string{"--protocol", "pop", "+OK User successfully authenticated."}, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runRegistered(t, "diagnose", append(c.args, "--output", "json")...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %s", code, errs)
			}
			var doc struct {
				Attempts []struct {
					Cause string `json:"cause"`
				} `json:"attempts"`
				Findings []struct {
					Cause  string `json:"cause"`
					Remedy struct {
						Summary string `json:"summary"`
					} `json:"remedy"`
				} `json:"findings"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			if len(doc.Attempts) != 1 || doc.Attempts[0].Cause != c.cause {
				t.Fatalf("cause %+v, want %s\n%s", doc.Attempts, c.cause, out)
			}
			if c.cause != "ok" && (len(doc.Findings) != 1 || doc.Findings[0].Remedy.Summary == "") {
				t.Fatalf("finding without remedy: %s", out)
			}
		})
	}
}

func TestDiagnoseStdinAndText(t *testing.T) {
	old := diagnoseStdin
	defer func() { diagnoseStdin = old }()
	diagnoseStdin = strings.NewReader("The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator. [CH2PR19CA0002.namprd19.prod.outlook.com 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]\n")
	code, out, errs := runRegistered(t, "diagnose", "--protocol", "smtp", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"account_locked", "Account locked", "SERVER SAID"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	diagnoseStdin = strings.NewReader("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.")
	code, out, _ = runRegistered(t, "diagnose", "--protocol", "smtp", "--lang", "ja")
	if code != exitOK || !strings.Contains(out, "security_defaults") || !strings.Contains(out, "セキュリティの既定値") || !strings.Contains(out, "Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false") {
		t.Errorf("ja from diagnoseStdin: exit %d\n%s", code, out)
	}
}

func TestDiagnoseUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"535 x"},                   // no protocol
		{"--protocol", "nntp", "x"}, // bad protocol
		{"--protocol", "smtp", "--mechanism", "ntlm", "x"},
		{"--protocol", "smtp", "--output", "xml", "x"},
		{"--protocol", "smtp", "--lang", "fr", "x"},
		{"--protocol", "smtp", "   "},
		{"--bogus"},
	} {
		code, out, errs := runRegistered(t, "diagnose", args...)
		if code != exitUsage || out != "" || errs == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestExplainCommand(t *testing.T) {
	code, out, _ := runRegistered(t, "explain", "smtp_auth_disabled_tenant")
	if code != exitOK || !strings.Contains(out, "PS> Set-TransportConfig -SmtpClientAuthenticationDisabled $False") || !strings.Contains(out, "PS> Get-TransportConfig | Select SmtpClientAuthenticationDisabled") {
		t.Errorf("explain: %d\n%s", code, out)
	}
	code, out, _ = runRegistered(t, "explain", "--lang", "ja", "basic_auth_disabled")
	if code != exitOK || !strings.Contains(out, "基本認証が無効") || !strings.Contains(out, "修正 (PowerShell)") || !strings.Contains(out, "Set-AuthenticationPolicy -Identity <policy> -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp") {
		t.Errorf("explain ja: %d\n%s", code, out)
	}
	code, out, _ = runRegistered(t, "explain", "protocol_disabled", "--protocol", "imap")
	if code != exitOK || !strings.Contains(out, "Set-CasMailbox <mailbox> -ImapEnabled $true") || strings.Contains(out, "PopEnabled $true") {
		t.Errorf("explain --protocol imap: %d\n%s", code, out)
	}
	code, out, _ = runRegistered(t, "explain", "--list")
	if code != exitOK || len(strings.Split(strings.TrimSpace(out), "\n")) < 20 || !strings.Contains(out, "auth_mechanism_unsupported") {
		t.Errorf("explain --list: %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"no_such_cause"}, {"a", "b"}, {"--list", "ok"}, {"--lang", "de", "ok"}} {
		code, _, errs := runRegistered(t, "explain", args...)
		if code != exitUsage || errs == "" {
			t.Errorf("explain %q: exit %d, stderr %q", args, code, errs)
		}
	}
}

// Issue 9: a pasted log with credentials in every shape never echoes them,
// in text or JSON.
func TestDiagnoseNeverEchoesCredentials(t *testing.T) {
	const pw = "Kan4ry-S3cr3t!x9"
	plain := "AHVAY29udG9zby5jb20AS2FuNHJ5LVMzY3IzdCF4OQ==" // \0u@contoso.com\0pw
	log := strings.Join([]string{
		"2026-12-03T10:00:00Z DEBUG smtp: AUTH PLAIN " + plain,
		"Authorization: Basic dUBjb250b3NvLmNvbTpLYW40cnktUzNjcjN0IXg5",
		"10:00:01 C: a1 LOGIN u@contoso.com " + pw,
		"config: pass=" + pw + " token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig secret: " + pw,
		"dial smtp://u:" + pw + "@smtp.office365.com:587",
		"535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.",
	}, "\n")
	for _, output := range []string{"text", "json"} {
		code, out, errs := runRegistered(t, "diagnose", "--protocol", "smtp", "--output", output, log)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, bad := range []string{pw, plain, "dUBjb250b3NvLmNvbTpLYW40cnktUzNjcjN0IXg5", "eyJzdWIiOiJ1In0"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s output echoes %q:\n%s", output, bad, out)
			}
		}
		if !strings.Contains(out, "bad_credentials") {
			t.Errorf("%s output lost the diagnosis:\n%s", output, out)
		}
	}
}

// Issue 9: a reply pasted with escape sequences reaches the terminal
// inert, in text and in JSON (which stays valid).
func TestDiagnoseInert(t *testing.T) {
	reply := "535 5.7.139 Authentication unsuccessful\x1b]0;pwned\x07\r\x1b[2K ok \u202eexe.txt"
	for _, output := range []string{"text", "json"} {
		var out, errb bytes.Buffer
		if code := dispatch([]string{"diagnose", "--protocol", "smtp", "--output", output, reply}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		s := out.String()
		if strings.ContainsAny(s, "\x1b\x07\r\u202e") {
			t.Errorf("%s output interprets control characters: %q", output, s)
		}
		if output == "json" && !json.Valid(out.Bytes()) {
			t.Errorf("JSON invalid: %s", s)
		}
	}
}
