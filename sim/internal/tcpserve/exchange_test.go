package tcpserve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHostTag(t *testing.T) {
	// Decoded from a greeting in exo-responses.md §2.
	const host = "SC1PR80CA0105.lamprd80.prod.outlook.com"
	const tag = "UwBDADEAUABSADgAMABDAEEAMAAxADAANQAuAGwAYQBtAHAAcgBkADgAMAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A"
	if got := HostTag(host); got != tag {
		t.Errorf("HostTag(%q) = %q, want %q", host, got, tag)
	}
}

func TestRandomHost(t *testing.T) {
	for _, suffix := range []string{SuffixExchangeLabs, SuffixOutlook} {
		re := regexp.MustCompile(`^[A-Z]{2}[0-9]PR[0-9]{2}CA[0-9]{4}\.[a-z]{3}prd[0-9]{2}\.` + regexp.QuoteMeta(suffix) + `$`)
		for range 20 {
			if h := RandomHost(suffix); !re.MatchString(h) {
				t.Fatalf("RandomHost(%q) = %q, not Exchange's shape", suffix, h)
			}
		}
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"test.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// Handshake completes with a TLS client and fails, without hanging, on a
// client that speaks something else.
func TestHandshake(t *testing.T) {
	cfg := selfSigned(t)
	for _, tc := range []struct {
		name   string
		client func(c net.Conn)
		ok     bool
	}{
		{"tls client", func(c net.Conn) {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
			tc.Handshake()
			tc.Write([]byte("hi"))
		}, true},
		{"plain text", func(c net.Conn) { c.Write([]byte("EHLO client.example\r\n")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer srv.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer cli.Close()
				tc.client(cli)
			}()
			got, err := Handshake(srv, cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("Handshake error %v, want ok=%v", err, tc.ok)
			}
			if tc.ok {
				b := make([]byte, 2)
				if _, err := got.Read(b); err != nil || string(b) != "hi" {
					t.Errorf("read after handshake %q %v", b, err)
				}
			} else if !strings.Contains(err.Error(), "tls") {
				t.Errorf("error %q does not name TLS", err)
			}
			srv.Close()
			<-done
		})
	}
}
