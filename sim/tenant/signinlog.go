package tenant

import (
	"net"
	"slices"
	"strings"
	"time"
)

// The Entra sign-in log the emulator keeps, and the knobs around it: the
// log's visibility delay and the tenant's licence. Shapes and values follow
// ../shared/tenant-api.md §5 (cited per field below); the Graph package
// renders rows as JSON.

// Client app names as Entra writes them in clientAppUsed (tenant-api.md
// §5.4: the portal's Client app column, used verbatim in production
// filters).
const (
	ClientAppIMAP          = "IMAP4"
	ClientAppPOP           = "POP3"
	ClientAppSMTP          = "Authenticated SMTP"
	ClientAppDesktop       = "Mobile Apps and Desktop clients" // ROPC and refresh (§5.4 modern value)
	ClientAppUnknown       = "Unknown"                         // service principal rows (§5.5 live record)
	ResourceExchangeName   = "Office 365 Exchange Online"      // §5.6 live record
	ResourceGraphName      = "Microsoft Graph"                 // §5.6 doc example
	DefaultSignInLogDelay  = 2 * time.Minute                   // §5.8: "Sign-ins | 2 mins | 5 mins" (95th / 99th percentile)
	signInRetention        = 30 * 24 * time.Hour               // §5.1: 30 days with P1/P2
	maxSignIns             = 10000                             // memory bound; oldest rows go first
	failureReasonSucceeded = "Other."                          // §5.6 live success record: errorCode 0 with "Other."
)

// Sign-in event types (tenant-api.md §5.2, beta signInEventTypes).
const (
	EventInteractiveUser    = "interactiveUser"
	EventNonInteractiveUser = "nonInteractiveUser"
	EventServicePrincipal   = "servicePrincipal"
)

// Entra licences that matter for the sign-in log (tenant-api.md §5.1:
// "You must have a Microsoft Entra ID P1 or P2 license to download sign-in
// logs by using the Microsoft Graph API.").
const (
	LicenseFree = "Free"
	LicenseP1   = "P1"
	LicenseP2   = "P2"
)

// CAPolicyID and CAPolicyName name the one Conditional Access policy the
// emulator models: the per-user ConditionalAccessBlocked flag (Set-SimUser)
// stands for a policy blocking legacy clients for those users (the "block
// legacy" shape of tenant-api.md §4.2).
const (
	CAPolicyID   = "5f0c3c2e-0000-4000-8000-00000000ca01"
	CAPolicyName = "Block legacy and non-interactive sign-in (emulated)"
)

// SignIn is one row of the sign-in log, with the v1.0 fields of
// tenant-api.md §5.2 and the beta-only ones the emulator can fill.
type SignIn struct {
	ID                      string            `json:"id"`
	CreatedDateTime         time.Time         `json:"created_date_time"`
	UserPrincipalName       string            `json:"user_principal_name,omitempty"` // lower case (§5.2)
	UserID                  string            `json:"user_id,omitempty"`
	UserDisplayName         string            `json:"user_display_name,omitempty"`
	AppID                   string            `json:"app_id,omitempty"`
	AppDisplayName          string            `json:"app_display_name,omitempty"`
	IPAddress               string            `json:"ip_address,omitempty"`
	ClientAppUsed           string            `json:"client_app_used"`
	ResourceID              string            `json:"resource_id,omitempty"`
	ResourceDisplayName     string            `json:"resource_display_name,omitempty"`
	CorrelationID           string            `json:"correlation_id"`
	IsInteractive           bool              `json:"is_interactive"`
	EventType               string            `json:"event_type"` // beta signInEventTypes[0]
	ErrorCode               int               `json:"error_code"`
	FailureReason           string            `json:"failure_reason,omitempty"`
	ConditionalAccessStatus string            `json:"conditional_access_status"`
	AppliedCA               []AppliedCAPolicy `json:"applied_ca,omitempty"`
	// Beta only (§5.2).
	ServicePrincipalID   string `json:"service_principal_id,omitempty"`
	ServicePrincipalName string `json:"service_principal_name,omitempty"`
	ClientCredentialType string `json:"client_credential_type,omitempty"`
	// CredentialKeyID and CredentialThumbprint say which secret or
	// certificate the app used (servicePrincipalCredentialKeyId/Thumbprint,
	// §5.2; "joins to §6 keyId").
	CredentialKeyID        string `json:"credential_key_id,omitempty"`
	CredentialThumbprint   string `json:"credential_thumbprint,omitempty"`
	AuthenticationProtocol string `json:"authentication_protocol,omitempty"`
	// Synthetic marks a row added with Add-SimSignIn (no login behind it).
	Synthetic bool `json:"synthetic,omitempty"`
}

// AppliedCAPolicy is one appliedConditionalAccessPolicies entry (§5.2).
type AppliedCAPolicy struct {
	ID                    string   `json:"id"`
	DisplayName           string   `json:"displayName"`
	EnforcedGrantControls []string `json:"enforcedGrantControls"`
	EnforcedSessionCtrls  []string `json:"enforcedSessionControls"`
	Result                string   `json:"result"`
}

// FailureReason is status.failureReason for an error code: Entra's
// reference-error-codes texts as tenant-api.md §1.3 and §5.5 quote them.
// fallback is used for codes the table does not have.
func FailureReason(code int, fallback string) string {
	switch code {
	case 0:
		return failureReasonSucceeded
	case 50126:
		return "Error validating credentials due to invalid username or password."
	case 50056:
		return "Invalid or null password: password doesn't exist in the directory for this user."
	case 50034:
		return "To sign into this application, the account must be added to the directory."
	case 50053:
		return "The account is locked because the user tried to sign in too many times with an incorrect user ID or password."
	case 50057:
		return "The user account is disabled."
	case 53003:
		return "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
	case 530035:
		return "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies."
	case 50076:
		return "Due to a configuration change made by the admin such as a Conditional Access policy, per-user enforcement, or because you moved to a new location, the user must use multifactor authentication"
	case 50079:
		// §5.5 quotes it trimmed ("… the user is required to use
		// multifactor authentication. Either a managed user needs to
		// register security info…"); the emulator keeps the trimmed text.
		return "Due to a configuration change made by the admin, or because you moved to a new location, the user is required to use multifactor authentication. Either a managed user needs to register security info"
	case 7000215:
		return "Invalid client secret is provided."
	case 7000222:
		return "The provided client secret keys are expired."
	case 700027:
		return "Client assertion failed signature validation."
	case 700016:
		return "The application wasn't found in the directory/tenant."
	}
	return fallback
}

// SignInErrorCode maps a password sign-in outcome to status.errorCode
// (tenant-api.md §5.5).
func SignInErrorCode(o SignInOutcome) int {
	switch o {
	case SignInUnknownUser:
		return 50034
	case SignInBadPassword:
		return 50126
	case SignInLocked:
		return 50053
	case SignInDisabled:
		return 50057
	case SignInSecurityDefaults:
		return 530035
	case SignInConditionalAccess:
		return 53003
	case SignInMFARequired:
		return 50076
	case SignInMFARegistration:
		return 50079
	}
	return 0
}

// SignInLogDelay is how long a row takes to become visible to Graph.
func (s *State) SignInLogDelay() time.Duration {
	if s.SignInLogDelayOverride != nil {
		return time.Duration(*s.SignInLogDelayOverride)
	}
	return DefaultSignInLogDelay
}

// License is the tenant's Entra ID licence (P1 unless set: the demo tenant
// reads its sign-in log).
func (s *State) License() string {
	if s.EntraLicense == "" {
		return LicenseP1
	}
	return s.EntraLicense
}

// FlakyLicenseCheck reports whether this sign-in read fails its licence
// check under SignInLicenseFlaky: every other call (deterministic, so tests
// can rely on it).
func (s *State) FlakyLicenseCheck() bool {
	if !s.API.SignInLicenseFlaky {
		return false
	}
	s.API.flakyCount++
	return s.API.flakyCount%2 == 1
}

// HasPremium reports Entra ID P1 or P2.
func (s *State) HasPremium() bool { return s.License() != LicenseFree }

// caPolicyEnabled: the emulated CA policy is enabled while it has users.
func (s *State) caPolicyEnabled() bool {
	return slices.ContainsFunc(s.Users, func(u *User) bool { return u.ConditionalAccessBlocked })
}

// CAPolicyUsers lists the object ids of the users the emulated Conditional
// Access policy includes.
func (s *State) CAPolicyUsers() []string {
	var ids []string
	for _, u := range s.Users {
		if u.ConditionalAccessBlocked {
			ids = append(ids, u.ObjectID)
		}
	}
	return ids
}

// caFields fills conditionalAccessStatus and appliedConditionalAccessPolicies
// for a user row. Rules (tenant-api.md §5.5 and §5.2): if primary
// authentication failed, "the sign-in attempt is not evaluated by
// Conditional Access" (notApplied, no result); a CA block is "failure" with
// the policy's entry result "failure" and enforcedGrantControls ["Block"];
// otherwise an enabled policy that does not include the user is listed as
// "notApplied".
func (s *State) caFields(r *SignIn, out SignInOutcome) {
	r.ConditionalAccessStatus = "notApplied"
	switch out {
	case SignInUnknownUser, SignInBadPassword, SignInLocked, SignInDisabled:
		return
	}
	if !s.caPolicyEnabled() {
		return
	}
	entry := AppliedCAPolicy{ID: CAPolicyID, DisplayName: CAPolicyName,
		EnforcedGrantControls: []string{}, EnforcedSessionCtrls: []string{}, Result: "notApplied"}
	if out == SignInConditionalAccess {
		r.ConditionalAccessStatus = "failure"
		entry.Result, entry.EnforcedGrantControls = "failure", []string{"Block"}
	}
	r.AppliedCA = []AppliedCAPolicy{entry}
}

// clientApp is clientAppUsed for a Basic login on proto.
func clientApp(proto Protocol) string {
	switch proto {
	case IMAP:
		return ClientAppIMAP
	case POP:
		return ClientAppPOP
	}
	return ClientAppSMTP
}

// userRow starts a user sign-in row for upn (the tenant's user when known).
func (s *State) userRow(upn string, u *User, now time.Time) *SignIn {
	r := &SignIn{ID: newGUID(), CreatedDateTime: now.UTC(), CorrelationID: newGUID(),
		UserPrincipalName: strings.ToLower(upn), EventType: EventInteractiveUser, IsInteractive: true}
	if u != nil {
		r.UserPrincipalName, r.UserID, r.UserDisplayName = strings.ToLower(u.UPN), u.ObjectID, u.DisplayName
	}
	return r
}

// recordBasic writes the row of a Basic IMAP/POP/SMTP login that reached
// Entra (tenant-api.md §5.7: "a user sign-in row appears with clientAppUsed
// = the protocol … isInteractive: true"). The app is Exchange itself, as
// the fixtures of §5.6 assume (appId/resourceId
// 00000002-0000-0ff1-ce00-000000000000, "Office 365 Exchange Online";
// synthetic there, unconfirmed).
func (s *State) recordBasic(proto Protocol, upn, ip string, out SignInOutcome, u *User, now time.Time) {
	r := s.userRow(upn, u, now)
	r.AppID, r.AppDisplayName = ResourceExchangeAppID, ResourceExchangeName
	r.ResourceID, r.ResourceDisplayName = ResourceExchangeAppID, ResourceExchangeName
	r.ClientAppUsed, r.IPAddress = clientApp(proto), ip
	r.ErrorCode = SignInErrorCode(out)
	r.FailureReason = FailureReason(r.ErrorCode, "")
	r.AuthenticationProtocol = "ropc" // §5.2: "plausibly ropc (inferred)"
	s.caFields(r, out)
	s.appendSignIn(r)
}

// TokenSignIn describes a token request for the log.
type TokenSignIn struct {
	GrantType string // client_credentials, password, refresh_token
	AppID     string
	UPN       string // password and refresh grants
	Resource  string // requested resource ("" when the request failed before)
	IP        string
	ErrorCode int    // AADSTS code, 0 on success
	Reason    string // the endpoint's description, for codes FailureReason lacks
	// CredentialType: clientSecret or certificate (client credentials).
	CredentialType string
	// CredentialKeyID, CredentialThumbprint: which credential was used.
	CredentialKeyID, CredentialThumbprint string
	Outcome                               SignInOutcome // password grant's Entra outcome
}

// RecordTokenSignIn writes the row of a token request the token endpoint
// decided (tenant-api.md §5.7): client credentials → a service principal
// row (beta only, §5.1); ROPC → an interactive user row (a password "is
// passed as part of auth token", §5.1); refresh → a non-interactive user
// row (beta only).
func (s *State) RecordTokenSignIn(ts TokenSignIn, now time.Time) {
	app := s.FindApp(ts.AppID)
	var r *SignIn
	switch ts.GrantType {
	case "client_credentials":
		r = &SignIn{ID: newGUID(), CreatedDateTime: now.UTC(), CorrelationID: newGUID(),
			EventType: EventServicePrincipal, ClientAppUsed: ClientAppUnknown,
			ClientCredentialType: ts.CredentialType, AuthenticationProtocol: "clientCredentials",
			CredentialKeyID: ts.CredentialKeyID, CredentialThumbprint: ts.CredentialThumbprint}
	default:
		u := s.FindMailbox(ts.UPN)
		r = s.userRow(ts.UPN, u, now)
		r.ClientAppUsed = ClientAppDesktop
		if ts.GrantType == "refresh_token" {
			r.EventType, r.IsInteractive = EventNonInteractiveUser, false
			r.AuthenticationProtocol = "refreshTokenGrant"
		} else {
			r.AuthenticationProtocol = "ropc"
		}
	}
	r.AppID, r.IPAddress = ts.AppID, ts.IP
	if app != nil {
		r.AppDisplayName = app.DisplayName
		if ts.GrantType == "client_credentials" {
			r.ServicePrincipalID, r.ServicePrincipalName = app.EnterpriseObjectID, app.DisplayName
		}
	}
	switch res := strings.TrimSuffix(strings.ToLower(ts.Resource), "/"); {
	case IsExchangeResource(res):
		r.ResourceID, r.ResourceDisplayName = ResourceExchangeAppID, ResourceExchangeName
	case res == ResourceGraph || res == ResourceGraphAppID:
		r.ResourceID, r.ResourceDisplayName = ResourceGraphAppID, ResourceGraphName
	}
	r.ErrorCode = ts.ErrorCode
	r.FailureReason = FailureReason(ts.ErrorCode, ts.Reason)
	if ts.GrantType == "client_credentials" {
		r.ConditionalAccessStatus = "notApplied"
	} else {
		out := ts.Outcome
		if ts.ErrorCode != 0 && out == SignInOK {
			out = SignInBadPassword // failed before CA (e.g. consent, client): not evaluated
		}
		s.caFields(r, out)
	}
	s.appendSignIn(r)
}

// SyntheticSignIn is what Add-SimSignIn adds: a row for a device or app
// that no check covers.
type SyntheticSignIn struct {
	UPN           string
	ClientAppUsed string
	IPAddress     string
	ErrorCode     int
	AppID         string
	At            time.Time
}

// AddSyntheticSignIn appends a row as if the login had happened at At.
func (s *State) AddSyntheticSignIn(x SyntheticSignIn) *SignIn {
	u := s.FindMailbox(x.UPN)
	r := s.userRow(x.UPN, u, x.At)
	r.ClientAppUsed, r.IPAddress, r.ErrorCode = x.ClientAppUsed, x.IPAddress, x.ErrorCode
	r.AppID, r.AppDisplayName = ResourceExchangeAppID, ResourceExchangeName
	if x.AppID != "" {
		r.AppID, r.AppDisplayName = x.AppID, ""
		if a := s.FindApp(x.AppID); a != nil {
			r.AppDisplayName = a.DisplayName
		}
	}
	r.ResourceID, r.ResourceDisplayName = ResourceExchangeAppID, ResourceExchangeName
	r.FailureReason = FailureReason(x.ErrorCode, "")
	r.ConditionalAccessStatus = "notApplied"
	r.Synthetic = true
	s.appendSignIn(r)
	return r
}

// appendSignIn adds a row. The log is trimmed back to maxSignIns once it
// holds a tenth more, so that a login does not shift the whole log under
// the tenant lock each time it is full.
func (s *State) appendSignIn(r *SignIn) {
	s.SignIns = append(s.SignIns, r)
	if n := len(s.SignIns); n > maxSignIns+maxSignIns/10 {
		s.SignIns = slices.Delete(s.SignIns, 0, n-maxSignIns)
	}
}

// VisibleSignIns returns copies of the rows Graph shows at now: created at
// least SignInLogDelay ago and within the 30-day retention, newest first
// (§2.2: "by default, the most recent sign-ins are returned first").
func (s *State) VisibleSignIns(now time.Time) []SignIn {
	delay := s.SignInLogDelay()
	var out []SignIn
	for _, r := range s.SignIns {
		if r.CreatedDateTime.Add(delay).After(now) || now.Sub(r.CreatedDateTime) > signInRetention {
			continue
		}
		c := *r
		c.AppliedCA = slices.Clone(r.AppliedCA)
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b SignIn) int {
		if c := b.CreatedDateTime.Compare(a.CreatedDateTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// AuthenticateBasicFrom is AuthenticateBasic for a client at ip: the
// decision is the same, and a login that reached Entra is written to the
// sign-in log (see decideBasic for which do).
func (t *Tenant) AuthenticateBasicFrom(proto Protocol, user, password, ip string) Verdict {
	v := VerdictBadCredentials
	_ = t.Update(func(s *State) error {
		v = s.decideBasicFrom(proto, user, password, ip, t.now())
		return nil
	})
	return v
}

// BasicAuthenticator is the Basic half of the protocol servers'
// Authenticator interfaces.
type BasicAuthenticator interface {
	AuthenticateBasic(proto Protocol, user, password string) Verdict
}

// AuthenticateBasicAt asks a for a Basic decision on behalf of the client at
// remote: through AuthenticateBasicFrom when a can log the address (a
// *Tenant does), else AuthenticateBasic (test fakes).
func AuthenticateBasicAt(a BasicAuthenticator, proto Protocol, user, password string, remote net.Addr) Verdict {
	if f, ok := a.(interface {
		AuthenticateBasicFrom(Protocol, string, string, string) Verdict
	}); ok {
		return f.AuthenticateBasicFrom(proto, user, password, RemoteIP(remote))
	}
	return a.AuthenticateBasic(proto, user, password)
}

// RemoteIP is the address part of a connection's remote address.
func RemoteIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
