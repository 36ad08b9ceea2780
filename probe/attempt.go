// Package probe makes one login attempt against an IMAP, POP or SMTP
// submission server, with Basic credentials or SASL XOAUTH2, and records what
// happened stage by stage in an Attempt. It does not judge the result: that is
// package diagnose's job.
package probe

import "time"

// Protocol is the mail protocol a Check logs in with.
type Protocol string

const (
	IMAP Protocol = "imap"
	POP  Protocol = "pop"
	SMTP Protocol = "smtp"
)

// Protocols lists every protocol in display order.
var Protocols = []Protocol{IMAP, POP, SMTP}

// Mechanism is how the probe authenticates.
type Mechanism string

const (
	// Basic is a password login: IMAP LOGIN / AUTHENTICATE PLAIN, POP
	// USER/PASS / AUTH PLAIN, SMTP AUTH LOGIN / AUTH PLAIN.
	Basic Mechanism = "basic"
	// XOAUTH2 is SASL XOAUTH2 with an OAuth 2.0 access token.
	XOAUTH2 Mechanism = "xoauth2"
)

// Mechanisms lists every mechanism in display order.
var Mechanisms = []Mechanism{Basic, XOAUTH2}

// Stage is how far an attempt got. The order matters: a later stage means the
// attempt got further.
type Stage string

const (
	StageDNS        Stage = "dns"
	StageConnect    Stage = "connect"
	StageTLS        Stage = "tls"
	StageGreeting   Stage = "greeting"
	StageCapability Stage = "capability"
	StageStartTLS   Stage = "starttls"
	StageToken      Stage = "token"
	StageAuth       Stage = "auth"
	// StageMailbox is the first command after authentication (IMAP EXAMINE,
	// POP STAT, SMTP MAIL FROM/RCPT TO): Exchange can accept AUTHENTICATE and
	// refuse the session right after.
	StageMailbox Stage = "mailbox"
	StageLogout  Stage = "logout"
	// StageDone means every stage succeeded.
	StageDone Stage = "done"
)

// Attempt is the record of one run of a Check: one fresh connection through
// every stage. It never holds a secret: replies and transcript lines that
// carry credentials are redacted before they are stored here.
type Attempt struct {
	Target    string    `json:"target"`
	User      string    `json:"user,omitempty"`
	Protocol  Protocol  `json:"protocol"`
	Mechanism Mechanism `json:"mechanism"`
	// Server is the host:port dialled.
	Server string    `json:"server,omitempty"`
	Start  time.Time `json:"start"`
	// OK is true when authentication and the post-auth command succeeded.
	OK bool `json:"ok"`
	// Stage is the last stage reached: the failing stage when !OK,
	// StageDone when OK.
	Stage Stage `json:"stage"`
	// Reply is the server's final reply verbatim (multi-line replies joined
	// with "\n"), credentials redacted; empty when the failure was local.
	Reply string `json:"reply,omitempty"`
	// AuthReply is the server's reply to the authentication command, kept
	// even when a later stage failed (e.g. IMAP "OK AUTHENTICATE completed."
	// followed by "BAD User is authenticated but not connected.").
	AuthReply string `json:"auth_reply,omitempty"`
	// Error is the local error (dial, TLS, timeout, token request), if any.
	Error string `json:"error,omitempty"`
	// ErrorKind classifies Error without parsing it.
	ErrorKind ErrorKind `json:"error_kind,omitempty"`
	// Limit is the read limit the server crossed (ErrorKind is then
	// ErrProtocol): where, which, and its value.
	Limit *LimitError `json:"limit,omitempty"`
	// Capabilities seen before and after authentication.
	Capabilities []string `json:"capabilities,omitempty"`
	// AuthMethod is what was actually sent: "LOGIN", "AUTHENTICATE PLAIN",
	// "USER/PASS", "AUTH PLAIN", "AUTH LOGIN", "AUTH XOAUTH2", ...
	AuthMethod string `json:"auth_method,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	// TLSMode is what the probe saw of the server's TLS mode when it did
	// not match the one configured, whatever the port: "" when nothing
	// was seen, ServerPlainText or ServerTLSFirst.
	TLSMode string `json:"tls_mode,omitempty"`
	// Timings per stage, in the order the stages ran.
	Timings  []StageTiming `json:"timings,omitempty"`
	Duration time.Duration `json:"duration"`
	// Token describes the access token used by an XOAUTH2 attempt, or the
	// token endpoint's refusal; nil for Basic.
	Token *TokenInfo `json:"token,omitempty"`
	// Transcript is the redacted conversation, one line per element, each
	// prefixed "C: " or "S: ".
	Transcript []string `json:"transcript,omitempty"`
}

// TLSMode values.
const (
	// ServerPlainText: the implicit TLS handshake read plain text (a
	// greeting) where a TLS record belonged: the server starts in plain
	// text (STARTTLS).
	ServerPlainText = "server_plain_text"
	// ServerTLSFirst: no plain-text greeting came, and a TLS handshake to
	// the same address was answered: the server speaks TLS from the first
	// byte (implicit TLS).
	ServerTLSFirst = "server_tls_first"
)

// StageTiming is how long one stage took.
type StageTiming struct {
	Stage    Stage         `json:"stage"`
	Duration time.Duration `json:"duration"`
}

// ErrorKind is a coarse class of local failure, so that diagnosis never
// parses Go error strings.
type ErrorKind string

const (
	ErrNone     ErrorKind = ""
	ErrDNS      ErrorKind = "dns"
	ErrConnect  ErrorKind = "connect"  // refused, unreachable, reset
	ErrTLS      ErrorKind = "tls"      // handshake, certificate
	ErrTimeout  ErrorKind = "timeout"  // deadline exceeded at any stage
	ErrProtocol ErrorKind = "protocol" // malformed or unexpected server reply
	ErrToken    ErrorKind = "token"    // token could not be obtained
	// ErrRefused means the server refused a command; Reply has its words.
	ErrRefused ErrorKind = "refused"
	// ErrPolicy means the probe itself declined to go on, e.g. credentials
	// would have been sent before TLS without allow_plaintext.
	ErrPolicy ErrorKind = "policy"
	ErrConfig ErrorKind = "config"
	// ErrSecret means a secret of our own (the password, a client secret,
	// certificate or token file) could not be read: nothing was sent to
	// the server or the token endpoint, so nothing was learnt from them.
	ErrSecret ErrorKind = "secret"
)

// TokenInfo is what the probe knows about the access token it used (or
// failed to get). It never holds the token itself.
type TokenInfo struct {
	// Flow is "client_credentials", "refresh_token", "password", "static".
	Flow string `json:"flow,omitempty"`
	// Endpoint error, when the token request failed.
	Error       string `json:"error,omitempty"`       // e.g. "invalid_grant"
	ErrorCodes  []int  `json:"error_codes,omitempty"` // AADSTS numbers
	Description string `json:"description,omitempty"` // error_description
	// Claims decoded (not verified) from the JWT access token.
	Audience  string    `json:"aud,omitempty"`
	TenantID  string    `json:"tid,omitempty"`
	AppID     string    `json:"appid,omitempty"`
	UPN       string    `json:"upn,omitempty"`
	ObjectID  string    `json:"oid,omitempty"` // the service principal's in an application token, the user's in a delegated one
	Roles     []string  `json:"roles,omitempty"`
	Scopes    []string  `json:"scp,omitempty"`
	ExpiresAt time.Time `json:"exp,omitempty"`
	// Problems found before AUTH: wrong audience, missing role/scope for the
	// protocol, expired, upn differs from the XOAUTH2 user.
	Problems []string `json:"problems,omitempty"`
}
