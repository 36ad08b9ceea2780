package imapd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// curl, a client we did not write, logs in by token and by password and
// sees Exchange's words.
func TestCurl(t *testing.T) {
	curl := testenv.Require(t, "curl", "/usr/bin/curl")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, getPKI(t).caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		auth   *fakeAuth
		args   []string
		ok     bool
		stderr string // expected in curl's verbose trace
	}{
		{"xoauth2 ok", &fakeAuth{era: tenant.Era2026, bearer: tenant.VerdictOK},
			[]string{"--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", "tok", "-u", "user@contoso.com:"}, true,
			"< A002 OK AUTHENTICATE completed."},
		{"xoauth2 refused (I5)", &fakeAuth{era: tenant.Era2026, bearer: tenant.VerdictTokenRejected},
			[]string{"--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", "tok", "-u", "user@contoso.com:"}, false,
			"NO AUTHENTICATE failed."},
		// With LOGINDISABLED and no AUTH=PLAIN curl will not send a
		// password at all, as against Exchange (I12's own words are
		// covered by TestFidelity; curl 7.88 cannot force LOGIN).
		{"password 2026 (I13)", &fakeAuth{era: tenant.Era2026, basic: tenant.VerdictOK},
			[]string{"-u", "user@contoso.com:secret"}, false,
			"No known authentication mechanisms supported"},
		{"password 2023 ok (I1)", &fakeAuth{era: tenant.Era2023, basic: tenant.VerdictOK},
			[]string{"-u", "user@contoso.com:secret"}, true,
			"OK AUTHENTICATE completed."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := startServer(t, tc.auth)
			args := append([]string{"-v", "-sS", "--max-time", "20", "--cacert", ca}, tc.args...)
			args = append(args, "imaps://"+addr+"/")
			out, err := exec.Command(curl, args...).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("curl err %v, want ok=%v\n%s", err, tc.ok, out)
			}
			if !strings.Contains(string(out), tc.stderr) {
				t.Fatalf("curl output lacks %q:\n%s", tc.stderr, out)
			}
			if tc.ok && !strings.Contains(string(out), `"/" INBOX`) {
				t.Fatalf("curl did not list INBOX:\n%s", out)
			}
		})
	}
}
