package tenant

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
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

// KeyIDOf is a certificate's keyCredentials keyId as Graph shows it: the
// stored KeyID, else one derived from the thumbprint, stable across
// restarts.
func (c *Certificate) KeyIDOf() string {
	if c.KeyID != "" {
		return c.KeyID
	}
	return DerivedGUID("key:" + c.Thumbprint)
}

// DerivedGUID is a name-based GUID (SHA-1, version 5 layout) for ids the
// emulator must keep stable without storing them.
func DerivedGUID(seed string) string {
	b := sha1.Sum([]byte(seed))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// SecretKeyID is the keyId of the app's secret equal to value ("" for none).
func (a *App) SecretKeyID(value string) string {
	for _, sec := range a.Secrets {
		if subtle.ConstantTimeCompare([]byte(sec.Value), []byte(value)) == 1 {
			return sec.ID
		}
	}
	return ""
}
