package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside Options.DataDir.
const (
	CAFile          = "ca.pem"
	caKeyFile       = "ca-key.pem"
	AdminTokenFile  = "admin-token"
	EndpointsFile   = "endpoints.json"
	StateFile       = "state.json"
	LockFile        = "lock" // held (flock) by the running emulator
	DemoCertFile    = "demo-app-cert.pem"
	DemoCertKeyFile = "demo-app-key.pem"
)

// ServerNames are the real service names the emulator's certificate also
// covers, so that clients may keep their production ServerName (SNI and
// verification) while dialling 127.0.0.1.
var ServerNames = []string{
	"outlook.office365.com", "smtp.office365.com", "login.microsoftonline.com", "graph.microsoft.com",
}

// authority is the emulator's private certificate authority. It is kept in
// the data directory across restarts so that trust set up once (a
// --cacert flag, a system store) keeps working.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// loadOrCreateCA reuses dir/ca.pem and dir/ca-key.pem when both parse and
// the CA is valid for at least another day; otherwise it makes a new one.
func loadOrCreateCA(dir string, now time.Time) (*authority, error) {
	// A missing, damaged or expiring CA is replaced rather than fatal: it
	// is the emulator's own test CA, not a user's.
	if ca, err := loadCA(dir, now); err == nil {
		return ca, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sim: ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "exoprobe sim CA", Organization: []string{"exoprobe emulator (test only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sim: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sim: ca certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("sim: ca key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The key first: a ca.pem without its key would be "reused" next time
	// and then fail.
	if err := writeFileAtomic(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CAFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &authority{cert: cert, certPEM: certPEM, key: key}, nil
}

func loadCA(dir string, now time.Time) (*authority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("sim: ca: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("sim: ca: %w", err)
	}
	if !cert.IsCA || now.Add(24*time.Hour).After(cert.NotAfter) {
		return nil, errors.New("sim: ca: not a CA or about to expire")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("sim: ca: key cannot sign")
	}
	return &authority{cert: cert, certPEM: certPEM, key: signer}, nil
}

// serverCert issues a fresh leaf for this run: 127.0.0.1, ::1, localhost,
// the listen host, and the real service names.
func (ca *authority) serverCert(listenHost string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "outlook.office365.com", Organization: []string{"exoprobe emulator (test only)"}},
		DNSNames:     append([]string{"localhost"}, ServerNames...),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 0, 90),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(listenHost); ip != nil {
		if !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	} else if listenHost != "" && listenHost != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, listenHost)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// pool returns a CertPool holding only the CA.
func (ca *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("sim: crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return n
}

// writeFileAtomic writes through a temporary file and a rename, so a
// reader (a script polling for endpoints.json) never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	return nil
}
