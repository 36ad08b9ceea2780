package redact

import (
	"encoding/base64"
	"strings"
	"testing"
)

const canary = "Canary-S3cret!x"

func TestLine(t *testing.T) {
	blob := base64.StdEncoding.EncodeToString([]byte("user=a@contoso.com\x01auth=Bearer " + canary + "\x01\x01"))
	plain := base64.StdEncoding.EncodeToString([]byte("\x00a@contoso.com\x00" + canary))
	cases := []struct{ in, want string }{
		// Transcript lines.
		{"C: a1 LOGIN a@contoso.com " + canary, "C: a1 LOGIN a@contoso.com ****"},
		{"C: a1 AUTHENTICATE XOAUTH2 " + blob, "C: a1 AUTHENTICATE XOAUTH2 ****"},
		{"C: PASS " + canary, "C: PASS ****"},
		{"C: AUTH PLAIN " + plain, "C: AUTH PLAIN ****"},
		{"C: " + blob, "C: ****"},
		{"C: a1 LOGIN a@contoso.com ****", "C: a1 LOGIN a@contoso.com ****"},
		// Lines pasted from application logs, without a transcript prefix.
		{"AUTH XOAUTH2 " + blob, "AUTH XOAUTH2 ****"},
		{">>> AUTH PLAIN " + plain, ">>> AUTH PLAIN ****"},
		{"SMTP> AUTH LOGIN " + plain, "SMTP> AUTH LOGIN ****"},
		{blob, "****"},
		{"Authorization: Bearer eyJ0eXAi.eyJhdWQi.c2ln", "Authorization: Bearer ****"},
		{`{"client_secret": "` + canary + `"}`, `{"client_secret": "****"}`},
		{"password=" + canary + "&user=x", "password=****&user=x"},
		// Server words stay as they are.
		{"A1 NO LOGIN failed.", "A1 NO LOGIN failed."},
		{"2 NO LOGIN failed. [x]", "2 NO LOGIN failed. [x]"},
		{"535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]", "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]"},
		{"334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6"},
		{"Authentication", "Authentication"},
		{"A01 OK AUTHENTICATE completed.", "A01 OK AUTHENTICATE completed."},
	}
	for _, tc := range cases {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestLineTranscript(t *testing.T) {
	tests := []struct{ in, want string }{
		{"C: a1 LOGIN user@x pw123", "C: a1 LOGIN user@x ****"},
		{"C: a1 LOGIN user@x ****", "C: a1 LOGIN user@x ****"},
		{"C: a1 AUTHENTICATE XOAUTH2 dXNlcj1h", "C: a1 AUTHENTICATE XOAUTH2 ****"},
		{"C: a1 AUTHENTICATE PLAIN", "C: a1 AUTHENTICATE PLAIN"},
		{"C: PASS hunter2", "C: PASS ****"},
		{"C: AUTH LOGIN", "C: AUTH LOGIN"},
		{"C: AUTH XOAUTH2 dXNlcj1hAWF1dGg9", "C: AUTH XOAUTH2 ****"},
		{"C: dXNlcj1hAWF1dGg9QmVhcmVy", "C: ****"},
		{"C: EHLO probe.example", "C: EHLO probe.example"},
		{"S: 334 VXNlcm5hbWU6", "S: 334 VXNlcm5hbWU6"},
		{"S: 535 5.7.139 Authentication unsuccessful", "S: 535 5.7.139 Authentication unsuccessful"},
		{"S: + eyJzdGF0dXMiOiI0MDEifQ==", "S: + eyJzdGF0dXMiOiI0MDEifQ=="},
		{"error: token auth=Bearer abc.def.ghi rejected", "error: token auth=Bearer **** rejected"},
		{`{"client_secret":"xyz","access_token":"abc"}`, `{"client_secret":"****","access_token":"****"}`},
	}
	for _, tc := range tests {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextMultiLine(t *testing.T) {
	in := "C: AUTH LOGIN\r\nS: 334 VXNlcm5hbWU6\r\nC: YUBjb250b3NvLmNvbQ==\r\nC: " + base64.StdEncoding.EncodeToString([]byte(canary)) + "\r\nS: 535 5.7.139 Authentication unsuccessful"
	out := Text(in)
	if strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(canary))) {
		t.Fatalf("blob kept:\n%s", out)
	}
	if !strings.Contains(out, "S: 535 5.7.139 Authentication unsuccessful") || !strings.Contains(out, "S: 334 VXNlcm5hbWU6") {
		t.Fatalf("server words lost:\n%s", out)
	}
}

func FuzzLine(f *testing.F) {
	f.Add("C: a1 LOGIN u " + canary)
	f.Add("AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==")
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		if strings.Contains(s, "Bearer "+canary) && strings.Contains(out, canary) {
			t.Fatalf("bearer token kept: %q -> %q", s, out)
		}
	})
}

// A traceback line quoting the login call: the password argument goes, the
// rest stays, and a quote later on the line does not widen the match.
func TestLoginCall(t *testing.T) {
	cases := []struct{ in, want string }{
		{`(535, b'5.7.139 Authentication unsuccessful') server.login('u@contoso.com', 'Pyth0nCanary')`,
			`(535, b'5.7.139 Authentication unsuccessful') server.login('u@contoso.com', '****')`},
		{`M.login("u@contoso.com", "Pyth0nCanary")`, `M.login("u@contoso.com", '****')`},
		{`s.login(user, 'Pyth0nCanary') # 'note'`, `s.login(user, '****') # 'note'`},
		{`M.pass_('Pyth0nCanary')`, `M.pass_('****')`},
		{`server.login('u', 'it\'s-Pyth0nCanary')`, `server.login('u', '****')`},
	}
	for _, tc := range cases {
		if got := Free(tc.in); got != tc.want || strings.Contains(got, "Pyth0nCanary") {
			t.Errorf("Free(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
