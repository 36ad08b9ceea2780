package pop3d

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// fakeAuth decides by user name, so that each verdict is reachable.
type fakeAuth struct {
	era tenant.Era
	mu  sync.Mutex
	log []string // what the server asked, for assertions that secrets arrive intact
}

const (
	goodUser  = "adele@contoso.com"
	goodPass  = "pass word with spaces"
	goodToken = "eyJ.good.token"
)

func (f *fakeAuth) record(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func verdictFor(user string) (tenant.Verdict, bool) {
	switch {
	case strings.HasPrefix(user, "throttled@"):
		return tenant.VerdictThrottled, true
	case strings.HasPrefix(user, "basicoff@"):
		return tenant.VerdictBasicDisabled, true
	case strings.HasPrefix(user, "notconn@"):
		return tenant.VerdictNotConnected, true
	case strings.HasPrefix(user, "popoff@"):
		return tenant.VerdictProtocolDisabled, true
	case strings.HasPrefix(user, "locked@"):
		return tenant.VerdictAccountLocked, true
	}
	return "", false
}

func (f *fakeAuth) AuthenticateBasic(p tenant.Protocol, user, password string) tenant.Verdict {
	f.record(string(p) + " basic " + user + " " + password)
	if v, ok := verdictFor(user); ok {
		return v
	}
	if user == goodUser && password == goodPass {
		return tenant.VerdictOK
	}
	return tenant.VerdictBadCredentials
}

func (f *fakeAuth) AuthenticateBearer(p tenant.Protocol, user, token string) tenant.Verdict {
	f.record(string(p) + " bearer " + user + " " + token)
	if v, ok := verdictFor(user); ok {
		return v
	}
	if user == goodUser && token == goodToken {
		return tenant.VerdictOK
	}
	return tenant.VerdictTokenRejected
}

func (f *fakeAuth) Era() tenant.Era { return f.era }

func testTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "outlook.office365.com"},
		DNSNames:     []string{"outlook.office365.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

type testServer struct {
	srv         *Server
	tlsAddr     string
	plainAddr   string
	clientTLS   *tls.Config
	auth        *fakeAuth
	serveErrors chan error
}

func start(t *testing.T, era tenant.Era, mod func(*Config)) *testServer {
	t.Helper()
	serverTLS, pool := testTLS(t)
	auth := &fakeAuth{era: era}
	cfg := Config{Auth: auth, TLS: serverTLS, Host: corpusHost}
	if mod != nil {
		mod(&cfg)
	}
	srv := NewServer(cfg)
	ts := &testServer{srv: srv, auth: auth, serveErrors: make(chan error, 2),
		clientTLS: &tls.Config{RootCAs: pool, ServerName: "outlook.office365.com"}}
	for _, implicit := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			ts.tlsAddr = ln.Addr().String()
		} else {
			ts.plainAddr = ln.Addr().String()
		}
		go func() { ts.serveErrors <- srv.Serve(ln, implicit) }()
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for range 2 {
			if err := <-ts.serveErrors; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return ts
}

// client is a line-level POP3 client: tests must see the exact bytes.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (ts *testServer) dial(t *testing.T, implicitTLS bool) *client {
	t.Helper()
	addr := ts.plainAddr
	if implicitTLS {
		addr = ts.tlsAddr
	}
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", addr, ts.clientTLS)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q not CRLF-terminated", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.line(); got != w {
			c.t.Fatalf("got %q, want %q", got, w)
		}
	}
}

func (c *client) starttls(ts *testServer) {
	c.t.Helper()
	c.send("STLS")
	c.expect("+OK Begin TLS negotiation.")
	tc := tls.Client(c.conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// corpusHost and greeting are exo-responses.md §2's POP3 greeting (kisli/vmime#267),
// verbatim, and the host its tag decodes to.
const (
	corpusHost = "SC1PR80CA0105.lamprd80.prod.outlook.com"
	greeting   = "+OK The Microsoft Exchange POP3 service is ready. [UwBDADEAUABSADgAMABDAEEAMAAxADAANQAuAGwAYQBtAHAAcgBkADgAMAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func xoauth2(user, token string) string { return b64(string(sasl.XOAUTH2Response(user, token))) }

func TestGreetingAndCapabilities(t *testing.T) {
	ts := start(t, tenant.Era2026, nil)

	// §2: the greeting and CAPA on 995.
	c := ts.dial(t, true)
	c.expect(greeting)
	c.send("CAPA")
	c.expect("+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", ".")
	c.send("QUIT")
	c.expect("+OK Microsoft Exchange Server POP3 server signing off.")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after QUIT: %v, want EOF", err)
	}

	// P10, P9 on 110, then the TLS list.
	c = ts.dial(t, false)
	c.expect(greeting)
	c.send("capa")
	c.expect("+OK", "TOP", "UIDL", "STLS", ".")
	c.starttls(ts)
	c.send("CAPA")
	c.expect("+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", ".")
	c.send("STLS")
	c.expect("-ERR Command is not valid in this state.")
}

type step struct{ send, want string }

// readOnly as a step's send reads the next line of a multi-line reply.
const readOnly = "\x00read"

func TestDialogues(t *testing.T) {
	const (
		p3  = "-ERR Logon failure: unknown user name or bad password."
		p6  = "-ERR Authentication failure: unknown user name or bad password."
		p7  = "-ERR Server Unavailable. 21"
		p8  = "-ERR Basic authentication is disabled"
		bad = "-ERR Command is not valid in this state."
	)
	cases := []struct {
		name  string
		era   tenant.Era
		stls  bool // over 110+STLS instead of 995
		steps []step
	}{
		{"P1 P2 user pass", tenant.Era2026, false, []step{
			{"USER " + goodUser, "+OK"}, {"PASS " + goodPass, "+OK User successfully logged on."},
			{"STAT", "+OK 0 0"}, {"NOOP", "+OK"}, {"RSET", "+OK"},
			{"RETR 1", "-ERR The specified message is out of range."},
			{"TOP 1 0", "-ERR The specified message is out of range."},
			{"DELE 1", "-ERR The specified message is out of range."},
			{"LIST 1", "-ERR The specified message is out of range."},
			{"UIDL 1", "-ERR The specified message is out of range."},
			{"RETR x", "-ERR Command argument error. 12"},
			{"RETR 0", "-ERR Command argument error. 12"},
			{"TOP 1", "-ERR Command argument error. 12"},
			{"USER " + goodUser, bad}, {"AUTH PLAIN", bad},
		}},
		{"P1 P2 over STLS", tenant.Era2026, true, []step{
			{"USER " + goodUser, "+OK"}, {"PASS " + goodPass, "+OK User successfully logged on."},
		}},
		{"P3 wrong password 2026", tenant.Era2026, false, []step{
			{"USER " + goodUser, "+OK"}, {"PASS nope", p3},
			{"PASS " + goodPass, bad}, // USER again first (RFC 1939)
			{"USER " + goodUser, "+OK"}, {"PASS " + goodPass, "+OK User successfully logged on."},
		}},
		{"P3 basic off 2023", tenant.Era2023, false, []step{
			{"USER basicoff@contoso.com", "+OK"}, {"PASS x", p3},
		}},
		{"P8 basic off 2026", tenant.Era2026, false, []step{
			{"USER basicoff@contoso.com", "+OK"}, {"PASS x", p8},
		}},
		{"P3 locked", tenant.Era2026, false, []step{
			{"USER locked@contoso.com", "+OK"}, {"PASS x", p3},
		}},
		{"P7 throttled basic", tenant.Era2026, false, []step{
			{"USER throttled@contoso.com", "+OK"}, {"PASS x", p7},
		}},
		{"PASS without USER", tenant.Era2026, false, []step{{"PASS x", bad}}},
		{"mailbox before login", tenant.Era2026, false, []step{
			{"STAT", bad}, {"LIST", bad}, {"RETR 1", bad}, {"NOOP", bad},
		}},
		{"unknown command", tenant.Era2026, false, []step{{"APOP a b", "-ERR Protocol error. 14"}, {"", "-ERR Protocol error. 14"}}},
		{"USER without name", tenant.Era2026, false, []step{{"USER", "-ERR Command argument error. 12"}}},
		{"P5 PLAIN initial response (inferred: P5 is XOAUTH2's)", tenant.Era2026, false, []step{
			{"AUTH PLAIN " + b64("\x00"+goodUser+"\x00"+goodPass), "+OK User successfully authenticated."},
		}},
		{"P4 P5 PLAIN two steps (inferred)", tenant.Era2026, false, []step{
			{"AUTH plain", "+ "}, {b64(goodUser + "\x00" + goodUser + "\x00" + goodPass), "+OK User successfully authenticated."},
		}},
		{"P6 PLAIN wrong password (inferred: P6 is XOAUTH2's)", tenant.Era2023, false, []step{
			{"AUTH PLAIN " + b64("\x00"+goodUser+"\x00nope"), p6},
		}},
		{"P8 PLAIN basic off 2026 (inferred)", tenant.Era2026, false, []step{
			{"AUTH PLAIN " + b64("\x00basicoff@contoso.com\x00x"), p8},
		}},
		{"P6 PLAIN basic off 2023 (inferred)", tenant.Era2023, false, []step{
			{"AUTH PLAIN " + b64("\x00basicoff@contoso.com\x00x"), p6},
		}},
		{"PLAIN other authzid", tenant.Era2026, false, []step{
			{"AUTH PLAIN " + b64("boss@contoso.com\x00"+goodUser+"\x00"+goodPass), p6},
		}},
		{"P5 XOAUTH2 one line", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2 " + xoauth2(goodUser, goodToken), "+OK User successfully authenticated."},
			{"LIST", "+OK 0 0"}, {readOnly, "."},
			{"UIDL", "+OK"}, {readOnly, "."},
		}},
		{"P4 P5 XOAUTH2 two steps over STLS", tenant.Era2026, true, []step{
			{"AUTH XOAUTH2", "+ "}, {xoauth2(goodUser, goodToken), "+OK User successfully authenticated."},
		}},
		{"P6 XOAUTH2 token rejected", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2", "+ "}, {xoauth2(goodUser, "expired"), p6},
		}},
		{"P6 XOAUTH2 not connected", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2 " + xoauth2("notconn@contoso.com", goodToken), p6},
		}},
		{"P6 XOAUTH2 POP disabled", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2 " + xoauth2("popoff@contoso.com", goodToken), p6},
		}},
		{"P6 XOAUTH2 basic-disabled verdict is not P8", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2 " + xoauth2("basicoff@contoso.com", goodToken), p6},
		}},
		{"P7 XOAUTH2 throttled", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2 " + xoauth2("throttled@contoso.com", goodToken), p7},
		}},
		{"XOAUTH2 malformed base64", tenant.Era2026, false, []step{
			{"AUTH XOAUTH2", "+ "}, {"!!!not base64", p6},
			{"AUTH XOAUTH2 " + b64("user=x\x01\x01"), p6},
			{"AUTH PLAIN " + b64("no nul"), p6},
			{"AUTH PLAIN =", p6},
		}},
		{"SASL cancel", tenant.Era2026, false, []step{{"AUTH XOAUTH2", "+ "}, {"*", "-ERR Authentication canceled."}}},
		{"unknown mechanism", tenant.Era2026, false, []step{{"AUTH CRAM-MD5", "-ERR Unrecognized authentication type."}}},
		{"AUTH lists mechanisms", tenant.Era2026, false, []step{{"AUTH", "+OK"}, {readOnly, "PLAIN"}, {readOnly, "XOAUTH2"}, {readOnly, "."}}},
		{"quit", tenant.Era2026, false, []step{{"QUIT", "+OK Microsoft Exchange Server POP3 server signing off."}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, tc.era, nil)
			c := ts.dial(t, !tc.stls)
			c.expect(greeting)
			if tc.stls {
				c.starttls(ts)
			}
			for i, s := range tc.steps {
				if s.send != readOnly {
					c.send(s.send)
				}
				if got := c.line(); got != s.want {
					t.Fatalf("step %d: sent %.40q, got %q, want %q", i, s.send, got, s.want)
				}
			}
		})
	}
}

func TestPasswordsAndTokensReachAuthenticatorIntact(t *testing.T) {
	ts := start(t, tenant.Era2026, nil)
	c := ts.dial(t, true)
	c.expect(greeting)
	c.send("USER " + goodUser)
	c.expect("+OK")
	c.send("PASS " + goodPass)
	c.expect("+OK User successfully logged on.")
	c = ts.dial(t, true)
	c.expect(greeting)
	c.send("AUTH XOAUTH2 " + xoauth2(goodUser, goodToken))
	c.expect("+OK User successfully authenticated.")
	ts.auth.mu.Lock()
	defer ts.auth.mu.Unlock()
	want := []string{"pop basic " + goodUser + " " + goodPass, "pop bearer " + goodUser + " " + goodToken}
	if strings.Join(ts.auth.log, "|") != strings.Join(want, "|") {
		t.Errorf("authenticator saw %q, want %q", ts.auth.log, want)
	}
}

func TestCredentialsInClearRefused(t *testing.T) {
	ts := start(t, tenant.Era2026, nil)
	c := ts.dial(t, false)
	c.expect(greeting)
	for _, cmd := range []string{"USER " + goodUser, "PASS " + goodPass, "AUTH PLAIN " + b64("\x00"+goodUser+"\x00"+goodPass), "AUTH XOAUTH2"} {
		c.send(cmd)
		c.expect("-ERR Command is not valid in this state.")
	}
	ts.auth.mu.Lock()
	defer ts.auth.mu.Unlock()
	if len(ts.auth.log) != 0 {
		t.Errorf("credentials sent in clear reached the authenticator: %q", ts.auth.log)
	}
}

func TestSTLSDropsPipelinedPlaintext(t *testing.T) {
	ts := start(t, tenant.Era2026, nil)
	c := ts.dial(t, false)
	c.expect(greeting)
	// An attacker's command injected behind STLS in the clear must not be
	// executed inside the TLS session.
	io.WriteString(c.conn, "STLS\r\nCAPA\r\n")
	c.expect("+OK Begin TLS negotiation.")
	tc := tls.Client(c.conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		// The server may read the injected bytes as a broken ClientHello
		// reply; either way nothing was executed.
		return
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.send("NOOP")
	c.expect("-ERR Command is not valid in this state.")
}

func TestLineTooLong(t *testing.T) {
	ts := start(t, tenant.Era2026, func(c *Config) { c.MaxLineLength = 64 })
	c := ts.dial(t, true)
	c.expect(greeting)
	c.send("USER " + strings.Repeat("a", 100))
	c.expect("-ERR Line too long. 15")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after an overlong line: %v, want EOF", err)
	}
	// The limit also holds for a SASL continuation.
	c = ts.dial(t, true)
	c.expect(greeting)
	c.send("AUTH XOAUTH2")
	c.expect("+ ")
	c.send(strings.Repeat("A", 100))
	c.expect("-ERR Line too long. 15")
}

func TestIdleTimeoutCloses(t *testing.T) {
	ts := start(t, tenant.Era2026, func(c *Config) { c.PreAuthTimeout = 50 * time.Millisecond })
	c := ts.dial(t, true)
	c.expect(greeting)
	began := time.Now()
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("idle client: %v, want EOF", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestCloseEndsOpenSessions(t *testing.T) {
	ts := start(t, tenant.Era2026, nil)
	c := ts.dial(t, true)
	c.expect(greeting)
	done := make(chan error, 1)
	go func() { done <- ts.srv.Close() }()
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("session still open after Close")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHostTag(t *testing.T) {
	// Decoded examples from exo-responses.md §2.
	for host, tag := range map[string]string{
		"SC1PR80CA0105.lamprd80.prod.outlook.com": "UwBDADEAUABSADgAMABDAEEAMAAxADAANQAuAGwAYQBtAHAAcgBkADgAMAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A",
	} {
		if got := HostTag(host); got != tag {
			t.Errorf("HostTag(%q) = %q, want %q", host, got, tag)
		}
	}
}

// Without Config.Host the greeting names a random backend of the corpus's
// shape (an outlook.com one, as in §2's POP3 greeting), not a fixed one.
func TestGeneratedHost(t *testing.T) {
	re := regexp.MustCompile(`^[A-Z]{2}[0-9]PR[0-9]{2}CA[0-9]{4}\.[a-z]{3}prd[0-9]{2}\.prod\.outlook\.com$`)
	ts := start(t, tenant.Era2026, func(c *Config) { c.Host = "" })
	host := ts.srv.Host()
	if !re.MatchString(host) {
		t.Fatalf("generated host %q is not shaped like Exchange's POP3 backends", host)
	}
	c := ts.dial(t, true)
	c.expect(greetingPrefix + "[" + HostTag(host) + "]")
}
