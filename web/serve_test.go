package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exoprobe test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", kb)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestServeTLSBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths: exoprobe-toolkit resolves them against the file's
	// directory.
	cfg := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: " + string(hash) + "\n"
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, newTestHandler(fixture(), Options{}), webCfg, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "https://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	do := func(path, user, pw string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		// The listener is open before Serve runs: connections queue.
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp.Body)
	}
	for _, p := range []string{"/", "/metrics", "/api/v1/status"} {
		if code, _ := do(p, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without auth: %d, want 401", p, code)
		}
		if code, _ := do(p, "prom", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", p, code)
		}
		if code, _ := do(p, "prom", "s3cret-pw"); code != http.StatusOK {
			t.Errorf("%s with auth: %d, want 200", p, code)
		}
	}
	// Health checks carry no credentials (Kubernetes probes, issue 9):
	// they answer without, and say nothing but ok.
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := do(p, "", ""); code != http.StatusOK || len(body) > 64 {
			t.Errorf("%s without auth: %d %q, want 200", p, code, body)
		}
	}
	if _, body := do("/metrics", "prom", "s3cret-pw"); !strings.Contains(body, "exoprobe_probe_success") {
		t.Error("metrics over TLS lack exoprobe_probe_success")
	}
	// Plain HTTP to the TLS port gets no page.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/api/v1/status")
	if err == nil {
		body := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(body, "checks") {
			t.Errorf("plain HTTP served the API: %d", resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
		done <- nil // for Cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.pem\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = Serve(context.Background(), ln, http.NotFoundHandler(), webCfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "web.yml") {
		t.Errorf("Serve with a bad web config: %v", err)
	}
	if ValidateConfig(webCfg) == nil {
		t.Error("ValidateConfig accepted a missing certificate")
	}
	if ValidateConfig("") != nil {
		t.Error("no web config is valid")
	}
}

func TestServePlain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, newTestHandler(fixture(), Options{}), "", slog.New(slog.DiscardHandler))
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestServeServerBasicAuthOnly: a web config with users but no TLS still
// demands auth; the caller's Shutdown ends it with http.ErrServerClosed.
func TestServeServerBasicAuthOnly(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  u: "+string(hash)+"\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: newTestHandler(fixture(), Options{})}
	done := make(chan error, 1)
	go func() { done <- ServeServer(srv, ln, webCfg, slog.New(slog.DiscardHandler)) }()
	url := "http://" + ln.Addr().String() + "/api/v1/status"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no auth: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("u", "pw")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with auth: %d", resp.StatusCode)
	}
	srv.Shutdown(context.Background())
	if err := <-done; err != http.ErrServerClosed {
		t.Errorf("ServeServer after Shutdown: %v", err)
	}
}
