package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// The shapes of issue 9: a credential is scrubbed wherever it stands on
// the line, after a timestamp or a logger's prefix included.
func TestCredentialShapesAnywhere(t *testing.T) {
	const pw = "Kan4ry-S3cr3t!x9"
	plain := base64.StdEncoding.EncodeToString([]byte("\x00u@contoso.com\x00" + pw))
	basic := base64.StdEncoding.EncodeToString([]byte("u@contoso.com:" + pw))
	xo := base64.StdEncoding.EncodeToString([]byte("user=u@contoso.com\x01auth=Bearer " + pw + "\x01\x01"))
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0." + pw
	cases := []struct{ in, gone, keep string }{
		{"2026-12-03T10:00:00Z AUTH PLAIN " + plain, plain, "2026-12-03T10:00:00Z AUTH PLAIN"},
		{"Dec  3 10:00:00 host app[123]: C: AUTH PLAIN " + plain, plain, "app[123]"},
		{"[2026-12-03 10:00:00] DEBUG smtp: AUTH XOAUTH2 " + xo, xo, "DEBUG smtp: AUTH XOAUTH2"},
		{"send: 'AUTH PLAIN " + plain + "\\r\\n'", plain, "send: 'AUTH PLAIN"},
		{"10:00:01 a1 AUTHENTICATE PLAIN " + plain, plain, "a1 AUTHENTICATE PLAIN"},
		{"Authorization: Basic " + basic, basic, "Authorization: Basic"},
		{"GET /x HTTP/1.1 Authorization: Basic " + basic + " Host: y", basic, "Host: y"},
		{`headers={"Authorization": "Bearer ` + pw + `"}`, pw, "Authorization"},
		{"2026-12-03 10:00:00 C: a1 LOGIN u@contoso.com " + pw, pw, "a1 LOGIN u@contoso.com"},
		{`imaplib: a1 LOGIN "u@contoso.com" "` + pw + `"`, pw, "a1 LOGIN"},
		{"smtp pass=" + pw + " user=u", pw, "user=u"},
		{"login failed user=u password=" + url.QueryEscape(pw), url.QueryEscape(pw), "login failed"},
		{"SMTP_PASSWORD=" + pw, pw, "SMTP_PASSWORD="},
		{"token=" + jwt, pw, "token="},
		{"got " + jwt + " from cache", pw, "from cache"},
		{"secret: " + pw, pw, "secret:"},
		{`secret: "` + pw + `"`, pw, "secret:"},
		{"dial imaps://u%40contoso.com:" + url.QueryEscape(pw) + "@outlook.office365.com:993/ failed", url.QueryEscape(pw), "@outlook.office365.com:993/ failed"},
		{"smtp://u:" + pw + "@smtp.office365.com:587", pw, "smtp.office365.com:587"},
		{"2026-12-03 C: " + plain, plain, "2026-12-03"},
		{"client said " + xo + " then", xo, "then"},
	}
	for _, c := range cases {
		got := Line(c.in)
		if strings.Contains(got, c.gone) || !strings.Contains(got, c.keep) {
			t.Errorf("Line(%q)\n got %q\n(want %q gone, %q kept)", c.in, got, c.gone, c.keep)
		}
	}
}

// AUTH LOGIN sends user and password as bare base64 lines after 334
// challenges; a log prefix must not hide them.
func TestTextChallengeResponse(t *testing.T) {
	pw := base64.StdEncoding.EncodeToString([]byte("Kan4ry-S3cr3t!x9"))
	in := "10:00:00 S: 334 VXNlcm5hbWU6\n10:00:00 C: dUBjb250b3NvLmNvbQ==\n10:00:01 S: 334 UGFzc3dvcmQ6\n10:00:01 C: " + pw +
		"\nreply: b'334 UGFzc3dvcmQ6\\r\\n'\nsend: '" + pw + "\\r\\n'\n" +
		"* OK\n+ Ready for literal\nKan4ry-S3cr3t!x9\n" +
		"10:00:02 S: 535 5.7.139 Authentication unsuccessful"
	out := Text(in)
	if strings.Contains(out, pw) || strings.Contains(out, "Kan4ry") {
		t.Fatalf("response kept:\n%s", out)
	}
	if !strings.Contains(out, "S: 535 5.7.139 Authentication unsuccessful") || !strings.Contains(out, "S: 334 UGFzc3dvcmQ6") {
		t.Fatalf("server words lost:\n%s", out)
	}
	// A pasted reply that follows a challenge is a reply, not a credential.
	in = "334 UGFzc3dvcmQ6\n535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
	if out := Text(in); out != in {
		t.Fatalf("reply after a challenge changed:\n%s", out)
	}
}

// Server words and capability lists stay as they are.
func TestServerWordsKept(t *testing.T) {
	for _, s := range []string{
		"250-AUTH PLAIN LOGIN XOAUTH2",
		"250 AUTH LOGIN XOAUTH2",
		"+OK SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER",
		"* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
		"A1 NO LOGIN failed.",
		"a1 NO LOGIN failed because the account is locked",
		"A01 NO AUTHENTICATE failed.",
		"A01 OK AUTHENTICATE completed.",
		"535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]",
		"AADSTS50126: Error validating credentials due to invalid username or password.",
		"-ERR Logon failure: unknown user name or bad password.",
		"Basic authentication is disabled for this tenant",
		"530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful",
		"https://aka.ms/smtp_auth_disabled",
		"Visit https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online",
	} {
		if got := Line(s); got != s {
			t.Errorf("Line(%q) = %q", s, got)
		}
	}
}

// Error codes that happen to be valid base64 are not SASL blobs.
func TestCodesKept(t *testing.T) {
	for _, s := range []string{"AADSTS530035: BlockedBySecurityDefaults - Access has been blocked by security defaults.",
		"AADSTS50126 AADSTS700016 AADSTS7000215", "Trace ID: 0b5a1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d"} {
		if got := Text(s); got != s {
			t.Errorf("Text(%q) = %q", s, got)
		}
	}
}
