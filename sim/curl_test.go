package sim

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// curlRun runs curl -v and returns what the server said (the "< " lines of
// curl's verbose output, IMAP tags and SMTP brackets stripped), what curl
// sent ("> " lines) and curl's exit code.
func curlRun(t *testing.T, curl string, args ...string) (server, client []string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "-v", "--max-time", "20"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("curl: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimRight(l, "\r")
		if rest, ok := strings.CutPrefix(l, "< "); ok {
			server = append(server, stripBracket(imapTag.ReplaceAllString(rest, "")))
		} else if rest, ok := strings.CutPrefix(l, "> "); ok {
			client = append(client, rest)
		}
	}
	return server, client, code
}

var imapTag = regexp.MustCompile(`^A\d{3} `)

// The curl invocations a user would type; mail is a one-line message file.
var curlCases = map[string]func(e Endpoints, pw, tok, mail string) []string{
	"smtp basic": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"--ssl-reqd", "smtp://" + e.SMTP.StartTLS, "-u", e.Demo.User + ":" + pw,
			"--mail-from", e.Demo.User, "--mail-rcpt", e.Demo.User, "-T", mail}
	},
	"smtp xoauth2": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"--ssl-reqd", "smtp://" + e.SMTP.StartTLS, "-u", e.Demo.User + ":",
			"--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", tok,
			"--mail-from", e.Demo.User, "--mail-rcpt", e.Demo.User, "-T", mail}
	},
	"imaps basic": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"imaps://" + e.IMAP.TLS + "/", "-u", e.Demo.User + ":" + pw}
	},
	"imaps xoauth2": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"imaps://" + e.IMAP.TLS + "/", "-u", e.Demo.User + ":", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", tok}
	},
	"imap starttls xoauth2": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"--ssl-reqd", "imap://" + e.IMAP.StartTLS + "/", "-u", e.Demo.User + ":", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", tok}
	},
	"pop3s basic": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"pop3s://" + e.POP.TLS + "/", "-u", e.Demo.User + ":" + pw}
	},
	"pop3s xoauth2": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"pop3s://" + e.POP.TLS + "/", "-u", e.Demo.User + ":", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", tok}
	},
	"pop3 stls xoauth2": func(e Endpoints, pw, tok, mail string) []string {
		return []string{"--ssl-reqd", "pop3://" + e.POP.StartTLS + "/", "-u", e.Demo.User + ":", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", tok}
	},
}

// TestCurl logs in with curl, a client we did not write, for every
// protocol and mechanism in several tenant states, and checks Exchange's
// exact words in curl's transcript.
func TestCurl(t *testing.T) {
	curl := testenv.Require(t, "curl", "/usr/bin/curl")
	type want struct {
		reply string // a server line curl must have received
		code  int    // curl's exit code
		// noCreds: curl must not have sent credentials (it refuses itself).
		noCreds bool
	}
	const (
		curlOK          = 0
		curlLoginDenied = 67
	)
	states := []struct {
		name  string
		setup []string
		want  map[string]want
	}{
		{"demo tenant (2026)", nil, map[string]want{
			"smtp basic":            {s2, curlOK, false},                                                                                                                                  // S2
			"smtp xoauth2":          {s2, curlOK, false},                                                                                                                                  // S2
			"imaps basic":           {"* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+", curlLoginDenied, true}, // I13
			"imaps xoauth2":         {i4, curlOK, false},                                                                                                                                  // I4
			"imap starttls xoauth2": {i4, curlOK, false},                                                                                                                                  // I4
			"pop3s basic":           {p8, curlLoginDenied, false},                                                                                                                         // P8 (curl uses AUTH PLAIN)
			"pop3s xoauth2":         {p5, curlOK, false},                                                                                                                                  // P5
			"pop3 stls xoauth2":     {p5, curlOK, false},                                                                                                                                  // P9, P5
		}},
		{"SMTP AUTH off for the tenant", []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, map[string]want{
			"smtp basic":    {s4, curlLoginDenied, false}, // S4
			"smtp xoauth2":  {s4, curlLoginDenied, false}, // S5
			"pop3s xoauth2": {p5, curlOK, false},
			"imaps xoauth2": {i4, curlOK, false},
		}},
		{"era 2023", []string{"Set-SimTenant -Era 2023"}, map[string]want{
			"imaps basic":   {i3, curlLoginDenied, false}, // I3: curl picks AUTHENTICATE PLAIN
			"pop3s basic":   {p6, curlLoginDenied, false}, // AUTH PLAIN refusal (inferred wording)
			"smtp basic":    {s2, curlOK, false},
			"imaps xoauth2": {i4, curlOK, false},
		}},
		{"IMAP and POP disabled on the mailbox", []string{"Set-CASMailbox demo@contoso.com -ImapEnabled $false -PopEnabled $false"}, map[string]want{
			"imaps xoauth2": {i6, 21, false},              // I4, then I6 answers curl's LIST (curl exit 21)
			"pop3s xoauth2": {p6, curlLoginDenied, false}, // P6, "POP not enabled suspected"
			"smtp xoauth2":  {s2, curlOK, false},
		}},
	}
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			s, e := startSim(t)
			run(t, s, st.setup...)
			tok := appToken(t, e)
			mail := filepath.Join(t.TempDir(), "mail.txt")
			if err := os.WriteFile(mail, []byte("Subject: exoprobe curl test\r\n\r\nhello\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(st.want))
			for n := range st.want {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, name := range names {
				w := st.want[name]
				t.Run(name, func(t *testing.T) {
					args := append([]string{"--cacert", e.CAFile}, curlCases[name](e, e.Demo.Password, tok, mail)...)
					server, client, code := curlRun(t, curl, args...)
					if !slices.Contains(server, w.reply) {
						t.Errorf("curl did not receive %q; server said:\n  %s", w.reply, strings.Join(server, "\n  "))
					}
					if code != w.code {
						t.Errorf("curl exit code %d, want %d", code, w.code)
					}
					if w.noCreds {
						for _, c := range client {
							if strings.Contains(c, "LOGIN") || strings.Contains(c, "AUTHENTICATE") {
								t.Errorf("curl sent %q although the server offers no password mechanism", c)
							}
						}
					}
				})
			}
		})
	}
}

// TestDoneWhen is issue 2's acceptance walk: start the emulator, read
// endpoints.json like a newcomer's script, log in with curl by password and
// by token, switch SMTP AUTH off for the tenant through the admin HTTP API
// (what `exoprobe sim exec` does), and see curl's next SMTP AUTH, Basic and
// XOAUTH2, get Exchange's exact tenant-disabled reply (S4, S5).
func TestDoneWhen(t *testing.T) {
	curl := testenv.Require(t, "curl", "/usr/bin/curl")
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	e, err := ReadEndpoints(filepath.Join(dir, EndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	if e.Demo == nil || e.Demo.Password == "" || e.Demo.ClientSecret == "" {
		t.Fatalf("endpoints.json lacks demo credentials: %+v", e.Demo)
	}
	mail := filepath.Join(dir, "mail.txt")
	os.WriteFile(mail, []byte("Subject: hi\r\n\r\nhi\r\n"), 0o600)
	tok := appToken(t, *e)

	smtp := func(mech string) ([]string, int) {
		args := append([]string{"--cacert", e.CAFile}, curlCases["smtp "+mech](*e, e.Demo.Password, tok, mail)...)
		server, _, code := curlRun(t, curl, args...)
		return server, code
	}
	for _, mech := range []string{"basic", "xoauth2"} {
		server, code := smtp(mech)
		if code != 0 || !slices.Contains(server, s2) {
			t.Fatalf("before: curl smtp %s: exit %d, server said %q", mech, code, server)
		}
	}
	server, _, code := curlRun(t, curl, append([]string{"--cacert", e.CAFile}, curlCases["imaps xoauth2"](*e, "", tok, "")...)...)
	if code != 0 || !slices.Contains(server, i4) {
		t.Fatalf("before: curl imaps xoauth2: exit %d, server said %q", code, server)
	}

	adminToken, err := e.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	out := adminExec(t, e.AdminURL, adminToken, "Set-TransportConfig -SmtpClientAuthenticationDisabled $True")
	if out.StatusCode != 200 || out.Results[0].Error != "" {
		t.Fatalf("admin exec: %d %+v", out.StatusCode, out.Results)
	}

	for _, mech := range []string{"basic", "xoauth2"} {
		server, code := smtp(mech)
		if code != 67 || !slices.Contains(server, s4) {
			t.Errorf("after: curl smtp %s: exit %d, server said %q, want %q (S4/S5)", mech, code, server, s4)
		}
	}
}
