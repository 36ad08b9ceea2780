package entra

import (
	"context"
	"net/url"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Token requests write sign-in rows (tenant-api.md §5.7) naming the
// credential used (§5.2 servicePrincipalCredentialKeyId/Thumbprint).
func TestTokenRequestsWriteSignIns(t *testing.T) {
	e := newEnv(t)
	certs, key, err := confidential.CertFromPEM([]byte(e.demo.CertificatePEM+e.demo.KeyPEM), "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.msal(cred).AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatal(err)
	}
	e.post("", e.ropc(e.demo.User, "wrong"))
	e.post("", url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-00000000dead"},
		"client_secret": {"x"}, "scope": {"https://outlook.office365.com/.default"}})
	var rows []tenant.SignIn
	var certKey, certThumb string
	e.tn.View(func(s *tenant.State) {
		for _, r := range s.SignIns {
			rows = append(rows, *r)
		}
		c := &s.FindApp(e.demo.ClientID).Certificates[0]
		certKey, certThumb = c.KeyIDOf(), certThumbprintHex(c)
	})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	sp, ropc, unknown := rows[0], rows[1], rows[2]
	if sp.EventType != tenant.EventServicePrincipal || sp.ClientCredentialType != "certificate" || sp.CredentialKeyID != certKey ||
		sp.CredentialThumbprint != certThumb || len(certThumb) != 40 || sp.ResourceID != tenant.ResourceGraphAppID || sp.ErrorCode != 0 {
		t.Errorf("certificate row %+v", sp)
	}
	if ropc.EventType != tenant.EventInteractiveUser || ropc.ErrorCode != 50126 || ropc.UserPrincipalName != e.demo.User ||
		ropc.ClientAppUsed != tenant.ClientAppDesktop || ropc.ConditionalAccessStatus != "notApplied" {
		t.Errorf("ROPC row %+v", ropc)
	}
	if unknown.ErrorCode != 700016 || unknown.AppID != "00000000-0000-0000-0000-00000000dead" {
		t.Errorf("unknown app row %+v", unknown)
	}
}
