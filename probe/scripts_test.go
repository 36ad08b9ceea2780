package probe

import (
	"strings"
)

// Scripted Exchange-like servers. hangAt names the stage at which the
// server stops answering: "greeting", "capability", "starttls", "auth",
// "mailbox", "logout" (or "" for none); "tls" answers STARTTLS and then
// never starts the handshake.

type imapScript struct {
	hangAt       string
	startTLS     bool
	caps         string // pre-auth capability list
	authReply    string // text after the tag
	mailboxReply string
	greeting     string
	rawCapReply  []string // replaces the CAPABILITY answer verbatim
}

const exoIMAPCaps = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"

func (s imapScript) run(c *fconn) {
	caps := s.caps
	if caps == "" {
		caps = exoIMAPCaps
	}
	if s.hangAt == "greeting" {
		c.hang()
		return
	}
	c.send(firstNonEmpty(s.greeting, "* OK The Microsoft Exchange IMAP4 service is ready. [UwBJADIAUABSADAAMQBDAEEAMAAwADQAMgAuAGEAcABjAHAAcgBkADAAMQAuAHAAcgBvAGQALgBlAHgAYwBoAGEAbgBnAGUAbABhAGIAcwAuAGMAbwBtAA==]"))
	tlsDone := !s.startTLS
	for {
		l := c.recv()
		t := tag(l)
		f := strings.Fields(l)
		if len(f) < 2 {
			c.send(t + " BAD Command Error. 10")
			continue
		}
		switch strings.ToUpper(f[1]) {
		case "CAPABILITY":
			if s.hangAt == "capability" {
				c.hang()
				return
			}
			if s.rawCapReply != nil {
				c.send(s.rawCapReply...)
				continue
			}
			if !tlsDone {
				c.send("* CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+", t+" OK CAPABILITY completed.")
				continue
			}
			c.send("* CAPABILITY "+caps, t+" OK CAPABILITY completed.")
		case "STARTTLS":
			if s.hangAt == "starttls" {
				c.hang()
				return
			}
			c.send(t + " OK Begin TLS negotiation now.")
			if s.hangAt == "tls" {
				c.hang()
				return
			}
			c.startTLS()
			tlsDone = true
		case "LOGIN", "AUTHENTICATE":
			if s.hangAt == "auth" {
				c.hang()
				return
			}
			if strings.EqualFold(f[1], "AUTHENTICATE") && len(f) == 3 {
				c.send("+ ")
				c.recv()
			}
			c.send(t + " " + firstNonEmpty(s.authReply, "OK "+strings.ToUpper(f[1])+" completed."))
			if strings.HasPrefix(s.authReply, "NO") {
				// Exchange keeps the session for another try.
				continue
			}
		case "EXAMINE", "SELECT":
			if s.hangAt == "mailbox" {
				c.hang()
				return
			}
			if s.mailboxReply != "" {
				c.send(t + " " + s.mailboxReply)
				continue
			}
			c.send("* 0 EXISTS", "* 0 RECENT", "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)",
				"* OK [PERMANENTFLAGS ()] No permanent flags permitted.", "* OK [UIDVALIDITY 14] UIDVALIDITY value.",
				"* OK [UIDNEXT 1] The next unique identifier value.", t+" OK [READ-ONLY] EXAMINE completed.")
		case "LOGOUT":
			if s.hangAt == "logout" {
				c.hang()
				return
			}
			c.send("* BYE Microsoft Exchange Server IMAP4 server signing off.", t+" OK LOGOUT completed.")
			return
		default:
			c.send(t + " BAD Command Error. 10")
		}
	}
}

type popScript struct {
	hangAt         string
	startTLS       bool
	authReply      string // reply to PASS / the SASL response
	statReply      string
	errorChallenge bool // XOAUTH2 refusal comes as "+ <json>" first
}

func (s popScript) run(c *fconn) {
	if s.hangAt == "greeting" {
		c.hang()
		return
	}
	c.send("+OK The Microsoft Exchange POP3 service is ready. [UwBDADEAUABSADgAMABDAEEAMAAxADAANQAuAGwAYQBtAHAAcgBkADgAMAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]")
	tlsDone := !s.startTLS
	auth := func() {
		if s.errorChallenge {
			c.send("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==")
			c.recv()
		}
		c.send(firstNonEmpty(s.authReply, "+OK User successfully authenticated."))
	}
	for {
		l := c.recv()
		f := strings.Fields(l)
		if len(f) == 0 {
			c.send("-ERR Protocol error. 14")
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "CAPA":
			if s.hangAt == "capability" {
				c.hang()
				return
			}
			if !tlsDone {
				c.send("+OK", "TOP", "UIDL", "STLS", ".")
				continue
			}
			c.send("+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", ".")
		case "STLS":
			if s.hangAt == "starttls" {
				c.hang()
				return
			}
			c.send("+OK Begin TLS negotiation.")
			if s.hangAt == "tls" {
				c.hang()
				return
			}
			c.startTLS()
			tlsDone = true
		case "USER":
			c.send("+OK")
		case "PASS":
			if s.hangAt == "auth" {
				c.hang()
				return
			}
			c.send(firstNonEmpty(s.authReply, "+OK User successfully logged on."))
		case "AUTH":
			if s.hangAt == "auth" {
				c.hang()
				return
			}
			if len(f) == 2 {
				c.send("+ ")
				c.recv()
			}
			auth()
		case "STAT":
			if s.hangAt == "mailbox" {
				c.hang()
				return
			}
			c.send(firstNonEmpty(s.statReply, "+OK 0 0"))
		case "QUIT":
			if s.hangAt == "logout" {
				c.hang()
				return
			}
			c.send("+OK Microsoft Exchange Server POP3 server signing off.")
			return
		default:
			c.send("-ERR Protocol error. 14")
		}
	}
}

type smtpScript struct {
	hangAt      string
	implicitTLS bool
	authMechs   string // default "LOGIN XOAUTH2"
	authReply   string
	challenge   bool // XOAUTH2: answer the IR with a 334 error challenge first
	mailReply   string
	rcptReply   string
	noSTARTTLS  bool
	greeting    string
}

func (s smtpScript) run(c *fconn) {
	if s.hangAt == "greeting" {
		c.hang()
		return
	}
	c.send(firstNonEmpty(s.greeting, "220 BE1P281CA0440.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 4 Aug 2025 11:15:30 +0000 [08DDD30471EE4ED5]"))
	tlsDone := s.implicitTLS
	mechs := firstNonEmpty(s.authMechs, "LOGIN XOAUTH2")
	for {
		l := c.recv()
		verb, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if s.hangAt == "capability" {
				c.hang()
				return
			}
			c.send("250-SY5P282CA0097.outlook.office365.com Hello [127.0.0.1]", "250-SIZE 157286400", "250-PIPELINING", "250-ENHANCEDSTATUSCODES")
			if !tlsDone {
				if !s.noSTARTTLS {
					c.send("250-STARTTLS")
				}
			} else {
				c.send("250-AUTH " + mechs)
			}
			c.send("250 SMTPUTF8")
		case "STARTTLS":
			if s.hangAt == "starttls" {
				c.hang()
				return
			}
			c.send("220 2.0.0 SMTP server ready")
			if s.hangAt == "tls" {
				c.hang()
				return
			}
			c.startTLS()
			tlsDone = true
		case "AUTH":
			if s.hangAt == "auth" {
				c.hang()
				return
			}
			mech, ir, _ := strings.Cut(rest, " ")
			switch strings.ToUpper(mech) {
			case "LOGIN":
				c.send("334 VXNlcm5hbWU6")
				c.recv()
				c.send("334 UGFzc3dvcmQ6")
				c.recv()
			case "XOAUTH2":
				if ir == "" {
					c.send("334 ")
					c.recv()
				}
				if s.challenge {
					c.send("334 eyJzdGF0dXMiOiI0MDEifQ==")
					c.recv()
				}
			case "PLAIN":
				if ir == "" {
					c.send("334 ")
					c.recv()
				}
			}
			c.send(firstNonEmpty(s.authReply, "235 2.7.0 Authentication successful"))
		case "*":
			c.send("501 5.5.2 Cannot Decode response")
		case "MAIL":
			if s.hangAt == "mailbox" {
				c.hang()
				return
			}
			c.send(firstNonEmpty(s.mailReply, "250 2.1.0 Sender OK"))
		case "RCPT":
			c.send(firstNonEmpty(s.rcptReply, "250 2.1.5 Recipient OK"))
		case "RSET":
			c.send("250 2.0.0 Resetting")
		case "QUIT":
			if s.hangAt == "logout" {
				c.hang()
				return
			}
			c.send("221 2.0.0 Service closing transmission channel")
			return
		default:
			c.send("500 5.3.3 Unrecognized command")
		}
	}
}
