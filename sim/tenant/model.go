// Package tenant is the emulated Exchange Online / Microsoft Entra tenant:
// its users, authentication policies, transport and CAS mailbox settings,
// security defaults, app registrations, Exchange service principals and
// mailbox permissions; the decisions the real service makes for a login from
// that state; and the tokens its Entra endpoint issues.
//
// The protocol servers ask a Tenant for a Verdict and turn it into the exact
// words Exchange uses; the cmdlet interpreter changes the State.
package tenant

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Era selects how Exchange words its replies; Microsoft changed them over
// time (exo-responses.md §2, §4).
type Era string

const (
	// Era2023: generic IMAP/POP refusals ("NO LOGIN failed."), AUTH=PLAIN
	// advertised by IMAP.
	Era2023 Era = "2023"
	// Era2026: IMAP advertises "AUTH=XOAUTH2 LOGINDISABLED" and says
	// "NO Basic authentication is disabled."; POP says
	// "-ERR Basic authentication is disabled".
	Era2026 Era = "2026"
)

// DefaultEra is the era of a new tenant.
const DefaultEra = Era2026

// Protocol is a mail protocol as the emulator sees it. The emulator does not
// import the probe: the two are independent witnesses of Exchange.
type Protocol string

const (
	IMAP Protocol = "imap"
	POP  Protocol = "pop"
	SMTP Protocol = "smtp"
)

// Verdict is what the emulated service decides about one login. Each
// protocol server maps a Verdict (and the era) to Exchange's exact words.
type Verdict string

const (
	VerdictOK             Verdict = "ok"
	VerdictBadCredentials Verdict = "bad_credentials"
	// VerdictBasicDisabled: Basic refused for this protocol, by an
	// authentication policy or because Basic for IMAP/POP is retired.
	VerdictBasicDisabled       Verdict = "basic_disabled"
	VerdictSMTPDisabledTenant  Verdict = "smtp_disabled_tenant"
	VerdictSMTPDisabledMailbox Verdict = "smtp_disabled_mailbox"
	VerdictSecurityDefaults    Verdict = "security_defaults"
	VerdictCriteriaNotMet      Verdict = "criteria_not_met" // Conditional Access / MFA
	VerdictAccountLocked       Verdict = "account_locked"
	VerdictAccountDisabled     Verdict = "account_disabled"
	VerdictTokenRejected       Verdict = "token_rejected" // XOAUTH2 token refused
	VerdictNotConnected        Verdict = "not_connected"  // authenticated, mailbox unreachable
	VerdictProtocolDisabled    Verdict = "protocol_disabled"
	VerdictThrottled           Verdict = "throttled"
	// VerdictBasicRetired: Basic SMTP AUTH (client submission) permanently
	// removed by Microsoft (BasicAuthRetiredSmtp); no setting brings it back.
	VerdictBasicRetired Verdict = "basic_retired"
)

// Duration is a time.Duration that reads and writes as "30s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// State is everything the tenant knows, as saved to and loaded from a file.
// All access goes through Tenant's View and Update.
type State struct {
	ID      string   `json:"id"`      // tenant GUID (Entra "tid")
	Name    string   `json:"name"`    // "contoso"
	Domains []string `json:"domains"` // accepted domains; first is the initial one
	Era     Era      `json:"era"`

	// SecurityDefaults is Entra's security defaults switch.
	SecurityDefaults bool `json:"security_defaults"`
	// BasicAuthRetiredImapPop models Microsoft's permanent retirement of
	// Basic auth for IMAP and POP (2022-2023): while true, no authentication
	// policy can turn it back on. An emulator-only knob (Set-SimTenant).
	BasicAuthRetiredImapPop bool `json:"basic_auth_retired_imap_pop"`
	// BasicAuthRetiredSmtp models the announced permanent removal of Basic
	// auth for SMTP client submission (exo-responses.md S14, §4a): not in
	// force in today's Exchange, hence false by default, even in the demo
	// tenant. An emulator-only knob (Set-SimTenant) so that the S14 reply can
	// be tested end to end.
	BasicAuthRetiredSmtp bool `json:"basic_auth_retired_smtp"`

	Transport TransportConfig `json:"transport"`
	// DefaultAuthenticationPolicy names the org-wide policy
	// (Set-OrganizationConfig -DefaultAuthenticationPolicy); "" means none,
	// i.e. Basic allowed.
	DefaultAuthenticationPolicy string                  `json:"default_authentication_policy"`
	Policies                    []*AuthenticationPolicy `json:"policies"`
	// PropagationDelay is how long an authentication-policy change takes to
	// reach a user, unless Set-User -STSRefreshTokensValidFrom forces it.
	PropagationDelay Duration `json:"propagation_delay"`

	Users              []*User              `json:"users"`
	Apps               []*App               `json:"apps"`
	ServicePrincipals  []*ServicePrincipal  `json:"service_principals"`
	MailboxPermissions []*MailboxPermission `json:"mailbox_permissions"`

	// DefaultPolicyHistory records Set-OrganizationConfig
	// -DefaultAuthenticationPolicy changes so that they propagate like
	// policy edits (see EffectivePolicy). Empty: DefaultAuthenticationPolicy
	// applies at once.
	DefaultPolicyHistory []PolicyAssignment `json:"default_policy_history,omitempty"`
	// LockoutThreshold is the number of consecutive bad passwords after
	// which smart lockout locks the account; 0 means 10 (Entra's default).
	LockoutThreshold int `json:"lockout_threshold,omitempty"`

	// SigningKey signs the access tokens the Entra endpoint issues.
	SigningKey *SigningKey `json:"signing_key,omitempty"`
	// RefreshTokens are the live refresh-token grants (hashes only).
	RefreshTokens []*RefreshToken `json:"refresh_tokens,omitempty"`
	// RefreshTokenMaxInactive is how long an unused refresh token stays
	// valid (AADSTS700082 after); 0 means 90 days, Entra's default.
	RefreshTokenMaxInactive Duration `json:"refresh_token_max_inactive,omitempty"`
	// Demo names the healthy-path user and app that endpoints.json
	// advertises as "demo".
	Demo *DemoRef `json:"demo,omitempty"`
	// Reader names the demo tenant-reads app (Graph and Exchange admin API
	// read permissions only) that endpoints.json advertises as "reader".
	Reader string `json:"reader,omitempty"`

	// SignIns is the Entra sign-in log (signinlog.go), oldest first.
	SignIns []*SignIn `json:"sign_ins,omitempty"`
	// SignInLogDelayOverride: nil means DefaultSignInLogDelay.
	SignInLogDelayOverride *Duration `json:"sign_in_log_delay,omitempty"`
	// EntraLicense: Free, P1 or P2; "" means P1.
	EntraLicense string `json:"entra_license,omitempty"`
	// LicenseErrorText picks which of the two texts of the sign-in log's
	// licence error Graph answers (tenant-api.md §2.5): "" the doc's, "new"
	// the newer variant.
	LicenseErrorText string `json:"license_error_text,omitempty"`
	// API holds the tenant-read API knobs (throttling, InvokeCommand).
	API APIKnobs `json:"api,omitempty"`

	// signer caches the parsed SigningKey (keyed by its kid).
	signer *rsa.PrivateKey
}

// PolicyAssignment is one value of an authentication-policy assignment
// (per user or org default) with the time it was made.
type PolicyAssignment struct {
	Policy    string    `json:"policy"` // "" = no policy
	ChangedAt time.Time `json:"changed_at"`
}

// SigningKey is the tenant's token-signing key pair.
type SigningKey struct {
	KID        string `json:"kid"`
	PrivatePEM string `json:"private_pem"` // PKCS#8
}

// RefreshToken is an issued refresh token. Only a hash of the token is kept,
// so a saved state file does not hand out sessions.
type RefreshToken struct {
	Hash     string    `json:"hash"` // hex SHA-256 of the token
	UPN      string    `json:"upn"`
	AppID    string    `json:"app_id"`
	Scopes   []string  `json:"scopes"` // requested scopes, as sent
	IssuedAt time.Time `json:"issued_at"`
	LastUsed time.Time `json:"last_used"`
	// Expired is set by the ExpireRefreshTokens knob.
	Expired bool `json:"expired,omitempty"`
}

// DemoRef names the demo user and app inside the State.
type DemoRef struct {
	User  string `json:"user"`
	AppID string `json:"app_id"`
}

// TransportConfig is the part of Get-TransportConfig the emulator models.
type TransportConfig struct {
	SmtpClientAuthenticationDisabled bool `json:"smtp_client_authentication_disabled"`
}

// AuthenticationPolicy is an Exchange authentication policy.
type AuthenticationPolicy struct {
	Name string `json:"name"`
	AllowBasic
	// History holds every configured value with the time it was set, oldest
	// first; the last entry equals AllowBasic. A user sees the newest entry
	// that has propagated to them.
	History []PolicyVersion `json:"history"`
}

// AllowBasic is the protocol switches of an authentication policy.
type AllowBasic struct {
	AllowBasicAuthImap bool `json:"allow_basic_auth_imap"`
	AllowBasicAuthPop  bool `json:"allow_basic_auth_pop"`
	AllowBasicAuthSmtp bool `json:"allow_basic_auth_smtp"`
}

// PolicyVersion is one configured value of a policy.
type PolicyVersion struct {
	AllowBasic
	ChangedAt time.Time `json:"changed_at"`
}

// User is an Entra user with an Exchange mailbox.
type User struct {
	UPN         string `json:"upn"` // also the primary SMTP address
	ObjectID    string `json:"object_id"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"`
	Locked      bool   `json:"locked"`
	Disabled    bool   `json:"disabled"`
	// MFARegistered: the user has registered MFA methods. MFARequired:
	// per-user MFA (or a policy) requires MFA at sign-in.
	MFARegistered bool `json:"mfa_registered"`
	MFARequired   bool `json:"mfa_required"`
	// ConditionalAccessBlocked: a Conditional Access policy blocks this
	// user's non-interactive sign-ins (AADSTS53003).
	ConditionalAccessBlocked bool `json:"conditional_access_blocked"`
	// AuthenticationPolicy assigned with Set-User; "" = org default.
	AuthenticationPolicy string `json:"authentication_policy"`
	// STSRefreshTokensValidFrom: refresh tokens issued before this are
	// invalid, and policy changes made before it apply at once.
	STSRefreshTokensValidFrom time.Time `json:"sts_refresh_tokens_valid_from"`
	// FailedLogins counts consecutive bad passwords (smart lockout).
	FailedLogins int        `json:"failed_logins"`
	CAS          CASMailbox `json:"cas"`

	// PolicyHistory records Set-User -AuthenticationPolicy changes so that
	// they propagate like policy edits. Empty: AuthenticationPolicy applies
	// at once.
	PolicyHistory []PolicyAssignment `json:"policy_history,omitempty"`
	// Throttled is an emulator knob (Set-SimUser -Throttled): every login
	// of this user gets VerdictThrottled.
	Throttled bool `json:"throttled,omitempty"`
}

// CASMailbox is the part of Get-CasMailbox the emulator models.
type CASMailbox struct {
	// SmtpClientAuthenticationDisabled: nil inherits the tenant's
	// TransportConfig value; true/false override it for this mailbox.
	SmtpClientAuthenticationDisabled *bool `json:"smtp_client_authentication_disabled"`
	ImapEnabled                      bool  `json:"imap_enabled"`
	PopEnabled                       bool  `json:"pop_enabled"`
}

// App is an Entra app registration with its enterprise application.
type App struct {
	AppID       string `json:"app_id"` // client_id
	DisplayName string `json:"display_name"`
	// EnterpriseObjectID is the object id of the app's enterprise
	// application (service principal) in Entra: the id New-ServicePrincipal
	// must be given. Using another id is the classic set-up mistake.
	EnterpriseObjectID string        `json:"enterprise_object_id"`
	Secrets            []Secret      `json:"secrets"`
	Certificates       []Certificate `json:"certificates"`
	// Roles are application permissions on Office 365 Exchange Online that
	// have admin consent: IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp.
	Roles []string `json:"roles"`
	// DelegatedScopes are consented delegated permissions:
	// IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send, offline_access.
	DelegatedScopes []string `json:"delegated_scopes"`
	// PublicClient: "Allow public client flows" (needed for ROPC without a
	// secret).
	PublicClient bool `json:"public_client"`
	// ObjectID is the app registration's own object id (Graph
	// /applications/{id}); "" derives a stable one from AppID.
	ObjectID string `json:"object_id,omitempty"`
	// GraphRoles are consented Microsoft Graph application permissions
	// (Policy.Read.All, AuditLog.Read.All, …): the roles of a Graph token.
	GraphRoles []string `json:"graph_roles,omitempty"`
	// DirectoryRoles are Entra roles assigned to the app's service
	// principal (Global Reader, …): the wids of its tokens.
	DirectoryRoles []string `json:"directory_roles,omitempty"`
}

// APIKnobs are the emulator-only switches of the Graph and Exchange admin
// endpoints.
type APIKnobs struct {
	// GraphThrottle and ExchangeThrottle: the next N requests to that API
	// get 429.
	GraphThrottle    int `json:"graph_throttle,omitempty"`
	ExchangeThrottle int `json:"exchange_throttle,omitempty"`
	// GraphUnavailable and ExchangeUnavailable: the next N requests to
	// that API get 503, as a transient outage (tenant-api.md §2.4 "503/504
	// transient"; §8.5: the module retries 503/504).
	GraphUnavailable    int `json:"graph_unavailable,omitempty"`
	ExchangeUnavailable int `json:"exchange_unavailable,omitempty"`
	// RetryAfter is the Retry-After value sent with a 429 ("2.128", "10");
	// "none" sends none. "" means "2".
	RetryAfter string `json:"retry_after,omitempty"`
	// SignInLicenseFlaky reproduces the known flakiness of §2.5: for an app
	// without Directory.Read.All, every other sign-in read gets the licence
	// error even on a P1/P2 tenant ("randomly", users reported).
	SignInLicenseFlaky bool `json:"sign_in_license_flaky,omitempty"`
	flakyCount         int
	// GraphBudgets enforces Graph's published per-workload limits
	// (tenant-api.md §2.6): sign-in reports 5 requests per 10 s per app,
	// Conditional Access 1 request per second per tenant; over them, 429.
	GraphBudgets bool `json:"graph_budgets,omitempty"`
	// InvokeCommandDisabled makes /adminapi answer 404, as if Microsoft had
	// withdrawn the undocumented endpoint (tenant-api.md §8.1).
	InvokeCommandDisabled bool `json:"invoke_command_disabled,omitempty"`
	// InvokeCommandPagingExpires: replaying an InvokeCommand
	// @odata.nextLink answers G2O's 400 "Expired or Invalid pagination
	// request" instead of the next page (CIPP's experience), §8.4.
	InvokeCommandPagingExpires bool `json:"invoke_command_paging_expires,omitempty"`
}

// TakeUnavailable consumes one 503 of api ("graph" or "exchange").
func (t *Tenant) TakeUnavailable(api string) bool {
	hit := false
	_ = t.Update(func(s *State) error {
		n := &s.API.GraphUnavailable
		if api == "exchange" {
			n = &s.API.ExchangeUnavailable
		}
		if *n > 0 {
			*n--
			hit = true
		}
		return nil
	})
	return hit
}

// TakeThrottle consumes one throttled request of api ("graph" or
// "exchange"): true when the request must get 429, with the Retry-After
// value to send ("" for none).
func (t *Tenant) TakeThrottle(api string) (bool, string) {
	hit, ra := false, ""
	_ = t.Update(func(s *State) error {
		n := &s.API.GraphThrottle
		if api == "exchange" {
			n = &s.API.ExchangeThrottle
		}
		if *n > 0 {
			*n--
			hit = true
			switch ra = s.API.RetryAfter; ra {
			case "":
				ra = "2"
			case "none":
				ra = ""
			}
		}
		return nil
	})
	return hit, ra
}

// Secret is a client secret.
type Secret struct {
	ID      string    `json:"id"`
	Value   string    `json:"value"`
	Expires time.Time `json:"expires"`
	// Created is Graph's startDateTime; zero shows as null.
	Created time.Time `json:"created,omitempty"`
	// DisplayName is the secret's description in Entra.
	DisplayName string `json:"display_name,omitempty"`
}

// Certificate is a client certificate (public part), for client_assertion.
type Certificate struct {
	Thumbprint string `json:"thumbprint"` // base64url SHA-1, as in x5t
	PEM        string `json:"pem"`
	// KeyPEM is the private key (PKCS#8). Real Entra never has it; the
	// emulator keeps the demo app's so it can hand it to clients.
	KeyPEM string `json:"key_pem,omitempty"`
	// Expires is the certificate's NotAfter (Set-SimApp
	// -CertificateEndDateTime overrides what Entra shows).
	Expires time.Time `json:"expires,omitempty"`
	// KeyID is Graph's keyCredentials[].keyId; "" derives one.
	KeyID string `json:"key_id,omitempty"`
}

// ServicePrincipal is an Exchange Online service principal registered with
// New-ServicePrincipal -AppId -ObjectId (-DisplayName).
type ServicePrincipal struct {
	AppID       string `json:"app_id"`
	ObjectID    string `json:"object_id"`
	DisplayName string `json:"display_name"`
}

// MailboxPermission is one Add-MailboxPermission grant.
type MailboxPermission struct {
	Mailbox      string   `json:"mailbox"` // UPN of the mailbox
	User         string   `json:"user"`    // service principal (id or name) or user UPN
	AccessRights []string `json:"access_rights"`
}

// Tenant guards a State; it is safe for concurrent use.
type Tenant struct {
	mu    sync.Mutex
	state *State
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// New wraps a state.
func New(s *State) *Tenant {
	return &Tenant{state: s, Now: time.Now}
}

// View runs f with the state locked for reading. f must not keep s.
func (t *Tenant) View(f func(s *State)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t.state)
}

// Update runs f with the state locked for writing. f must not keep s.
func (t *Tenant) Update(f func(s *State) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return f(t.state)
}

// FindUser looks a user up by UPN, case-insensitively.
func (s *State) FindUser(upn string) *User {
	for _, u := range s.Users {
		if strings.EqualFold(u.UPN, upn) {
			return u
		}
	}
	return nil
}

// FindApp looks an app registration up by client id.
func (s *State) FindApp(appID string) *App {
	for _, a := range s.Apps {
		if strings.EqualFold(a.AppID, appID) {
			return a
		}
	}
	return nil
}

// FindPolicy looks an authentication policy up by name.
func (s *State) FindPolicy(name string) *AuthenticationPolicy {
	for _, p := range s.Policies {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}
