package smtpd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// curl, a client we did not write, submits by password and by token over
// STARTTLS and sees Exchange's words.
func TestCurl(t *testing.T) {
	curl := testenv.Require(t, "curl", "/usr/bin/curl")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	msg := filepath.Join(dir, "msg.txt")
	if err := os.WriteFile(ca, getPKI(t).caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msg, []byte("Subject: probe\r\n\r\nhello\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const user = "user@contoso.com"
	bearer := []string{"--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", "tok", "-u", user + ":"}
	basic := []string{"--login-options", "AUTH=LOGIN", "-u", user + ":secret"}
	tests := []struct {
		name string
		auth *fakeAuth
		args []string
		ok   bool
		want string
	}{
		{"login ok (S1, S2)", &fakeAuth{basic: tenant.VerdictOK}, basic, true, "< 235 2.7.0 Authentication successful"},
		{"xoauth2 ok (S2)", &fakeAuth{bearer: tenant.VerdictOK}, bearer, true, "< 235 2.7.0 Authentication successful"},
		{"login tenant off (S4)", &fakeAuth{basic: tenant.VerdictSMTPDisabledTenant}, basic, false,
			"< 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [" + testHost + " "},
		{"xoauth2 tenant off (S5)", &fakeAuth{bearer: tenant.VerdictSMTPDisabledTenant}, bearer, false,
			"< 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [" + testHost + " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.auth.era = tenant.Era2026
			_, addr := startServer(t, tc.auth)
			args := append([]string{"-v", "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", ca,
				"--mail-from", user, "--mail-rcpt", "x@example.org", "--upload-file", msg}, tc.args...)
			args = append(args, "smtp://"+addr)
			out, err := exec.Command(curl, args...).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("curl err %v, want ok=%v\n%s", err, tc.ok, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("curl output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
