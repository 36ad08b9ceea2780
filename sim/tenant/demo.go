package tenant

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Fixed identifiers of the demo tenant, so that scripts and docs can name
// them. Credentials (passwords, client secret, keys) are random per Demo()
// call and kept in the State, so a saved state keeps them.
const (
	DemoTenantID       = "8f3b2c1a-5d4e-4f60-9a7b-0c1d2e3f4a5b"
	DemoAppID          = "3c9e7a51-2b4d-4e8f-a6c0-91d2e3f4b5a6"
	DemoAppObjectID    = "b7e4d2c1-6a5f-4b3e-8d9c-0a1b2c3d4e5f"
	DemoAppRegObjectID = "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9" // the app registration's own object id: the wrong one for New-ServicePrincipal
	DemoUser           = "demo@contoso.com"
	DemoPolicy         = "Allow SMTP Basic"
	// The tenant-reads app (tenant-api.md §0's permission bundle, read
	// only): Graph Policy.Read.All, AuditLog.Read.All, Directory.Read.All,
	// Application.Read.All; Exchange.ManageAsApp with Global Reader.
	DemoReaderAppID    = "5a1d7c3e-8b2f-4e6a-9c0d-1e2f3a4b5c6d"
	DemoReaderObjectID = "6b2e8d4f-9c3a-4f7b-8d1e-2f3a4b5c6d7e"
)

// ReaderGraphRoles are the Graph permissions of the demo reader app.
var ReaderGraphRoles = []string{"Policy.Read.All", "AuditLog.Read.All", "Directory.Read.All", "Application.Read.All"}

// Demo builds the default demo tenant "contoso". Users:
//
//	demo@contoso.com      healthy: Basic SMTP (policy allows SMTP), XOAUTH2 everywhere via the demo app
//	scanner@contoso.com   a scan-to-mail device: Basic SMTP only
//	noSmtp@contoso.com    Set-CASMailbox -SmtpClientAuthenticationDisabled $true
//	locked@contoso.com    smart lockout tripped
//	disabled@contoso.com  account disabled
//	mfa@contoso.com       per-user MFA required (registered)
//	blocked@contoso.com   Conditional Access blocks non-interactive sign-in
//	noimap@contoso.com    ImapEnabled/PopEnabled false
//	shared@contoso.com    a mailbox the demo app has no FullAccess on
//
// The tenant default policy "Block Basic Auth" blocks Basic everywhere;
// every user but shared@ is assigned "Allow SMTP Basic", so that each shows
// its own cause on Basic SMTP (S12 locked, S13 disabled, S11 MFA/CA, S6).
func Demo() *State {
	s, err := demo()
	if err != nil {
		// Only crypto/rand or RSA key generation can fail here, which
		// they do not on any platform Go supports.
		panic(err)
	}
	return s
}

func demo() (*State, error) {
	key, err := NewSigningKey()
	if err != nil {
		return nil, err
	}
	cert, err := NewAppCertificate("exoprobe demo app", time.Now().AddDate(2, 0, 0))
	if err != nil {
		return nil, err
	}
	s := &State{
		ID:                          DemoTenantID,
		Name:                        "contoso",
		Domains:                     []string{"contoso.onmicrosoft.com", "contoso.com"},
		Era:                         Era2026,
		BasicAuthRetiredImapPop:     true,
		PropagationDelay:            Duration(30 * time.Second),
		DefaultAuthenticationPolicy: "Block Basic Auth",
		Policies: []*AuthenticationPolicy{
			{Name: "Block Basic Auth", History: []PolicyVersion{{}}},
			{Name: DemoPolicy, AllowBasic: AllowBasic{AllowBasicAuthSmtp: true},
				History: []PolicyVersion{{AllowBasic: AllowBasic{AllowBasicAuthSmtp: true}}}},
		},
		SigningKey: key,
		Demo:       &DemoRef{User: DemoUser, AppID: DemoAppID},
	}
	t := true
	users := []struct {
		local, name string
		mod         func(u *User)
	}{
		{"demo", "Demo User", func(u *User) { u.AuthenticationPolicy = DemoPolicy }},
		{"scanner", "Scanner", func(u *User) { u.AuthenticationPolicy = DemoPolicy }},
		{"nosmtp", "No SMTP AUTH", func(u *User) {
			u.AuthenticationPolicy = DemoPolicy
			u.CAS.SmtpClientAuthenticationDisabled = &t
		}},
		{"locked", "Locked Out", func(u *User) { u.Locked = true; u.FailedLogins = 10 }},
		{"disabled", "Disabled Account", func(u *User) { u.Disabled = true }},
		{"mfa", "MFA Required", func(u *User) { u.MFARegistered, u.MFARequired = true, true }},
		{"blocked", "CA Blocked", func(u *User) { u.ConditionalAccessBlocked = true }},
		{"noimap", "No IMAP POP", func(u *User) { u.CAS.ImapEnabled, u.CAS.PopEnabled = false, false }},
		{"shared", "Shared Mailbox", func(u *User) {}}, // org default policy: Basic SMTP blocked (S9)
	}
	for _, d := range users {
		pw, err := randomSecret(18)
		if err != nil {
			return nil, err
		}
		u := &User{
			UPN: d.local + "@contoso.com", ObjectID: newGUID(), DisplayName: d.name, Password: pw,
			CAS: CASMailbox{ImapEnabled: true, PopEnabled: true},
		}
		if d.local != "shared" {
			// Every user but the shared mailbox may use Basic SMTP, so
			// that its own problem (lockout, MFA, …) is what SMTP shows.
			u.AuthenticationPolicy = DemoPolicy
		}
		d.mod(u)
		s.Users = append(s.Users, u)
	}
	secret, err := randomSecret(30)
	if err != nil {
		return nil, err
	}
	s.Apps = []*App{{
		AppID: DemoAppID, DisplayName: "exoprobe demo", EnterpriseObjectID: DemoAppObjectID,
		Secrets:         []Secret{{ID: newGUID(), Value: secret, Expires: time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)}},
		Certificates:    []Certificate{*cert},
		Roles:           []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"},
		DelegatedScopes: []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"},
		PublicClient:    true,
	}}
	readerSecret, err := randomSecret(30)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	s.Apps[0].Secrets[0].Created = now
	s.Apps = append(s.Apps, &App{
		AppID: DemoReaderAppID, DisplayName: "exoprobe tenant reader", EnterpriseObjectID: DemoReaderObjectID,
		Secrets: []Secret{{ID: newGUID(), Value: readerSecret, Created: now, Expires: now.AddDate(1, 0, 0),
			DisplayName: "exoprobe tenant reads"}},
		Roles:          []string{"Exchange.ManageAsApp"},
		GraphRoles:     slices.Clone(ReaderGraphRoles),
		DirectoryRoles: []string{"Global Reader"},
	})
	s.Reader = DemoReaderAppID
	s.ServicePrincipals = []*ServicePrincipal{{AppID: DemoAppID, ObjectID: DemoAppObjectID, DisplayName: "exoprobe demo"}}
	for _, mb := range []string{"demo", "scanner", "nosmtp", "noimap"} {
		s.MailboxPermissions = append(s.MailboxPermissions, &MailboxPermission{
			Mailbox: mb + "@contoso.com", User: DemoAppObjectID, AccessRights: []string{"FullAccess"},
		})
	}
	return s, nil
}

// DemoInfo is the healthy path endpoints.json advertises as "demo".
type DemoInfo struct {
	Tenant       string `json:"tenant"`
	User         string `json:"user"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// CertificatePEM and KeyPEM are the app's client certificate and its
	// private key, for client_assertion.
	CertificatePEM string `json:"certificate_pem,omitempty"`
	KeyPEM         string `json:"key_pem,omitempty"`
	Thumbprint     string `json:"thumbprint,omitempty"`
}

// ReaderInfo is the tenant-reads app endpoints.json advertises as "reader".
type ReaderInfo struct {
	Tenant       string `json:"tenant"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// ReaderInfo returns the reader app's credentials; false without one.
func (s *State) ReaderInfo() (ReaderInfo, bool) {
	a := s.FindApp(s.Reader)
	if s.Reader == "" || a == nil || len(a.Secrets) == 0 {
		return ReaderInfo{}, false
	}
	return ReaderInfo{Tenant: s.ID, ClientID: a.AppID, ClientSecret: a.Secrets[len(a.Secrets)-1].Value}, true
}

// DemoInfo returns the demo credentials; false when the state has no demo.
func (s *State) DemoInfo() (DemoInfo, bool) {
	if s.Demo == nil {
		return DemoInfo{}, false
	}
	u, a := s.FindUser(s.Demo.User), s.FindApp(s.Demo.AppID)
	if u == nil || a == nil {
		return DemoInfo{}, false
	}
	d := DemoInfo{Tenant: s.ID, User: u.UPN, Password: u.Password, ClientID: a.AppID}
	if len(a.Secrets) > 0 {
		d.ClientSecret = a.Secrets[len(a.Secrets)-1].Value
	}
	if len(a.Certificates) > 0 {
		c := a.Certificates[len(a.Certificates)-1]
		d.CertificatePEM, d.KeyPEM, d.Thumbprint = c.PEM, c.KeyPEM, c.Thumbprint
	}
	return d, true
}

// NewAppCertificate makes a self-signed client certificate with its key, as
// an admin would with New-SelfSignedCertificate before uploading it.
func NewAppCertificate(subject string, notAfter time.Time) (*Certificate, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("tenant: app certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("tenant: app certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("tenant: app certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("tenant: app certificate: %w", err)
	}
	sum := sha1.Sum(der)
	return &Certificate{
		Thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]),
		PEM:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
		Expires:    notAfter.UTC().Truncate(time.Second),
	}, nil
}

// randomSecret returns n random bytes in base64url: printable, no spaces
// (Entra refuses passwords with leading or trailing whitespace).
func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("tenant: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newGUID returns a random version-4 GUID.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// NewGUID is newGUID for the cmdlet interpreter and the Entra endpoint.
func NewGUID() string { return newGUID() }
