package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/testenv"
)

// dovecot is a private Dovecot instance started for one test.
type dovecot struct {
	dir                      string
	imaps, imap, pop3s, smtp string // host:port
	caFile                   string
	user, password           string
	issuer, clientID         string
	key                      []byte // HS256
	logFile                  string
}

// log returns Dovecot's log, for failure messages.
func (d *dovecot) log() string {
	b, err := os.ReadFile(d.logFile)
	if err != nil {
		return "(no Dovecot log: " + err.Error() + ")"
	}
	return string(b)
}

// token mints an HS256 JWT the oauth2 passdb accepts, with claims changed
// by mod.
func (d *dovecot) token(mod func(c map[string]any)) string {
	now := time.Now()
	c := map[string]any{"iss": d.issuer, "aud": d.clientID, "email": d.user, "sub": "alice",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(c)
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// startDovecot runs Dovecot from Debian's packages on free 127.0.0.1 ports
// as described in DESIGN.md, and stops its whole process group when the
// test ends.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin := testenv.Require(t, "dovecot", "/usr/sbin/dovecot")

	// Not t.TempDir: as root, Dovecot's unprivileged users must traverse
	// the directory, and t.TempDir's parent is 0700.
	dir, err := os.MkdirTemp("", "exoprobe-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, sub := range []string{"run", "state", "mail", "keys/default/HS256"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	d := &dovecot{dir: dir, user: "alice@example.test", password: "dovecot-" + randHex(t, 8),
		issuer: "https://issuer.exoprobe.test", clientID: "exoprobe-e2e", logFile: filepath.Join(dir, "dovecot.log")}
	d.key = []byte(randHex(t, 16))
	d.caFile = writeTestPKI(t, dir)
	mustWrite(t, filepath.Join(dir, "passwd"), d.user+":{PLAIN}"+d.password+"::::::\n")
	mustWrite(t, filepath.Join(dir, "keys/default/HS256/default"), base64.StdEncoding.EncodeToString(d.key))

	// Login processes must not run as root: as root, use the package's
	// own unprivileged users; otherwise run everything as the current user.
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	grp, err := user.LookupGroupId(cur.Gid)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{
		"Dir": dir, "Name": strconv.Itoa(os.Getpid()) + "-" + filepath.Base(dir),
		"LoginUser": cur.Username, "InternalUser": cur.Username, "MailUser": cur.Username, "MailGroup": grp.Name,
		"Issuer": d.issuer, "ClientID": d.clientID,
	}
	if os.Geteuid() == 0 {
		vars["LoginUser"], vars["InternalUser"], vars["MailUser"], vars["MailGroup"] = "dovenull", "dovecot", "dovecot", "dovecot"
		dv, err := user.Lookup("dovecot")
		if err != nil {
			t.Fatalf("running as root needs Debian's dovecot user: %v", err)
		}
		uid, _ := strconv.Atoi(dv.Uid)
		gid, _ := strconv.Atoi(dv.Gid)
		if err := os.Chown(filepath.Join(dir, "mail"), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 4)
	vars["IMAPSPort"], vars["IMAPPort"], vars["POP3SPort"], vars["SubmissionPort"] = ports[0], ports[1], ports[2], ports[3]
	vars["RelayPort"] = discardRelay(t)
	d.imaps, d.imap = hostPort(ports[0]), hostPort(ports[1])
	d.pop3s, d.smtp = hostPort(ports[2]), hostPort(ports[3])
	conf := filepath.Join(dir, "dovecot.conf")
	renderTemplate(t, "testdata/dovecot.conf.tmpl", conf, vars)
	renderTemplate(t, "testdata/oauth2.conf.tmpl", filepath.Join(dir, "oauth2.conf"), vars)

	// Its own process group, so that stopping it reaches every child;
	// stopping is bounded whatever Dovecot does (procgroup_test.go).
	g, err := startGroup(exec.Command(bin, "-F", "-c", conf))
	if err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	t.Cleanup(func() {
		if err := g.stop(10 * time.Second); err != nil {
			t.Errorf("stopping dovecot: %v\n%s", err, g.out.String())
		}
	})

	// Ready when every listener accepts.
	deadline := time.Now().Add(15 * time.Second)
	for _, a := range []string{d.imaps, d.imap, d.pop3s, d.smtp} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if ok, err := g.exited(); ok {
				t.Fatalf("dovecot exited: %v\n%s\n--- log\n%s", err, g.out.String(), d.log())
			}
			if time.Now().After(deadline) {
				t.Fatalf("dovecot does not listen on %s: %v\n%s\n--- log\n%s", a, err, g.out.String(), d.log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return d
}

// checkArgs are the flags that point check at this Dovecot.
func (d *dovecot) checkArgs(t *testing.T, password, token string) []string {
	return []string{"check", "--user", d.user, "--imap-addr", d.imaps, "--pop-addr", d.pop3s, "--smtp-addr", d.smtp,
		"--ca-file", d.caFile, "--timeout", "20s",
		"--password-file", secretFile(t, "password", password), "--token-file", secretFile(t, "token", token)}
}

// exchangeOnly are the causes that name Exchange Online or Entra settings:
// never the verdict on another server.
var exchangeOnly = []string{"smtp_auth_disabled_tenant", "smtp_auth_disabled_mailbox", "security_defaults",
	"basic_auth_disabled", "conditional_access", "mfa_required", "account_locked", "account_disabled",
	"protocol_disabled", "oauth_not_authorized", "throttled"}

// TestDovecot runs check against a real third-party server: what works is
// reported as working, and refusals get a generic cause, never an
// Exchange-specific one.
func TestDovecot(t *testing.T) {
	d := startDovecot(t)
	fail := func(t *testing.T, format string, a ...any) {
		t.Helper()
		t.Errorf(format+"\n--- Dovecot log\n%s", append(a, d.log())...)
	}

	t.Run("success", func(t *testing.T) {
		t.Parallel()
		// --submit-check: MAIL FROM/RCPT TO through Dovecot's relay too.
		r := run(t, "", append(d.checkArgs(t, d.password, d.token(nil)), "--submit-check", "--output", "json")...)
		doc := parseCheck(t, r)
		if r.code != 0 || len(doc.Attempts) != 6 || len(doc.Findings) != 0 {
			fail(t, "want exit 0, 6 attempts ok, no findings\n%s", r)
		}
		for _, a := range doc.Attempts {
			if !*a.OK || *a.Cause != "ok" || *a.Stage != "done" {
				fail(t, "attempt %s", a)
			}
		}
	})
	t.Run("no-secrets-in-transcript", func(t *testing.T) {
		t.Parallel()
		tok := d.token(nil)
		forms := secretForms(d.user, d.password, tok)
		for _, form := range [][]string{{"--transcript"}, {"--transcript", "--output", "json"}} {
			r := run(t, "", append(d.checkArgs(t, d.password, tok), form...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "XOAUTH2") {
				fail(t, "want exit 0 and a transcript\n%s", r)
			}
			assertNoSecrets(t, "dovecot "+strings.Join(form, " "), r, forms)
		}
	})
	t.Run("starttls", func(t *testing.T) {
		t.Parallel()
		args := append(d.checkArgs(t, d.password, d.token(nil)), "--protocols", "imap", "--imap-starttls", "--imap-addr", d.imap, "--output", "json")
		r := run(t, "", args...)
		doc := parseCheck(t, r)
		if r.code != 0 || len(doc.Attempts) != 2 {
			fail(t, "IMAP STARTTLS: want exit 0 and 2 attempts\n%s", r)
		}
	})

	refusals := []struct {
		name            string
		password, token string
		mechanisms      string
		want            map[string][]string // mechanism -> allowed causes
	}{
		{name: "wrong-password", password: "wrong-" + d.password, mechanisms: "basic",
			want: map[string][]string{"basic": {"bad_credentials"}}},
		{name: "forged-token", token: d.token(nil)[:20] + "x" + d.token(nil)[21:], mechanisms: "xoauth2",
			want: map[string][]string{"xoauth2": {"oauth_token_invalid", "unknown"}}},
		{name: "expired-token", token: d.token(func(c map[string]any) {
			c["exp"], c["iat"], c["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
		}), mechanisms: "xoauth2", want: map[string][]string{"xoauth2": {"oauth_token_invalid", "unknown"}}},
		{name: "wrong-audience", token: d.token(func(c map[string]any) { c["aud"] = "someone-else" }), mechanisms: "xoauth2",
			want: map[string][]string{"xoauth2": {"oauth_token_invalid", "unknown"}}},
		{name: "both-wrong", password: "wrong-" + d.password, token: d.token(func(c map[string]any) { c["email"] = "mallory@example.test" }),
			want: map[string][]string{"basic": {"bad_credentials"}, "xoauth2": {"oauth_token_invalid", "unknown"}}},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pw, tok := c.password, c.token
			if pw == "" {
				pw = d.password
			}
			if tok == "" {
				tok = d.token(nil)
			}
			args := append(d.checkArgs(t, pw, tok), "--output", "json")
			if c.mechanisms != "" {
				args = append(args, "--mechanisms", c.mechanisms)
			}
			r := run(t, "", args...)
			doc := parseCheck(t, r)
			if r.code != 1 || len(doc.Attempts) != 3*len(c.want) {
				fail(t, "want exit 1 and %d attempts\n%s", 3*len(c.want), r)
			}
			for _, a := range doc.Attempts {
				t.Logf("%s", a)
				if *a.OK {
					fail(t, "refused login reported ok: %s", a)
				}
				if !diagnose.Generic(diagnose.Cause(*a.Cause)) || contains(exchangeOnly, *a.Cause) {
					fail(t, "an Exchange-specific cause against Dovecot: %s", a)
				}
				if !contains(c.want[*a.Mechanism], *a.Cause) {
					fail(t, "cause %s, want one of %v: %s", *a.Cause, c.want[*a.Mechanism], a)
				}
			}
			for _, f := range doc.Findings {
				if contains(exchangeOnly, *f.Cause) {
					fail(t, "finding with an Exchange-specific cause: %+v", f)
				}
			}
		})
	}
}

// discardRelay is the SMTP server Dovecot's submission service relays to:
// it accepts every envelope and drops every message. It returns its port.
func discardRelay(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(discardBackend{})
	s.Domain = "relay.test"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	})
	return l.Addr().(*net.TCPAddr).Port
}

type discardBackend struct{}

func (discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }

type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 and
// localhost into dir and returns the CA file.
func writeTestPKI(t *testing.T, dir string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exoprobe e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dovecot.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost", "dovecot.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	mustWrite(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	mustWrite(t, filepath.Join(dir, "server.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	mustWrite(t, filepath.Join(dir, "server-key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	return ca
}

func renderTemplate(t *testing.T, src, dst string, vars map[string]any) {
	t.Helper()
	tmpl, err := template.ParseFiles(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tmpl.Option("missingkey=error").Execute(f, vars); err != nil {
		t.Fatal(err)
	}
}

// mustWrite writes a file Dovecot's unprivileged processes can read (the
// directory is private to the test run).
func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n distinct free ports on 127.0.0.1. They are free when
// returned; Dovecot binds them a moment later.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// TestDovecotIMAPXOAUTH2Refusal: Dovecot answers a refused XOAUTH2 token
// with an error challenge (+ base64 {"status":"401",...}) that the client
// must answer with an empty line before the tagged NO arrives. The reply
// check reports must be that NO, not a BAD about the client's answer.
func TestDovecotIMAPXOAUTH2Refusal(t *testing.T) {
	d := startDovecot(t)
	tok := d.token(func(c map[string]any) { c["aud"] = "someone-else" })
	r := run(t, "", append(d.checkArgs(t, d.password, tok), "--protocols", "imap", "--mechanisms", "xoauth2", "--output", "json", "--transcript")...)
	a := parseCheck(t, r).attempt(t, "imap", "xoauth2")
	if !strings.Contains(*a.Reply, " NO ") || *a.Cause != "oauth_token_invalid" {
		t.Errorf("want the server's NO and oauth_token_invalid, got %s\ntranscript:\n%s\n--- Dovecot log\n%s",
			a, strings.Join(a.Transcript, "\n"), d.log())
	}
}
