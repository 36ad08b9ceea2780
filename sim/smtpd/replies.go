package smtpd

import "github.com/exoprobe/exoprobe/sim/tenant"

// Exchange Online's SMTP submission words (smtp.office365.com:587). Row ids
// refer to /work/shared/exo-responses.md §1a and §2. Texts marked
// "inferred:" have no capture in the corpus; they are the most plausible
// choice, kept in this one file so that a capture can replace them.
//
// Every error reply ends with the bracket Exchange has added since 2023:
// "[HOST yyyy-mm-ddThh:mm:ss.fffZ SESSIONHEX]" (S5, S9, S11, S12, S13, S15,
// S20, S22). Rows quoted without one (S6, S8: a doc sentence and code
// fixtures, whose authors trimmed the line; S17: 2019 captures, before the
// timestamp was added; S14: an announcement, never captured) get it too, so that every refusal has one shape; the
// probe strips it before matching (§1 "How to read it").

// reply is one SMTP reply without the bracket; withBracket says whether
// Exchange appends it.
type reply struct {
	code        int
	text        string // enhanced status code and sentence
	withBracket bool
}

var (
	// §2 (2025-08): "220 HOST.outlook.office365.com Microsoft ESMTP MAIL
	// Service ready at <date> [SESSIONHEX]" — built in session.greet.
	greetingMiddle = " Microsoft ESMTP MAIL Service ready at "

	replyStartTLS = reply{220, "2.0.0 SMTP server ready", false}         // §2
	replyAuthOK   = reply{235, "2.7.0 Authentication successful", false} // S2
	// S1: base64 "Username:" / "Password:".
	replyLoginUser = reply{334, "VXNlcm5hbWU6", false}
	replyLoginPass = reply{334, "UGFzc3dvcmQ6", false}
	// S3: empty XOAUTH2 challenge ("334 " on the wire).
	replyXOAUTH2Cont = reply{334, "", false}

	// S4 (Basic) and S5 (XOAUTH2): the tenant-wide switch blocks both.
	replyDisabledTenant = reply{535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.", true}
	// S6: the mailbox switch, Basic and XOAUTH2 alike.
	replyDisabledMailbox = reply{535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", true}
	// S8: Entra security defaults.
	replySecurityDefaults = reply{535, "5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", true}
	// S9: Basic refused (authentication policy; cause inferred in the
	// corpus).
	replyBasicDisabled = reply{535, "5.7.139 Authentication unsuccessful, basic authentication is disabled.", true}
	// S14: Basic client submission permanently retired (the emulator-only
	// knob Set-SimTenant -BasicAuthRetiredSmtp). The corpus has only
	// Microsoft's announced text, without a bracket; inferred: a real reply
	// would carry the bracket like every other refusal (S6 and S8 are also
	// quoted without one, and the bracket has been on every captured 5xx
	// since 2023), so it gets one here. The probe strips it before matching.
	replyBasicRetired = reply{550, "5.7.30 Basic authentication is not supported for Client Submission.", true}
	// S10: wrong password.
	replyBadCredentials = reply{535, "5.7.139 Authentication unsuccessful, the user credentials were incorrect.", true}
	// S11: Conditional Access / MFA.
	replyCriteria = reply{535, "5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.", true}
	// S12: account locked.
	replyLocked = reply{535, "5.7.139 Authentication unsuccessful, account locked. Contact your administrator.", true}
	// S13: "account has an issue" (disabled account; cause inferred in the
	// corpus).
	replyAccountIssue = reply{535, "5.7.139 Authentication unsuccessful, account has an issue. Contact your administrator.", true}
	// S15: XOAUTH2 token refused, whatever the reason.
	replyTokenRejected = reply{535, "5.7.3 Authentication unsuccessful", true}
	// S17: a mechanism not offered (AUTH PLAIN, CRAM-MD5, ...).
	replyUnrecognizedAuth = reply{504, "5.7.4 Unrecognized authentication type", true}
	// S20: MAIL FROM without a successful AUTH.
	replyNotAuthenticated = reply{530, "5.7.57 Client not authenticated to send mail.", true}
	// S22: mail commands before STARTTLS. inferred: AUTH in clear gets it
	// too (AUTH is not even advertised before STARTTLS, §2).
	replySTARTTLSRequired = reply{451, "5.7.3 STARTTLS is required to send mail", true}
	// S24: transient refusal at AUTH, used for the throttled verdict
	// (inferred mapping; 421 closes the connection).
	replyServiceNotActive = reply{421, "4.3.2 Service not active", true}
	// S29, short variant: MAIL FROM someone the authenticated user may not
	// send as.
	replySendAsDenied = reply{550, "5.7.60 SMTP; Client does not have permissions to send as this sender", true}

	// inferred: the usual Exchange success and sequencing texts.
	replySenderOK    = reply{250, "2.1.0 Sender OK", false}
	replyRecipientOK = reply{250, "2.1.5 Recipient OK", false}
	replyStartData   = reply{354, "Start mail input; end with <CRLF>.<CRLF>", false}
	replyReset       = reply{250, "2.0.0 Resetting", false}
	replyNoop        = reply{250, "2.0.0 OK", false}
	replyQuit        = reply{221, "2.0.0 Service closing transmission channel", false}
	replyVRFY        = reply{252, "2.1.5 Cannot VRFY user, but will accept message for delivery", true}
	replyHelloFirst  = reply{503, "5.5.2 Send hello first", true}
	replyBadSequence = reply{503, "5.5.1 Bad sequence of commands", true}
	replyNeedMail    = reply{503, "5.5.1 Sender not yet given", true}
	replyNeedRcpt    = reply{503, "5.5.1 Recipient not yet given", true}
	replyAlreadyAuth = reply{503, "5.5.1 Already authenticated", true}
	replyBadSyntax   = reply{501, "5.5.4 Invalid arguments", true}
	replyCantDecode  = reply{501, "5.5.2 Cannot Decode response", true}
	replyAuthCancel  = reply{501, "5.0.0 Authentication cancelled", true}
	replyBadDomain   = reply{501, "5.5.4 Invalid domain name", true}
	replyLineTooLong = reply{500, "5.5.2 Line too long", true}
	replyTooBig      = reply{552, "5.3.4 Message size exceeds fixed maximum message size", true}
	// inferred: Exchange's unknown-command reply carries the command
	// ("500 5.3.3 Unrecognized command 'X'"); go-smtp's client sends a
	// stray "*" after a refused AUTH and gets this.
	unrecognizedPrefix = "5.3.3 Unrecognized command '"
	// S30, for VerdictNotConnected (the app's token is accepted, the
	// mailbox cannot be opened at submission). The corpus truncates the
	// line after the server name.
	mailboxLogonFailurePrefix = "4.2.0 STOREDRV; mailbox logon failure; STOREDRV.Submission.Exception:ConnectionFailedTransientException.MapiExceptionLogonFailed; Failed to process message due to a transient exception with message [BeginDiagnosticData]Cannot open mailbox. Server = "
)

// ehloCaps is the §2 EHLO list in Exchange's order; "AUTH LOGIN XOAUTH2"
// replaces "STARTTLS" once TLS is in force.
var ehloCaps = []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"}

const maxMessageSize = 157286400 // the SIZE Exchange advertises

// basicRefusal maps a refused AUTH LOGIN to S4..S14.
func basicRefusal(v tenant.Verdict) reply {
	switch v {
	case tenant.VerdictSMTPDisabledTenant:
		return replyDisabledTenant // S4
	case tenant.VerdictSMTPDisabledMailbox, tenant.VerdictProtocolDisabled:
		// ProtocolDisabled: SMTP's per-mailbox switch is the mailbox
		// setting (inferred).
		return replyDisabledMailbox // S6
	case tenant.VerdictSecurityDefaults:
		return replySecurityDefaults // S8
	case tenant.VerdictBasicDisabled:
		return replyBasicDisabled // S9
	case tenant.VerdictBasicRetired:
		return replyBasicRetired // S14
	case tenant.VerdictCriteriaNotMet:
		return replyCriteria // S11
	case tenant.VerdictAccountLocked:
		return replyLocked // S12
	case tenant.VerdictAccountDisabled:
		return replyAccountIssue // S13
	case tenant.VerdictThrottled:
		return replyServiceNotActive // S24
	default:
		return replyBadCredentials // S10
	}
}

// bearerRefusal maps a refused AUTH XOAUTH2: the SMTP switches name
// themselves (S5, S6, §5b.2); everything else is the generic S15.
func bearerRefusal(v tenant.Verdict) reply {
	switch v {
	case tenant.VerdictSMTPDisabledTenant:
		return replyDisabledTenant // S5
	case tenant.VerdictSMTPDisabledMailbox, tenant.VerdictProtocolDisabled:
		return replyDisabledMailbox // S6
	case tenant.VerdictThrottled:
		return replyServiceNotActive // S24, inferred
	default:
		return replyTokenRejected // S15
	}
}
