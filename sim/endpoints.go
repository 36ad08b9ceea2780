package sim

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Endpoints is what endpoints.json holds: where every service listens and
// the demo tenant's credentials. Scripts rely on the keys; add, never
// rename.
type Endpoints struct {
	IMAP struct {
		TLS      string `json:"tls"`
		StartTLS string `json:"starttls"`
	} `json:"imap"`
	POP struct {
		TLS      string `json:"tls"`
		StartTLS string `json:"starttls"`
	} `json:"pop"`
	SMTP struct {
		StartTLS string `json:"starttls"`
	} `json:"smtp"`
	// Authority is the Entra authority for MSAL (https://host:port/<tid>).
	Authority           string `json:"authority"`
	TokenURL            string `json:"token_url"`
	OpenIDConfiguration string `json:"openid_configuration"`
	// GraphURL is Microsoft Graph's root (the emulator's
	// https://graph.microsoft.com): GET GraphURL + "/v1.0/…" with a token
	// for GraphScope. ExchangeAdminURL is Exchange's
	// (https://outlook.office365.com): POST InvokeCommandURL with a token
	// for ExchangeScope. See sim/graph and sim/adminapi.
	GraphURL         string `json:"graph_url"`
	GraphScope       string `json:"graph_scope"`
	ExchangeAdminURL string `json:"exchange_admin_url"`
	InvokeCommandURL string `json:"invoke_command_url"`
	ExchangeScope    string `json:"exchange_scope"`
	// AdminURL takes cmdlet lines (see cmdlet.AdminHandler) with
	// "Authorization: Bearer <contents of AdminTokenFile>".
	AdminURL       string `json:"admin_url"`
	AdminTokenFile string `json:"admin_token_file"`
	// CAFile is the PEM CA every TLS endpoint's certificate chains to.
	CAFile string `json:"ca_file"`
	// ServerNames are names the certificate covers besides 127.0.0.1, ::1
	// and localhost: clients may keep the production names for SNI.
	ServerNames []string `json:"server_names"`
	StateFile   string   `json:"state_file"`

	TenantID string `json:"tenant_id"`
	Domain   string `json:"domain"` // the initial domain (contoso.onmicrosoft.com)
	Era      string `json:"era"`

	Demo *Demo `json:"demo,omitempty"`
	// Reader is the tenant-reads app: read-only Graph permissions and
	// Exchange.ManageAsApp with Global Reader (tenant-api.md §0).
	Reader *tenant.ReaderInfo `json:"reader,omitempty"`

	Users []UserInfo `json:"users"`
	Apps  []AppInfo  `json:"apps"`
}

// Demo is the healthy path: that user's Basic SMTP AUTH works, and that
// app's client-credentials token works for XOAUTH2 on all three protocols.
type Demo struct {
	Tenant       string `json:"tenant"` // tenant id, as in the authority
	User         string `json:"user"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`
	// CertFile and KeyFile hold the app's client certificate and key (PEM)
	// for client_assertion; Thumbprint is its x5t.
	CertFile   string `json:"cert_file,omitempty"`
	KeyFile    string `json:"key_file,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
}

// UserInfo is one user of the tenant with what makes it interesting.
type UserInfo struct {
	UPN                              string `json:"upn"`
	DisplayName                      string `json:"display_name"`
	Password                         string `json:"password"`
	Locked                           bool   `json:"locked,omitempty"`
	Disabled                         bool   `json:"disabled,omitempty"`
	MFARequired                      bool   `json:"mfa_required,omitempty"`
	ConditionalAccessBlocked         bool   `json:"conditional_access_blocked,omitempty"`
	AuthenticationPolicy             string `json:"authentication_policy,omitempty"`
	ImapEnabled                      bool   `json:"imap_enabled"`
	PopEnabled                       bool   `json:"pop_enabled"`
	SmtpClientAuthenticationDisabled *bool  `json:"smtp_client_authentication_disabled"`
}

// AppInfo is one app registration.
type AppInfo struct {
	ClientID           string   `json:"client_id"`
	DisplayName        string   `json:"display_name"`
	EnterpriseObjectID string   `json:"enterprise_object_id"`
	ClientSecrets      []string `json:"client_secrets"`
	Thumbprints        []string `json:"certificate_thumbprints"`
	Roles              []string `json:"roles"`
	DelegatedScopes    []string `json:"delegated_scopes"`
	GraphRoles         []string `json:"graph_roles"`
	DirectoryRoles     []string `json:"directory_roles"`
}

// ReadEndpoints reads an endpoints.json file.
func ReadEndpoints(path string) (*Endpoints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: endpoints: %w", err)
	}
	var e Endpoints
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("sim: endpoints %s: %w", path, err)
	}
	return &e, nil
}

// AdminToken reads the admin bearer token the file names.
func (e *Endpoints) AdminToken() (string, error) {
	b, err := os.ReadFile(e.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("sim: admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tenantInfo fills the tenant-derived part of e from the state.
func tenantInfo(e *Endpoints, s *tenant.State, dir string) {
	e.TenantID = s.ID
	if len(s.Domains) > 0 {
		e.Domain = s.Domains[0]
	}
	e.Era = string(s.Era)
	if e.Era == "" {
		e.Era = string(tenant.DefaultEra)
	}
	e.Users = e.Users[:0]
	for _, u := range s.Users {
		e.Users = append(e.Users, UserInfo{
			UPN: u.UPN, DisplayName: u.DisplayName, Password: u.Password,
			Locked: u.Locked, Disabled: u.Disabled, MFARequired: u.MFARequired,
			ConditionalAccessBlocked: u.ConditionalAccessBlocked, AuthenticationPolicy: u.AuthenticationPolicy,
			ImapEnabled: u.CAS.ImapEnabled, PopEnabled: u.CAS.PopEnabled,
			SmtpClientAuthenticationDisabled: u.CAS.SmtpClientAuthenticationDisabled,
		})
	}
	e.Apps = e.Apps[:0]
	for _, a := range s.Apps {
		ai := AppInfo{ClientID: a.AppID, DisplayName: a.DisplayName, EnterpriseObjectID: a.EnterpriseObjectID,
			ClientSecrets: []string{}, Thumbprints: []string{},
			Roles: append([]string{}, a.Roles...), DelegatedScopes: append([]string{}, a.DelegatedScopes...),
			GraphRoles: append([]string{}, a.GraphRoles...), DirectoryRoles: append([]string{}, a.DirectoryRoles...)}
		for _, sec := range a.Secrets {
			ai.ClientSecrets = append(ai.ClientSecrets, sec.Value)
		}
		for _, c := range a.Certificates {
			ai.Thumbprints = append(ai.Thumbprints, c.Thumbprint)
		}
		e.Apps = append(e.Apps, ai)
	}
	e.Reader = nil
	if r, ok := s.ReaderInfo(); ok {
		e.Reader = &r
	}
	e.Demo = nil
	if d, ok := s.DemoInfo(); ok {
		e.Demo = &Demo{Tenant: d.Tenant, User: d.User, Password: d.Password, ClientID: d.ClientID,
			ClientSecret: d.ClientSecret, Scope: "https://outlook.office365.com/.default", Thumbprint: d.Thumbprint}
		if d.CertificatePEM != "" && d.KeyPEM != "" {
			e.Demo.CertFile = filepath.Join(dir, DemoCertFile)
			e.Demo.KeyFile = filepath.Join(dir, DemoCertKeyFile)
		}
	}
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
