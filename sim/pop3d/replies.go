package pop3d

// Exchange Online's POP3 words. Row ids refer to /work/shared/exo-responses.md
// §1c and §2; texts marked "inferred" have no capture in the corpus and are
// the most plausible choice, kept here in one place so that a capture can
// replace them.
const (
	// §2: the greeting; the bracket is base64 of the UTF-16LE backend FQDN.
	greetingPrefix = "+OK The Microsoft Exchange POP3 service is ready. "

	replyUserAccepted = "+OK"                                  // P1
	replyLoggedOn     = "+OK User successfully logged on."     // P2
	replyAuthOK       = "+OK User successfully authenticated." // P5 (XOAUTH2; inferred for PLAIN)
	replyContinue     = "+ "                                   // P4 (XOAUTH2; inferred for PLAIN)
	replyBeginTLS     = "+OK Begin TLS negotiation."           // P9

	// P3: Basic refused, whatever the reason (wrong password, Basic off,
	// locked, ...) until the 2026 wording.
	errLogonFailure = "-ERR Logon failure: unknown user name or bad password."
	// P6: XOAUTH2 refused (token, app set-up, POP disabled for the
	// mailbox); inferred for AUTH PLAIN, which the corpus never shows.
	errAuthFailure = "-ERR Authentication failure: unknown user name or bad password."
	// P7: throttling / backend unavailable.
	errUnavailable = "-ERR Server Unavailable. 21"
	// P8: the 2026 wording, captured for consumer accounts. For tenants the
	// corpus has a gap (§4c); inferred to apply to them as well, as the IMAP
	// counterpart (I12) does.
	errBasicDisabled = "-ERR Basic authentication is disabled"

	// Inferred: Exchange's POP3 service answers commands out of sequence
	// with this sentence (as its IMAP service says "Command received in
	// Invalid state." I17); used for USER/PASS/AUTH before STLS on the
	// plain port, PASS without USER, mailbox commands before login, login
	// commands after it.
	errBadState = "-ERR Command is not valid in this state."
	// Inferred: unknown command, bad argument, line too long.
	errProtocol = "-ERR Protocol error. 14"
	errArgument = "-ERR Command argument error. 12"
	errLineLong = "-ERR Line too long. 15"
	// Inferred: a message number on an empty maildrop.
	errNoSuchMessage = "-ERR The specified message is out of range."
	// Inferred: the client answered a SASL continuation with "*" (RFC 5034
	// §4 requires a -ERR).
	errAuthCanceled = "-ERR Authentication canceled."
	// Inferred: AUTH with a mechanism other than PLAIN and XOAUTH2.
	errUnknownMechanism = "-ERR Unrecognized authentication type."

	// Inferred from the IMAP sign-off I15 ("* BYE Microsoft Exchange Server
	// IMAP4 server signing off.").
	replySignOff = "+OK Microsoft Exchange Server POP3 server signing off."
)

// P10 before STLS; §2 (kisli/vmime#267) after TLS.
var (
	capaPlain = []string{"TOP", "UIDL", "STLS"}
	capaTLS   = []string{"TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER"}
)
