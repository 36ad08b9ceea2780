package tenant

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Resource identifiers. Entra issues Exchange Online tokens for any of the
// first three; IMAP, POP and SMTP refuse Graph's.
const (
	ResourceOutlook       = "https://outlook.office.com"
	ResourceOutlook365    = "https://outlook.office365.com"
	ResourceExchangeAppID = "00000002-0000-0ff1-ce00-000000000000"
	ResourceGraph         = "https://graph.microsoft.com"
	ResourceGraphAppID    = "00000003-0000-0000-c000-000000000000"
)

// ExchangeAudiences are the aud values Exchange's IMAP/POP/SMTP accept.
var ExchangeAudiences = []string{ResourceOutlook, ResourceOutlook365, ResourceExchangeAppID}

// AccessTokenLifetime is Entra's default access-token lifetime (60–90 min
// with a random spread in reality; fixed here so tests can reason about it).
const AccessTokenLifetime = time.Hour

// Claims are the access-token claims the emulator issues and checks. Exchange
// resource tokens are v1 tokens (the resource does not ask for v2), so they
// carry iss https://sts.windows.net/<tid>/, appid and upn; preferred_username
// is a v2 claim added for clients that look only for it (deviation, harmless).
type Claims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	AppDisplayName    string   `json:"app_displayname,omitempty"`
	AppID             string   `json:"appid,omitempty"`
	AppIDACR          string   `json:"appidacr,omitempty"` // 0 public, 1 secret, 2 certificate
	Azp               string   `json:"azp,omitempty"`
	IDTyp             string   `json:"idtyp,omitempty"` // "app" or "user"
	OID               string   `json:"oid,omitempty"`
	Sub               string   `json:"sub,omitempty"`
	TID               string   `json:"tid"`
	Roles             []string `json:"roles,omitempty"`
	Wids              []string `json:"wids,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	UPN               string   `json:"upn,omitempty"`
	UniqueName        string   `json:"unique_name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Name              string   `json:"name,omitempty"`
	UTI               string   `json:"uti,omitempty"`
	Ver               string   `json:"ver"`
}

// IssuerV1 and IssuerV2 are the two issuer forms of a tenant.
func IssuerV1(tid string) string { return "https://sts.windows.net/" + tid + "/" }
func IssuerV2(tid string) string { return "https://login.microsoftonline.com/" + tid + "/v2.0" }

// NewSigningKey makes a fresh RSA-2048 key with a random kid.
func NewSigningKey() (*SigningKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("tenant: signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("tenant: signing key: %w", err)
	}
	sum := sha1.Sum(der)
	return &SigningKey{
		KID:        base64.RawURLEncoding.EncodeToString(sum[:]),
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, nil
}

// parseRSAKey reads a PKCS#8 (or PKCS#1) RSA private key PEM.
func parseRSAKey(p string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// signer returns the parsed signing key, creating one if the state has none.
func (s *State) key() (*rsa.PrivateKey, error) {
	if s.SigningKey == nil {
		k, err := NewSigningKey()
		if err != nil {
			return nil, err
		}
		s.SigningKey = k
		s.signer = nil
	}
	if s.signer == nil {
		k, err := parseRSAKey(s.SigningKey.PrivatePEM)
		if err != nil {
			return nil, fmt.Errorf("tenant: signing key: %w", err)
		}
		s.signer = k
	}
	return s.signer, nil
}

// JWK is one RSA key of a JWKS document.
type JWK struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	KID string   `json:"kid"`
	X5t string   `json:"x5t"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c,omitempty"`
	Iss string   `json:"issuer,omitempty"`
}

// JWKS is the tenant's key set as served at /discovery/v2.0/keys.
func (s *State) JWKS() (map[string][]JWK, error) {
	k, err := s.key()
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey
	return map[string][]JWK{"keys": {{
		Kty: "RSA", Use: "sig", KID: s.SigningKey.KID, X5t: s.SigningKey.KID,
		N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}, nil
}

// SignJWT signs any claims object with the tenant key (RS256, kid and x5t in
// the header, as Entra does).
func (s *State) SignJWT(claims any) (string, error) {
	k, err := s.key()
	if err != nil {
		return "", err
	}
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.SigningKey.KID, "x5t": s.SigningKey.KID})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("tenant: token claims: %w", err)
	}
	signing := b64(hdr) + "." + b64(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("tenant: sign token: %w", err)
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Token verification failures. They never carry the token.
var (
	ErrTokenMalformed = errors.New("token: malformed")
	ErrTokenSignature = errors.New("token: bad signature")
	ErrTokenExpired   = errors.New("token: expired or not yet valid")
	ErrTokenTenant    = errors.New("token: wrong tenant or issuer")
)

// clockSkew is the leeway allowed on nbf and exp.
const clockSkew = 5 * time.Minute

// VerifyAccessToken checks an access token's form, signature (this tenant's
// key), lifetime, tid and issuer, and returns its claims. Audience and
// permissions are the caller's business.
func (s *State) VerifyAccessToken(tok string, now time.Time) (*Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, ErrTokenMalformed
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, ErrTokenMalformed
	}
	var hdr struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return nil, ErrTokenMalformed
	}
	k, err := s.key()
	if err != nil {
		return nil, err
	}
	if hdr.Alg != "RS256" || hdr.KID != s.SigningKey.KID {
		return nil, ErrTokenSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, ErrTokenSignature
	}
	var c Claims
	if json.Unmarshal(pb, &c) != nil {
		return nil, ErrTokenMalformed
	}
	if now.Before(time.Unix(c.Nbf, 0).Add(-clockSkew)) || !now.Before(time.Unix(c.Exp, 0).Add(clockSkew)) {
		return nil, ErrTokenExpired
	}
	if !strings.EqualFold(c.TID, s.ID) || (c.Iss != IssuerV1(s.ID) && c.Iss != IssuerV2(s.ID)) {
		return nil, ErrTokenTenant
	}
	return &c, nil
}

// scopes splits a scp claim.
func (c *Claims) scopes() []string { return strings.Fields(c.Scp) }

// HasScope reports whether the delegated scp carries one of names.
func (c *Claims) HasScope(names ...string) bool {
	for _, s := range c.scopes() {
		if slices.Contains(names, s) {
			return true
		}
	}
	return false
}

// HasRole reports whether roles carries name.
func (c *Claims) HasRole(name string) bool { return slices.Contains(c.Roles, name) }

// HasWid reports whether wids carries the role template id.
func (c *Claims) HasWid(id string) bool { return slices.Contains(c.Wids, id) }

// IsApp reports an app-only (client credentials) token.
func (c *Claims) IsApp() bool {
	if c.IDTyp != "" {
		return c.IDTyp == "app"
	}
	return c.Scp == "" && c.UPN == ""
}
