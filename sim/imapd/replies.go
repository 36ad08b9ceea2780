package imapd

import "github.com/exoprobe/exoprobe/sim/tenant"

// Exchange Online's IMAP4 words. Row ids refer to /work/shared/exo-responses.md
// §1b and §2. Texts marked "inferred:" have no capture in the corpus; they are
// the most plausible choice, kept in this one file so that a capture can
// replace them.

// §2: greeting; the bracket (added by NewServer) is base64 of the UTF-16LE
// backend FQDN. Exchange sends no [CAPABILITY] code in it.
const greetingPrefix = "* OK The Microsoft Exchange IMAP4 service is ready. "

// Capability lists, §2 / I13. The pre-auth list is the same for every
// tenant; the era decides it.
const (
	// §2, "2015 – at least 2026-03-05", the variant with MOVE (the
	// 2026-03-05 capture).
	capsPreAuth2023 = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
	// I13, observed from 2026-08-25.
	capsPreAuth2026 = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
	// §2, port 143 before STARTTLS (Exchange's default banner).
	capsPlain = "* CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
	// §2, post-authentication list (MailKit#1494, #1496).
	capsPostAuth2023 = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+"
	// inferred: no 2026 post-auth capture; the 2023 list without AUTH=PLAIN,
	// as the pre-auth list lost it.
	capsPostAuth2026 = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+"
)

// Tagged and untagged replies (without the tag).
const (
	okLogin        = "OK LOGIN completed."        // I1
	okAuthenticate = "OK AUTHENTICATE completed." // I4
	noLogin        = "NO LOGIN failed."           // I2
	noAuthenticate = "NO AUTHENTICATE failed."    // I3 (PLAIN), I5 (XOAUTH2)
	// I12: the 2026 wording, to LOGIN and AUTHENTICATE PLAIN alike, "before
	// any account lookup".
	noBasicDisabled = "NO Basic authentication is disabled."
	// I6: to the first mailbox command after an accepted login whose
	// session cannot reach the mailbox.
	badNotConnected = "BAD User is authenticated but not connected."
	// I7: after repeated I6 replies.
	byeConnectionClosed = "* BYE Connection closed. 14"
	// I15 (and I12's sign-off).
	byeSigningOff = "* BYE Microsoft Exchange Server IMAP4 server signing off."
	// I17 (and I9): a command not valid in the current state.
	badInvalidState = "BAD Command received in Invalid state."
	// I14: a command whose arguments do not parse.
	badArgument = "BAD Command Argument Error. 12"
	// inferred: Exchange's sibling text for a command name it does not know.
	badCommand = "BAD Command Error. 10"
	// I10, I11: throttling / backend unavailable (login replies use the
	// generic refusals, §5a.1; these are for the mailbox commands).
	noServerUnavailable = "NO Server Unavailable. 15"

	// inferred: Exchange's continuation texts (RFC 3501 leaves them free).
	contLiteral = "+ Ready for additional command text."
	contIdle    = "+ IDLE accepted, awaiting DONE command."
	// Empty SASL continuation, as the MS OAuth doc shows ("S: +").
	contSASL = "+ "

	// inferred: STARTTLS acceptance.
	okStartTLS = "OK Begin TLS negotiation now."
	// inferred: a mailbox that does not exist.
	noFolderNotFound = "NO The requested item could not be found."
	// Not Exchange's words: the emulator keeps no mail, so commands that
	// would change a mailbox are refused plainly rather than faked.
	noUnsupported = "NO Command not supported by the emulator."
)

// notConnectedBADs is how many I6 replies a session gets before the server
// drops it with I7. inferred: the captures show "repeated" BADs, not how
// many.
const notConnectedBADs = 2

// basicRefusal is the reply to a refused LOGIN or AUTHENTICATE PLAIN. In the
// 2023 era Exchange says the same generic words whatever the reason (I2, I3,
// §5a.1).
//
// In 2026 the explicit I12 words are kept for a Basic refusal; other
// refusals (only reachable with the retirement knob off) keep the generic
// words, as a wrong password has always had (inferred).
func basicRefusal(era tenant.Era, cmd string, v tenant.Verdict) string {
	if era == tenant.Era2026 && v == tenant.VerdictBasicDisabled {
		return noBasicDisabled // I12
	}
	if cmd == "LOGIN" {
		return noLogin // I2
	}
	return noAuthenticate // I3
}

// bearerRefusal is the reply to a refused XOAUTH2 login: I5 for every
// reason (token, audience, service principal, permission).
func bearerRefusal(tenant.Verdict) string { return noAuthenticate }

// Mailbox listing: Exchange's well-known folders (inferred from common
// client logs; the corpus has no LIST capture).
type folder struct {
	name  string
	attrs string
}

var folders = []folder{
	{"Archive", `\HasNoChildren`},
	{"Calendar", `\HasNoChildren`},
	{"Contacts", `\HasNoChildren`},
	{"Conversation History", `\HasNoChildren`},
	{"Deleted Items", `\HasNoChildren \Trash`},
	{"Drafts", `\HasNoChildren \Drafts`},
	{"INBOX", `\Marked \HasNoChildren`},
	{"Journal", `\HasNoChildren`},
	{"Junk Email", `\HasNoChildren \Junk`},
	{"Notes", `\HasNoChildren`},
	{"Outbox", `\HasNoChildren`},
	{"Sent Items", `\HasNoChildren \Sent`},
	{"Tasks", `\HasNoChildren`},
}

// flagsLine lists the flags of an Exchange mailbox (inferred).
const flagsList = `(\Seen \Answered \Flagged \Deleted \Draft $MDNSent)`
