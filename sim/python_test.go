package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// pyClient logs in with Python's imaplib, poplib and smtplib — clients we
// did not write — and prints the server's exact words as JSON. It records
// raw IMAP lines itself, because imaplib's exceptions drop the tag and
// status; poplib and smtplib keep the reply whole.
const pyClient = `
import base64, imaplib, json, poplib, smtplib, ssl, sys

spec = json.load(sys.stdin)
ctx = ssl.create_default_context(cafile=spec["ca"])

def xo(user, tok):
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)

class RecIMAP(imaplib.IMAP4):
    def _get_line(self):
        line = super()._get_line()
        self.rec.append(line.decode())
        return line

class RecIMAPS(imaplib.IMAP4_SSL):
    def _get_line(self):
        line = super()._get_line()
        self.rec.append(line.decode())
        return line

def tagged(m):
    # imaplib's tagged completion is the last line read; drop the tag.
    return m.rec[-1].split(" ", 1)[1]

def imap(op):
    host, port = op["addr"].rsplit(":", 1)
    if op["starttls"]:
        RecIMAP.rec = []
        m = RecIMAP(host, int(port))
        m.rec = []
        m.starttls(ssl_context=ctx)
    else:
        RecIMAPS.rec = []
        m = RecIMAPS(host, int(port), ssl_context=ctx)
        m.rec = []
    res = {}
    try:
        if op["mech"] == "basic":
            m.login(op["user"], op["secret"])
        else:
            m.authenticate("XOAUTH2", lambda _: xo(op["user"], op["secret"]).encode())
        res["auth"] = tagged(m)
    except imaplib.IMAP4.error:
        res["auth"] = tagged(m)
        return res
    try:
        m.select("INBOX", readonly=True)
    except imaplib.IMAP4.error:
        pass
    res["next"] = tagged(m)
    return res

def pop(op):
    host, port = op["addr"].rsplit(":", 1)
    if op["starttls"]:
        p = poplib.POP3(host, int(port))
        p.stls(context=ctx)
    else:
        p = poplib.POP3_SSL(host, int(port), context=ctx)
    res = {}
    try:
        if op["mech"] == "basic":
            p.user(op["user"])
            res["auth"] = p.pass_(op["secret"]).decode()
        else:
            p._shortcmd("AUTH XOAUTH2")
            res["auth"] = p._shortcmd(base64.b64encode(xo(op["user"], op["secret"]).encode()).decode()).decode()
    except poplib.error_proto as e:
        res["auth"] = e.args[0].decode()
        return res
    res["next"] = p._shortcmd("STAT").decode()
    p.quit()
    return res

def smtp(op):
    host, port = op["addr"].rsplit(":", 1)
    s = smtplib.SMTP(host, int(port))
    s.starttls(context=ctx)
    s.ehlo()
    res = {}
    try:
        if op["mech"] == "basic":
            code, msg = s.login(op["user"], op["secret"])
        else:
            code, msg = s.auth("XOAUTH2", lambda challenge=None: xo(op["user"], op["secret"]), initial_response_ok=True)
        res["auth"] = "%d %s" % (code, msg.decode())
    except smtplib.SMTPAuthenticationError as e:
        res["auth"] = "%d %s" % (e.smtp_code, e.smtp_error.decode())
    return res

out = []
for op in spec["ops"]:
    out.append({"imap": imap, "pop": pop, "smtp": smtp}[op["proto"]](op))
json.dump(out, sys.stdout)
`

type pyOp struct {
	Proto    string `json:"proto"`
	Addr     string `json:"addr"`
	StartTLS bool   `json:"starttls"`
	Mech     string `json:"mech"`
	User     string `json:"user"`
	Secret   string `json:"secret"`
}

type pyResult struct {
	Auth string `json:"auth"`
	Next string `json:"next"`
}

func runPython(t *testing.T, python, ca string, ops []pyOp) []pyResult {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"ca": ca, "ops": ops})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", pyClient)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res []pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return res
}

// TestPython drives every protocol × mechanism with Python's standard
// library clients in several tenant states and checks the exact replies.
func TestPython(t *testing.T) {
	python := testenv.Require(t, "python3", "/usr/bin/python3")
	type row struct {
		proto, mech string
		starttls    bool
		want, next  string
	}
	states := []struct {
		name  string
		setup []string
		rows  []row
	}{
		{"demo tenant (2026)", nil, []row{
			{"smtp", "basic", true, s2, ""},                                     // S1 S2 (smtplib picks AUTH LOGIN)
			{"smtp", "xoauth2", true, s2, ""},                                   // S2
			{"imap", "basic", false, i12, ""},                                   // I12
			{"imap", "xoauth2", false, i4, "OK [READ-ONLY] EXAMINE completed."}, // I4
			{"imap", "xoauth2", true, i4, "OK [READ-ONLY] EXAMINE completed."},  // I4 over STARTTLS
			{"pop", "basic", false, p8, ""},                                     // P8
			{"pop", "basic", true, p8, ""},                                      // P9 then P8
			{"pop", "xoauth2", false, p5, "+OK 0 0"},                            // P4 P5
			{"pop", "xoauth2", true, p5, "+OK 0 0"},                             // P9 P4 P5
		}},
		{"SMTP AUTH off for the tenant", []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, []row{
			{"smtp", "basic", true, s4, ""},   // S4
			{"smtp", "xoauth2", true, s4, ""}, // S5
		}},
		{"SMTP AUTH off for the mailbox", []string{"Set-CASMailbox -Identity demo@contoso.com -SmtpClientAuthenticationDisabled $true"}, []row{
			{"smtp", "basic", true, s6, ""},   // S6
			{"smtp", "xoauth2", true, s6, ""}, // S6
		}},
		{"era 2023", []string{"Set-SimTenant -Era 2023"}, []row{
			{"imap", "basic", false, i2, ""}, // I2
			{"pop", "basic", false, p3, ""},  // P3
		}},
		// 2023: the 2026 IMAP service advertises LOGINDISABLED to every
		// tenant and so refuses LOGIN whatever the policy says.
		{"Basic POP/IMAP allowed by policy (2023)", []string{
			"Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false",
			"New-AuthenticationPolicy -Name 'Allow legacy'",
			"Set-AuthenticationPolicy 'Allow legacy' -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp",
			"Set-User demo@contoso.com -AuthenticationPolicy 'Allow legacy'",
			"Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
		}, []row{
			{"pop", "basic", false, "+OK User successfully logged on.", "+OK 0 0"},               // P2
			{"imap", "basic", false, "OK LOGIN completed.", "OK [READ-ONLY] EXAMINE completed."}, // I1
		}},
		{"IMAP and POP disabled on the mailbox", []string{"Set-CASMailbox demo@contoso.com -ImapEnabled $false -PopEnabled $false"}, []row{
			{"imap", "xoauth2", false, i4, i6}, // I4 then I6
			{"pop", "xoauth2", false, p6, ""},  // P6
		}},
	}
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			s, e := startSim(t)
			run(t, s, st.setup...)
			tok := appToken(t, e)
			var ops []pyOp
			for _, r := range st.rows {
				op := pyOp{Proto: r.proto, StartTLS: r.starttls, Mech: r.mech, User: e.Demo.User, Secret: e.Demo.Password}
				if r.mech == "xoauth2" {
					op.Secret = tok
				}
				switch {
				case r.proto == "smtp":
					op.Addr = e.SMTP.StartTLS
				case r.proto == "imap" && r.starttls:
					op.Addr = e.IMAP.StartTLS
				case r.proto == "imap":
					op.Addr = e.IMAP.TLS
				case r.starttls:
					op.Addr = e.POP.StartTLS
				default:
					op.Addr = e.POP.TLS
				}
				ops = append(ops, op)
			}
			res := runPython(t, python, e.CAFile, ops)
			if len(res) != len(ops) {
				t.Fatalf("python returned %d results for %d logins", len(res), len(ops))
			}
			for i, r := range st.rows {
				got := res[i]
				if r.proto == "smtp" {
					got.Auth = stripBracket(got.Auth)
				}
				label := r.proto + " " + r.mech
				if r.starttls {
					label += " starttls"
				}
				if got.Auth != r.want {
					t.Errorf("%s: auth reply %q, want %q", label, got.Auth, r.want)
				}
				if r.next != "" && strings.TrimSpace(got.Next) != r.next {
					t.Errorf("%s: next reply %q, want %q", label, got.Next, r.next)
				}
			}
		})
	}
}
