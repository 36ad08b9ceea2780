package imapd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// testPKI is a throwaway CA and a server certificate for 127.0.0.1.
type testPKI struct {
	server *tls.Config
	pool   *x509.CertPool
	caPEM  []byte
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "imapd test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			IsCA:                  true,
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2),
			Subject:      pkix.Name{CommonName: "127.0.0.1"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		pki = testPKI{
			server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
			pool:   pool,
			caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		}
	})
	return pki
}

func (p testPKI) client() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
}

// fakeAuth returns fixed verdicts and records what it was asked.
type fakeAuth struct {
	mu      sync.Mutex
	era     tenant.Era
	basic   tenant.Verdict
	bearer  tenant.Verdict
	calls   []string
	lastTok string
	// basicUnretired models Set-SimTenant -BasicAuthRetiredImapPop:$false.
	basicUnretired bool
}

func (f *fakeAuth) AuthenticateBasic(proto tenant.Protocol, user, password string) tenant.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "basic:"+string(proto)+":"+user+":"+password)
	return f.basic
}

func (f *fakeAuth) AuthenticateBearer(proto tenant.Protocol, user, token string) tenant.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "bearer:"+string(proto)+":"+user)
	f.lastTok = token
	return f.bearer
}

func (f *fakeAuth) Era() tenant.Era { return f.era }

func (f *fakeAuth) BasicAllowed(tenant.Protocol) bool { return f.basicUnretired }

func (f *fakeAuth) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const testHost = "SI2PR01CA0042.apcprd01.prod.exchangelabs.com"

// startServer runs a server on two loopback listeners (implicit TLS and
// STARTTLS) and stops it when the test ends.
func startServer(t *testing.T, auth Authenticator) (srv *Server, tlsAddr, plainAddr string) {
	t.Helper()
	srv = NewServer(Config{Auth: auth, TLS: getPKI(t).server, Host: testHost})
	done := make(chan error, 2)
	for _, implicit := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			tlsAddr = ln.Addr().String()
		} else {
			plainAddr = ln.Addr().String()
		}
		go func() { done <- srv.Serve(ln, implicit) }()
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return srv, tlsAddr, plainAddr
}

// rawConn is a line-level IMAP conversation for exact-byte assertions.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string, implicitTLS bool) *rawConn {
	t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", addr, getPKI(t).client())
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(line string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(line + "\r\n")); err != nil {
		r.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one line; "" with ok=false at EOF.
func (r *rawConn) line() (string, bool) {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		if l != "" {
			r.t.Fatalf("partial line %q: %v", l, err)
		}
		return "", false
	}
	if !strings.HasSuffix(l, "\r\n") {
		r.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n"), true
}

func (r *rawConn) expect(want string) {
	r.t.Helper()
	got, ok := r.line()
	if !ok {
		r.t.Fatalf("EOF, want %q", want)
	}
	if got != want {
		r.t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func (r *rawConn) expectEOF() {
	r.t.Helper()
	if l, ok := r.line(); ok {
		r.t.Fatalf("got %q, want the connection closed", l)
	}
}

func (r *rawConn) startTLS() {
	r.t.Helper()
	tc := tls.Client(r.c, getPKI(r.t).client())
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.c = tc
	r.br = bufio.NewReader(tc)
}
