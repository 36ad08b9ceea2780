package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sasl"
)

// startSim runs a whole emulator with a fresh demo tenant in a temporary
// directory, closed (and checked) when the test ends.
func startSim(t *testing.T) (*Sim, Endpoints) {
	t.Helper()
	s, err := Start(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, s.Endpoints()
}

// run runs cmdlet lines through the sim's interpreter.
func run(t *testing.T, s *Sim, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if out, err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%s: %v (output %q)", l, err, out)
		}
	}
}

func caPool(t testing.TB, e Endpoints) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", e.CAFile)
	}
	return p
}

// appToken gets a client-credentials token for the demo app from the sim's
// token endpoint, as an operator's script would.
func appToken(t testing.TB, e Endpoints) string {
	t.Helper()
	return tokenRequest(t, e, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
		"client_secret": {e.Demo.ClientSecret}, "scope": {e.Demo.Scope},
	})
}

func tokenRequest(t testing.TB, e Endpoints, form url.Values) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, e)}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.PostForm(e.TokenURL, form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("token request: %d %s %s", resp.StatusCode, body.Error, body.Description)
	}
	return body.AccessToken
}

// wire is a line-level client: the fidelity test must see the server's
// exact bytes, which client libraries hide.
type wire struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialWire(t testing.TB, e Endpoints, addr string, implicitTLS bool) *wire {
	t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t, e), ServerName: "outlook.office365.com"})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &wire{t: t, conn: c, r: bufio.NewReader(c)}
}

func (w *wire) send(line string) {
	w.t.Helper()
	if _, err := io.WriteString(w.conn, line+"\r\n"); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

func (w *wire) line() string {
	w.t.Helper()
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (w *wire) startTLS(e Endpoints, serverName string) {
	w.t.Helper()
	tc := tls.Client(w.conn, &tls.Config{RootCAs: caPool(w.t, e), ServerName: serverName})
	if err := tc.Handshake(); err != nil {
		w.t.Fatalf("handshake: %v", err)
	}
	w.conn, w.r = tc, bufio.NewReader(tc)
}

// imapTagged reads until the tagged completion of tag; returns it without
// the tag.
func (w *wire) imapTagged(tag string) string {
	w.t.Helper()
	for {
		l := w.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest
		}
	}
}

// smtpReply reads one (possibly multi-line) SMTP reply; returns the last line.
func (w *wire) smtpReply() string {
	w.t.Helper()
	for {
		l := w.line()
		if len(l) < 4 || l[3] != '-' {
			return l
		}
	}
}

// bracket is SMTP's per-server trailer ("[HOST]" or "[HOST time id]"),
// which exo-responses.md says to strip before matching.
var bracket = regexp.MustCompile(` \[[A-Za-z0-9.-]+( [0-9TZ:.-]+ [0-9A-F]+)?\]$`)

func stripBracket(s string) string { return bracket.ReplaceAllString(s, "") }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// login is one authentication by a given protocol and mechanism.
type login struct {
	proto  string // imap, pop, smtp
	mech   string // basic (IMAP LOGIN, POP USER/PASS, SMTP AUTH LOGIN), plain, xoauth2
	user   string
	secret string // password or access token
	// starttls: over IMAP STARTTLS / POP STLS instead of implicit TLS
	// (SMTP is always STARTTLS).
	starttls bool
}

// result is the server's words: auth is the reply to the authentication
// (tag stripped for IMAP; SMTP bracket stripped), next the reply to the
// first mailbox command after a successful one (IMAP SELECT, POP STAT).
type result struct{ auth, next string }

func (r result) String() string { return fmt.Sprintf("auth=%q next=%q", r.auth, r.next) }

func doLogin(t *testing.T, e Endpoints, l login) result {
	t.Helper()
	switch l.proto {
	case "imap":
		addr := e.IMAP.TLS
		if l.starttls {
			addr = e.IMAP.StartTLS
		}
		w := dialWire(t, e, addr, !l.starttls)
		w.line() // greeting
		if l.starttls {
			w.send("s1 STARTTLS")
			w.imapTagged("s1")
			w.startTLS(e, "outlook.office365.com")
		}
		switch l.mech {
		case "basic":
			w.send(fmt.Sprintf("a1 LOGIN %q %q", l.user, l.secret))
		case "plain":
			w.send("a1 AUTHENTICATE PLAIN " + b64("\x00"+l.user+"\x00"+l.secret))
		case "xoauth2":
			w.send("a1 AUTHENTICATE XOAUTH2 " + b64(string(sasl.XOAUTH2Response(l.user, l.secret))))
		}
		r := result{auth: w.imapTagged("a1")}
		if strings.HasPrefix(r.auth, "OK") {
			w.send("a2 SELECT INBOX")
			r.next = w.imapTagged("a2")
		}
		return r
	case "pop":
		addr := e.POP.TLS
		if l.starttls {
			addr = e.POP.StartTLS
		}
		w := dialWire(t, e, addr, !l.starttls)
		w.line()
		if l.starttls {
			w.send("STLS")
			w.line()
			w.startTLS(e, "outlook.office365.com")
		}
		var r result
		switch l.mech {
		case "basic":
			w.send("USER " + l.user)
			if got := w.line(); got != "+OK" {
				return result{auth: got}
			}
			w.send("PASS " + l.secret)
		case "plain":
			w.send("AUTH PLAIN " + b64("\x00"+l.user+"\x00"+l.secret))
		case "xoauth2":
			// Two lines, as Microsoft documents for POP.
			w.send("AUTH XOAUTH2")
			if got := w.line(); got != "+ " {
				return result{auth: got}
			}
			w.send(b64(string(sasl.XOAUTH2Response(l.user, l.secret))))
		}
		r.auth = w.line()
		if strings.HasPrefix(r.auth, "+OK") {
			w.send("STAT")
			r.next = w.line()
		}
		return r
	case "smtp":
		w := dialWire(t, e, e.SMTP.StartTLS, false)
		w.smtpReply()
		w.send("EHLO probe.example")
		w.smtpReply()
		w.send("STARTTLS")
		w.smtpReply()
		w.startTLS(e, "smtp.office365.com")
		w.send("EHLO probe.example")
		w.smtpReply()
		var r result
		switch l.mech {
		case "basic":
			w.send("AUTH LOGIN")
			if got := w.smtpReply(); got != "334 VXNlcm5hbWU6" {
				return result{auth: stripBracket(got)}
			}
			w.send(b64(l.user))
			if got := w.smtpReply(); got != "334 UGFzc3dvcmQ6" {
				return result{auth: stripBracket(got)}
			}
			w.send(b64(l.secret))
		case "plain":
			w.send("AUTH PLAIN " + b64("\x00"+l.user+"\x00"+l.secret))
		case "xoauth2":
			w.send("AUTH XOAUTH2 " + b64(string(sasl.XOAUTH2Response(l.user, l.secret))))
		}
		r.auth = stripBracket(w.smtpReply())
		if strings.HasPrefix(r.auth, "235") {
			w.send("MAIL FROM:<" + l.user + ">")
			r.next = stripBracket(w.smtpReply())
		}
		return r
	}
	t.Fatalf("unknown protocol %q", l.proto)
	return result{}
}
