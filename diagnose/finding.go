// Package diagnose turns the Attempts of one target into Findings: the cause
// of each failure, how sure we are, the evidence, and the remedy to run.
package diagnose

// Cause is a stable snake_case id. Dashboards and alerts key on these: add
// new ones when evidence supports them, never rename one.
type Cause string

const (
	CauseOK                     Cause = "ok"
	CauseBasicAuthDisabled      Cause = "basic_auth_disabled"
	CauseSMTPAuthDisabledTenant Cause = "smtp_auth_disabled_tenant"
	CauseSMTPAuthDisabledMbx    Cause = "smtp_auth_disabled_mailbox"
	CauseSecurityDefaults       Cause = "security_defaults"
	CauseConditionalAccess      Cause = "conditional_access"
	CauseMFARequired            Cause = "mfa_required"
	CauseBadCredentials         Cause = "bad_credentials"
	CauseAccountLocked          Cause = "account_locked"
	CauseAccountDisabled        Cause = "account_disabled"
	CauseProtocolDisabled       Cause = "protocol_disabled"
	CauseOAuthTokenInvalid      Cause = "oauth_token_invalid"
	CauseOAuthNotAuthorized     Cause = "oauth_not_authorized"
	CauseTokenRequestFailed     Cause = "token_request_failed"
	CauseTLSError               Cause = "tls_error"
	CauseNetworkError           Cause = "network_error"
	CauseTimeout                Cause = "timeout"
	CauseThrottled              Cause = "throttled"
	CauseUnknown                Cause = "unknown"
	// CauseAuthMechanismUnsupported: the server does not take the SASL
	// mechanism the client sent (Exchange's "504 5.7.4 Unrecognized
	// authentication type" to AUTH PLAIN, or AUTH sent to an MX host). A
	// client or probe configuration problem, not a tenant setting.
	CauseAuthMechanismUnsupported Cause = "auth_mechanism_unsupported"
	// CauseBasicAuthRetired: the server says Basic authentication is no
	// longer supported at all for this service, Exchange Online's announced
	// reply to Basic SMTP client submission after its permanent removal
	// ("550 5.7.30 Basic authentication is not supported for Client
	// Submission.", exo-responses S14). Unlike basic_auth_disabled no
	// policy brings it back: the remedy is OAuth.
	CauseBasicAuthRetired Cause = "basic_auth_retired"
)

// Confidence says how a Finding was reached.
type Confidence string

const (
	// Definitive: the server's (or token endpoint's) words name the cause.
	Definitive Confidence = "definitive"
	// Inferred: the cause follows from comparing attempts or token claims.
	Inferred Confidence = "inferred"
	// Unsure: nothing decides; the cause is usually CauseUnknown.
	Unsure Confidence = "unsure"
)

// Finding is the diagnosis of one failing (or unexpectedly working) check.
type Finding struct {
	Cause      Cause      `json:"cause"`
	Confidence Confidence `json:"confidence"`
	// Protocol and Mechanism of the attempt this finding explains.
	Protocol  string `json:"protocol"`
	Mechanism string `json:"mechanism"`
	// Evidence: short human-readable lines, e.g. the server's words and the
	// comparison that led here.
	Evidence []string `json:"evidence"`
	// EvidenceJA is Evidence in Japanese, line for line, for reports in
	// Japanese; empty when no translation was made.
	EvidenceJA []string `json:"evidence_ja,omitempty"`
	Remedy     Remedy   `json:"remedy"`
	// Candidates rank, most likely first, the causes an unknown finding
	// may be; the evidence says what would decide.
	Candidates []Cause `json:"candidates,omitempty"`
	// Weak marks an inferred cause whose comparison shows that the login
	// is refused but not why: Basic refused while XOAUTH2 works on the
	// same mailbox is what basic_auth_disabled looks like, and also what a
	// wrong password looks like. It does not prove an expect: fail check
	// (PostureProof); tenant evidence that makes the finding definitive
	// outweighs it.
	Weak bool `json:"weak,omitempty"`
}

// Remedy says what to do about a Cause.
type Remedy struct {
	Summary string   `json:"summary"`
	Inspect []string `json:"inspect"` // PowerShell to look at the setting
	Fix     []string `json:"fix"`     // PowerShell to change it
	Caveats []string `json:"caveats"`
	Links   []string `json:"links"`
	// Steps are what to do that is not a PowerShell line the emulator can
	// run: portal paths, Microsoft Graph cmdlets, client settings. Fix stays
	// runnable verbatim (once placeholders are filled).
	Steps []string `json:"steps,omitempty"`
}
