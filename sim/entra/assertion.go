package entra

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock leeway on the assertion's nbf/exp.
const assertionSkew = 5 * time.Minute

// verifyAssertion checks a client_assertion (private_key_jwt): a JWT signed
// with RS256 (x5t = SHA-1 thumbprint) or PS256 (x5t#S256, what MSAL Go
// sends) by one of the app's certificates, iss = sub = client_id, aud = this
// token endpoint, within its lifetime. The codes for the individual
// failures (700027, 700021, 700024, 50027) come from Entra's reference;
// which one Entra picks for each case is partly inferred.
func verifyAssertion(s *tenant.State, app *tenant.App, req *request, now time.Time) *aadError {
	if req.assertType != assertionType {
		return newErr(400, "invalid_request", 900144, "", "The request body must contain the following parameter: 'client_assertion_type'.")
	}
	parts := strings.Split(req.assertion, ".")
	if len(parts) != 3 {
		return errAssertion(50027, "JWT token is invalid or malformed.")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
		Nbf int64  `json:"nbf"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(pb, &claims) != nil {
		return errAssertion(50027, "JWT token is invalid or malformed.")
	}
	cert, x := app.FindCertificate(hdr.X5t, hdr.X5tS256)
	if cert == nil {
		return errAssertion(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", app.AppID)
	}
	pub := x.PublicKey.(*rsa.PublicKey) // parseCertificate guarantees RSA
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var bad bool
	switch hdr.Alg {
	case "RS256":
		bad = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil
	case "PS256":
		bad = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) != nil
	default:
		bad = true
	}
	if bad {
		return errAssertion(700027, "Client assertion failed signature validation.")
	}
	if !strings.EqualFold(claims.Iss, app.AppID) || !strings.EqualFold(claims.Sub, app.AppID) {
		return errAssertion(700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .")
	}
	if !assertionAudience(s, req.host, claims.Aud) {
		return errAssertion(700212, "No matching federated identity record found for presented assertion audience '%s'.", claims.Aud)
	}
	if claims.Exp == 0 || now.After(time.Unix(claims.Exp, 0).Add(assertionSkew)) ||
		now.Before(time.Unix(claims.Nbf, 0).Add(-assertionSkew)) {
		return errAssertion(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339Nano), time.Unix(claims.Nbf, 0).UTC().Format(time.RFC3339), time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
	}
	if !cert.Expires.IsZero() && now.After(cert.Expires) {
		return errAssertion(700027, "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '%s']", cert.Thumbprint)
	}
	return nil
}

// assertionAudience accepts this tenant's token endpoint under any of its
// names (id or domain), v2 or v1 path, at the host the request came to.
func assertionAudience(s *tenant.State, host, aud string) bool {
	for _, name := range append([]string{s.ID}, s.Domains...) {
		for _, p := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
			if strings.EqualFold(aud, "https://"+host+"/"+name+p) {
				return true
			}
		}
	}
	return false
}
