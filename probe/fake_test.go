package probe

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTLS is a self-signed certificate for 127.0.0.1 and a client config
// trusting it.
type testTLS struct {
	server *tls.Config
	client *tls.Config
}

var (
	tlsOnce sync.Once
	tlsVal  testTLS
)

func testCerts(t testing.TB) testTLS {
	tlsOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exoprobe test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
			IsCA: true, BasicConstraintsValid: true,
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, _ := x509.ParseCertificate(der)
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		tlsVal = testTLS{
			server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
			client: &tls.Config{RootCAs: pool},
		}
	})
	return tlsVal
}

// fake is a scripted server on 127.0.0.1: each connection runs script.
type fake struct {
	t      testing.TB
	ln     net.Listener
	addr   string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed chan struct{}
	recvd  []string // every line any client sent
}

// fconn is the server side of one connection, as seen by a script.
type fconn struct {
	f     *fake
	c     net.Conn
	br    *bufio.Reader
	Lines []string // what the client sent
}

func newFake(t testing.TB, implicitTLS bool, script func(*fconn)) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, testCerts(t).server)
	}
	f := &fake{t: t, ln: ln, addr: ln.Addr().String(), closed: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				fc := &fconn{f: f, c: c, br: bufio.NewReader(c)}
				defer func() { recover() }() // a script aborts by panicking when the client goes away
				script(fc)
			}()
		}
	}()
	return f
}

// Close stops the server and waits for every connection goroutine.
func (f *fake) Close() {
	close(f.closed)
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (c *fconn) send(lines ...string) {
	for _, l := range lines {
		if _, err := c.c.Write([]byte(l + "\r\n")); err != nil {
			panic(err)
		}
	}
}

// recv reads one client line.
func (c *fconn) recv() string {
	l, err := c.br.ReadString('\n')
	if err != nil {
		panic(err)
	}
	l = strings.TrimRight(l, "\r\n")
	c.Lines = append(c.Lines, l)
	c.f.mu.Lock()
	c.f.recvd = append(c.f.recvd, l)
	c.f.mu.Unlock()
	return l
}

// tag returns the IMAP tag of a client line.
func tag(l string) string { t, _, _ := strings.Cut(l, " "); return t }

// hang blocks until the client closes the connection or the test ends.
func (c *fconn) hang() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			if _, err := c.c.Read(buf); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-c.f.closed:
	}
	c.c.Close()
	<-done
}

// startTLS upgrades the server side.
func (c *fconn) startTLS() {
	tc := tls.Server(c.c, testCerts(c.f.t).server)
	if err := tc.HandshakeContext(context.Background()); err != nil {
		panic(err)
	}
	c.c = tc
	c.br = bufio.NewReader(tc)
}

// received returns every line clients sent so far.
func (f *fake) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.recvd...)
}
