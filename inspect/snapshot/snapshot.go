// Package snapshot holds what a tenant read returned, as plain data: the
// settings that decide mail logins (Exchange's transport config, CAS
// mailbox switches, authentication policies, service principals and
// mailbox permissions; Entra's security defaults, Conditional Access,
// sign-ins and app credentials) and why any part could not be read.
//
// It has no I/O and no dependencies, so that package inspect (which reads
// the tenant over HTTP) produces it and package diagnose (which turns it
// into evidence) consumes it without either importing the other: data
// flows inspect → snapshot → diagnose. Field names inside each part keep
// Microsoft's spelling (SmtpClientAuthenticationDisabled, isEnabled) so
// that the evidence quotes what an admin sees in PowerShell or Graph.
package snapshot

import (
	"strings"
	"time"
)

// Snapshot is one read of one tenant. A nil part was not read (not
// configured, or the read failed: Problems says which and why).
type Snapshot struct {
	// Tenant is the configured name; TenantID the id or domain used in
	// the calls.
	Tenant   string    `json:"tenant"`
	TenantID string    `json:"tenant_id"`
	ReadAt   time.Time `json:"read_at"`

	// Exchange (InvokeCommand Get- cmdlets).
	TransportConfig        *TransportConfig          `json:"transport_config,omitempty"`
	OrganizationConfig     *OrganizationConfig       `json:"organization_config,omitempty"`
	AuthenticationPolicies []AuthenticationPolicy    `json:"authentication_policies,omitempty"`
	PoliciesRead           bool                      `json:"-"`
	Mailboxes              map[string]*Mailbox       `json:"mailboxes,omitempty"` // key: lower-case address
	ServicePrincipals      []ExchangeSP              `json:"exchange_service_principals,omitempty"`
	ServicePrincipalsRead  bool                      `json:"-"`
	SecurityDefaults       *SecurityDefaults         `json:"security_defaults,omitempty"`
	ConditionalAccess      []ConditionalAccessPolicy `json:"conditional_access,omitempty"`
	ConditionalAccessRead  bool                      `json:"-"`
	Apps                   map[string]*App           `json:"apps,omitempty"` // key: appId (lower case)
	SignIns                []SignIn                  `json:"signins,omitempty"`
	SignInsRead            bool                      `json:"-"`
	// SignInsSince is the start of the sign-in window read.
	SignInsSince time.Time `json:"signins_since,omitzero"`

	// Problems: every part that could not be read, and why.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem kinds: what a caller may branch on.
const (
	KindPermission  = "permission_missing"
	KindLicence     = "licence_missing"
	KindThrottled   = "throttled"
	KindTimeout     = "timeout"
	KindNotFound    = "not_found"
	KindUnavailable = "unavailable"
	KindToken       = "token_failed"
	KindInvalid     = "invalid_response"
	KindDisabled    = "disabled" // the read is turned off in the config
	KindTruncated   = "truncated"
)

// Problem is "could not read What because Why".
type Problem struct {
	What string `json:"what"` // "Get-TransportConfig", "GET /auditLogs/signIns"
	Kind string `json:"kind"`
	Why  string `json:"why"`
	// RetryAfter is the server's Retry-After when throttled.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
}

// String is the sentence every surface shows.
func (p Problem) String() string { return "could not read " + p.What + " because " + p.Why }

// Problem returns the first problem recorded for what, if any.
func (s *Snapshot) Problem(what string) (Problem, bool) {
	if s == nil {
		return Problem{}, false
	}
	for _, p := range s.Problems {
		if p.What == what {
			return p, true
		}
	}
	return Problem{}, false
}

// TransportConfig is Get-TransportConfig's part that matters.
type TransportConfig struct {
	SmtpClientAuthenticationDisabled bool `json:"SmtpClientAuthenticationDisabled"`
}

// OrganizationConfig is Get-OrganizationConfig's part that matters.
type OrganizationConfig struct {
	// DefaultAuthenticationPolicy: nil when the organization has none.
	DefaultAuthenticationPolicy *string `json:"DefaultAuthenticationPolicy"`
}

// AuthenticationPolicy is one Get-AuthenticationPolicy row.
type AuthenticationPolicy struct {
	Name               string `json:"Name"`
	Identity           string `json:"Identity,omitempty"`
	DistinguishedName  string `json:"DistinguishedName,omitempty"`
	AllowBasicAuthSmtp bool   `json:"AllowBasicAuthSmtp"`
	AllowBasicAuthImap bool   `json:"AllowBasicAuthImap"`
	AllowBasicAuthPop  bool   `json:"AllowBasicAuthPop"`
}

// Allows reports whether the policy allows Basic for protocol ("imap",
// "pop", "smtp").
func (p AuthenticationPolicy) Allows(protocol string) bool {
	switch protocol {
	case "imap":
		return p.AllowBasicAuthImap
	case "pop":
		return p.AllowBasicAuthPop
	case "smtp":
		return p.AllowBasicAuthSmtp
	}
	return false
}

// Mailbox is what Get-CASMailbox, Get-User and Get-MailboxPermission say
// about one mailbox. CASRead, UserRead and PermissionsRead tell a missing
// value from a read that failed.
type Mailbox struct {
	Address string `json:"address"`
	Found   bool   `json:"found"`
	CASRead bool   `json:"-"`
	// SmtpClientAuthenticationDisabled: nil = follow the organization.
	SmtpClientAuthenticationDisabled *bool               `json:"SmtpClientAuthenticationDisabled"`
	ImapEnabled                      *bool               `json:"ImapEnabled,omitempty"`
	PopEnabled                       *bool               `json:"PopEnabled,omitempty"`
	UserRead                         bool                `json:"-"`
	AuthenticationPolicy             *string             `json:"AuthenticationPolicy"`
	PermissionsRead                  bool                `json:"-"`
	Permissions                      []MailboxPermission `json:"permissions,omitempty"`
}

// MailboxPermission is one Get-MailboxPermission row.
type MailboxPermission struct {
	User         string   `json:"User"`
	AccessRights []string `json:"AccessRights"`
	Deny         bool     `json:"Deny,omitempty"`
}

// Has reports whether the row grants right (case-insensitive).
func (p MailboxPermission) Has(right string) bool {
	if p.Deny {
		return false
	}
	for _, r := range p.AccessRights {
		if strings.EqualFold(r, right) {
			return true
		}
	}
	return false
}

// ExchangeSP is one Get-ServicePrincipal row.
type ExchangeSP struct {
	AppID       string `json:"AppId"`
	ObjectID    string `json:"ObjectId"`
	Identity    string `json:"Identity,omitempty"`
	DisplayName string `json:"DisplayName,omitempty"`
}

// SecurityDefaults is Graph's identitySecurityDefaultsEnforcementPolicy.
type SecurityDefaults struct {
	IsEnabled bool `json:"isEnabled"`
}

// ConditionalAccessPolicy keeps the fields that decide legacy logins.
type ConditionalAccessPolicy struct {
	ID                  string   `json:"id"`
	DisplayName         string   `json:"displayName"`
	State               string   `json:"state"`
	ClientAppTypes      []string `json:"clientAppTypes"`
	IncludeUsers        []string `json:"includeUsers,omitempty"`
	ExcludeUsers        []string `json:"excludeUsers,omitempty"`
	IncludeGroups       []string `json:"includeGroups,omitempty"`
	IncludeRoles        []string `json:"includeRoles,omitempty"`
	IncludeApplications []string `json:"includeApplications,omitempty"`
	BuiltInControls     []string `json:"builtInControls,omitempty"`
}

// AppliesToLegacy reports whether the policy is enforced and targets
// legacy ("other") clients: for those any grant ends as a block
// (tenant-api.md §4.4).
func (p ConditionalAccessPolicy) AppliesToLegacy() bool {
	if p.State != "enabled" {
		return false
	}
	for _, c := range p.ClientAppTypes {
		if c == "all" || c == "other" {
			return len(p.BuiltInControls) > 0
		}
	}
	return false
}

// Blocks reports whether the policy's grant is an outright block (else
// MFA or another control a legacy client cannot satisfy).
func (p ConditionalAccessPolicy) Blocks() bool {
	for _, c := range p.BuiltInControls {
		if c == "block" {
			return true
		}
	}
	return false
}

// App is one app registration the tenant read looked at.
type App struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName,omitempty"`
	// ObjectID is the enterprise application's (service principal's)
	// object id, what New-ServicePrincipal -ObjectId wants.
	ObjectID    string       `json:"servicePrincipalId,omitempty"`
	Credentials []Credential `json:"credentials,omitempty"`
	Read        bool         `json:"-"`
}

// Credential is one password or key credential of an app.
type Credential struct {
	Kind        string    `json:"type"` // "secret" or "certificate"
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName,omitempty"`
	EndDateTime time.Time `json:"endDateTime"`
	// Source: "application" or "servicePrincipal" (Graph), or "local" for
	// the certificate file the probe itself uses.
	Source string `json:"source"`
}

// SignIn is one row of the sign-in log (the fields exoprobe uses).
type SignIn struct {
	ID                string    `json:"id"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	UserPrincipalName string    `json:"userPrincipalName"`
	AppID             string    `json:"appId,omitempty"`
	AppDisplayName    string    `json:"appDisplayName,omitempty"`
	IPAddress         string    `json:"ipAddress,omitempty"`
	ClientAppUsed     string    `json:"clientAppUsed"`
	ErrorCode         int       `json:"errorCode"`
	FailureReason     string    `json:"failureReason,omitempty"`
	// AppliedCA are the names of the Conditional Access policies whose
	// result was failure.
	FailedCAPolicies []string `json:"failedConditionalAccessPolicies,omitempty"`
}

// Protocol maps clientAppUsed to "imap", "pop" or "smtp"; "" for any
// other client (tenant-api.md §5.4 spellings, compared case-insensitively).
func (s SignIn) Protocol() string {
	switch strings.ToLower(s.ClientAppUsed) {
	case "imap4", "imap":
		return "imap"
	case "pop3", "pop":
		return "pop"
	case "authenticated smtp", "smtp":
		return "smtp"
	}
	return ""
}

// EffectiveSMTPAuthDisabled is the mailbox's own value when set, else the
// organization's; source says which ("mailbox" or "organization"). ok is
// false when the deciding value was not read.
func (s *Snapshot) EffectiveSMTPAuthDisabled(address string) (disabled bool, source string, ok bool) {
	m := s.Mailbox(address)
	if m != nil && m.CASRead && m.Found && m.SmtpClientAuthenticationDisabled != nil {
		return *m.SmtpClientAuthenticationDisabled, "mailbox", true
	}
	if m == nil || !m.CASRead || !m.Found {
		return false, "", false
	}
	if s.TransportConfig == nil {
		return false, "", false
	}
	return s.TransportConfig.SmtpClientAuthenticationDisabled, "organization", true
}

// Mailbox returns the mailbox read for address, nil if none.
func (s *Snapshot) Mailbox(address string) *Mailbox {
	if s == nil || s.Mailboxes == nil {
		return nil
	}
	return s.Mailboxes[strings.ToLower(address)]
}

// App returns the app read for appID, nil if none.
func (s *Snapshot) App(appID string) *App {
	if s == nil || s.Apps == nil {
		return nil
	}
	return s.Apps[strings.ToLower(appID)]
}

// EffectivePolicy is the authentication policy in force for a mailbox's
// user: the user's own, else the organization's default. source is "user"
// or "organization default"; found is false when no policy applies; ok is
// false when what decides was not read.
func (s *Snapshot) EffectivePolicy(address string) (p AuthenticationPolicy, source string, found, ok bool) {
	m := s.Mailbox(address)
	if m == nil || !m.UserRead || !m.Found {
		return p, "", false, false
	}
	name := ""
	switch {
	case m.AuthenticationPolicy != nil && *m.AuthenticationPolicy != "":
		name, source = *m.AuthenticationPolicy, "user"
	case s.OrganizationConfig == nil:
		return p, "", false, false
	case s.OrganizationConfig.DefaultAuthenticationPolicy != nil && *s.OrganizationConfig.DefaultAuthenticationPolicy != "":
		name, source = *s.OrganizationConfig.DefaultAuthenticationPolicy, "organization default"
	default:
		return p, "", false, true
	}
	if !s.PoliciesRead {
		return AuthenticationPolicy{Name: name}, source, true, false
	}
	for _, ap := range s.AuthenticationPolicies {
		if strings.EqualFold(ap.Name, name) || strings.EqualFold(ap.Identity, name) ||
			(ap.DistinguishedName != "" && strings.EqualFold(ap.DistinguishedName, name)) {
			return ap, source, true, true
		}
	}
	// Named but not listed: its name is known, its switches are not.
	return AuthenticationPolicy{Name: name}, source, true, false
}

// ExchangeSP returns Exchange's service principal for appID, if listed.
func (s *Snapshot) ExchangeSP(appID string) (ExchangeSP, bool) {
	if s == nil {
		return ExchangeSP{}, false
	}
	for _, sp := range s.ServicePrincipals {
		if strings.EqualFold(sp.AppID, appID) {
			return sp, true
		}
	}
	return ExchangeSP{}, false
}

// BasicSMTPCutoff is when Microsoft turns Basic SMTP AUTH off by default
// for existing tenants (end of December 2026, issue 10).
var BasicSMTPCutoff = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
