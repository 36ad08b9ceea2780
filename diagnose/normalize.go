package diagnose

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Exchange appends a per-server bracket to its replies: "[HOST]" or, since
// about 2023, "[HOST 2024-11-11T21:51:32.927Z 08DD021D9EEB05BC]";
// throttling replies carry "[Hostname=HOST]". None of it says anything about
// the cause, and all of it changes from one reply to the next.
var (
	hostBracket = regexp.MustCompile(`\s*\[(?:Hostname=)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:\s+\d{4}-\d\d-\d\dT[0-9:.]+Z?(?:\s+[0-9A-Fa-f]+)?)?\]`)
	// A bracket cut off by the client's log (S20 ends "...2024-10-24…").
	openHostBracket = regexp.MustCompile(`\s*\[(?:Hostname=)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:\s[^\]]*)?$`)
	// An IMAP tag before the status word: "A01 NO ...", "PEAA1 NO ...".
	imapTag = regexp.MustCompile(`^([!-~]+) ((?i:OK|NO|BAD|BYE|PREAUTH))\b`)
	// Entra's error_description tail: "\r\nTrace ID: ...\r\nCorrelation ID:
	// ...\r\nTimestamp: ..." on lines of their own, so (?s) lets the match
	// run from the first of them across the CRLFs to the end.
	traceTail = regexp.MustCompile(`(?is)\s*(?:\\r\\n|\r?\n|\s)*(?:Trace ID|Correlation ID|Timestamp):.*$`)
	spaces    = regexp.MustCompile(`\s+`)
)

// maxReply bounds the text the rules look at: a pasted log can be huge and
// the words that matter are in its first lines.
const maxReply = 8 << 10

// StripNoise removes what changes from one server reply to the next without
// changing its meaning: the trailing "[HOST ...]" bracket (with its timestamp
// and trace id), an IMAP tag or "* " before the status word, and runs of
// white space (multi-line replies become one line). IMAP response codes such
// as "[AUTHENTICATIONFAILED]" are kept: they carry meaning.
func StripNoise(s string) string {
	if len(s) > maxReply {
		s = s[:maxReply]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	s = hostBracket.ReplaceAllString(s, "")
	s = openHostBracket.ReplaceAllString(s, "")
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "* ")
	if m := imapTag.FindStringSubmatchIndex(s); m != nil {
		tag := strings.ToUpper(s[m[2]:m[3]])
		if !isStatusWord(tag) {
			s = s[m[4]:]
		}
	}
	return strings.TrimSpace(s)
}

func isStatusWord(w string) bool {
	switch w {
	case "OK", "NO", "BAD", "BYE", "PREAUTH", "*":
		return true
	}
	return false
}

// Client wrappers around a server reply, as applications log them
// (exo-responses.md §1 "How to read it", §5a.9).
var (
	// Python smtplib: "(535, b'5.7.139 Authentication unsuccessful, ...')".
	// Each literal ends at its own closing quote (escapes included): a
	// greedy match would run on to the last quote of the line and take in
	// whatever the log printed after the tuple, e.g. the
	// "server.login('u', 'password')" of a traceback.
	pySMTPTuple = regexp.MustCompile(`\(\s*(\d{3})\s*,\s*b?(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\)`)
	// Python bytes literal, imaplib "b'LOGIN failed.'" or "[b'LOGIN failed.']".
	pyBytes = regexp.MustCompile(`^\[?\s*b(?:'(.*)'|"(.*)")\s*\]?$`)
	// MailKit: "535: 5.7.139 ..." (the status code then a colon).
	codeColon = regexp.MustCompile(`^(\d{3}):\s+`)
	// Exception class names and log prefixes before the text.
	exceptionPrefix = regexp.MustCompile(`^(?:[A-Za-z_][\w.$]*(?:Exception|Error|error|error_proto|error_reply|error_perm|error_temp)\s*:\s*)+`)
)

// Unwrap removes the wrapper a client library puts around a server reply,
// then the server's own noise (StripNoise, line by line: lines stay apart,
// since a client that falls back logs one reply per line): nodemailer's "Invalid login: ",
// .NET System.Net.Mail's "The SMTP server requires a secure connection or the
// client was not authenticated. The server response was: 5.7.57 ... Error:
// 535 ...", Python's "(535, b'...')" and "b'...'", MailKit's "535: ",
// exception class prefixes ("smtplib.SMTPAuthenticationError: ",
// "imaplib.IMAP4.error: ", "javax.mail.AuthenticationFailedException: ").
func Unwrap(s string) string {
	if len(s) > maxReply {
		s = s[:maxReply]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimSpace(s)
	// .NET: the real reply follows "Error: " inside the server response.
	if i := strings.Index(s, "The server response was:"); i >= 0 {
		s = strings.TrimSpace(s[i+len("The server response was:"):])
		if j := strings.Index(s, "Error: "); j >= 0 {
			rest := strings.TrimSpace(s[j+len("Error: "):])
			if len(rest) >= 3 && isDigits(rest[:3]) {
				s = rest
			}
		}
	}
	for range 4 { // wrappers nest: "Error: Invalid login: ..."
		before := s
		s = exceptionPrefix.ReplaceAllString(s, "")
		s = strings.TrimSpace(strings.TrimPrefix(s, "Error:"))
		s = strings.TrimSpace(strings.TrimPrefix(s, "Invalid login:"))
		s = strings.TrimSpace(strings.TrimPrefix(s, "AuthenticationInvalidCredentials:"))
		if m := pySMTPTuple.FindStringSubmatch(s); m != nil {
			s = m[1] + " " + pyUnescape(m[2]+m[3])
		} else if m := pyBytes.FindStringSubmatch(s); m != nil {
			s = pyUnescape(m[1] + m[2])
		}
		s = codeColon.ReplaceAllString(s, "$1 ")
		s = strings.TrimSpace(s)
		if s == before {
			break
		}
	}
	// Keep the lines apart: a client that falls back logs one reply per
	// line, and each is matched on its own.
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = StripNoise(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// pyUnescape undoes the escapes Python's bytes repr adds to a reply
// ("\r\n" inside multi-line replies, "\'").
func pyUnescape(s string) string {
	r := strings.NewReplacer(`\r\n`, " ", `\n`, " ", `\r`, " ", `\'`, "'", `\"`, `"`, `\\`, `\`)
	return r.Replace(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// clip shortens a reply quoted in evidence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
