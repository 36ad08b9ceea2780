package tenant

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
)

// parseCertificate reads one PEM certificate with an RSA key.
func parseCertificate(p string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, err
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("certificate key is not RSA")
	}
	return c, nil
}

// decodeThumb accepts a thumbprint in base64url or standard base64, padded
// or not (MSAL sends x5t#S256 in standard base64; RFC 7515 says base64url).
func decodeThumb(s string) []byte {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b
	}
	return nil
}

// FindCertificate returns the app certificate whose SHA-1 (x5t) or SHA-256
// (x5t#S256) thumbprint matches, with its public key.
func (a *App) FindCertificate(x5t, x5tS256 string) (*Certificate, *x509.Certificate) {
	want1, want256 := decodeThumb(x5t), decodeThumb(x5tS256)
	for i := range a.Certificates {
		c, err := parseCertificate(a.Certificates[i].PEM)
		if err != nil {
			continue
		}
		s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
		if (want1 != nil && string(want1) == string(s1[:])) || (want256 != nil && string(want256) == string(s256[:])) {
			return &a.Certificates[i], c
		}
	}
	return nil, nil
}
