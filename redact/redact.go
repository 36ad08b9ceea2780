// Package redact scrubs credentials out of text whose origin we do not
// control: transcripts read back from storage, replies and log lines pasted
// by a user into `exoprobe diagnose`. It works on patterns (AUTH and LOGIN
// arguments, PASS, SASL blobs, bearer tokens, password=... pairs), so it is
// the second guard; package probe, which knows the actual secrets, is the
// first.
package redact

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
)

// Mark replaces a credential.
const Mark = "****"

var (
	// An optional transcript or log prefix: "C: ", "> ", ">>> ", "-> ",
	// "SMTP> ", "[client] ", a timestamp is left to the free-text rules.
	prefix = `^(\s*(?:[A-Za-z]+:\s*|[->]+\s*|[A-Za-z]+>\s*)?`
	// IMAP "a1 LOGIN user secret" / "a1 AUTHENTICATE PLAIN <ir>": the tag
	// must be followed directly by the command, so "A1 NO LOGIN failed."
	// never matches.
	imapAuthRE = regexp.MustCompile(`(?i)` + prefix + `\S+ (?:LOGIN \S+|AUTHENTICATE \S+)) (.+)$`)
	// POP "PASS secret", POP/SMTP "AUTH PLAIN <ir>", "AUTH XOAUTH2 <ir>".
	passRE     = regexp.MustCompile(`(?i)` + prefix + `PASS) (.+)$`)
	smtpAuthRE = regexp.MustCompile(`(?i)` + prefix + `AUTH \S+) (.+)$`)
	// A bare SASL blob sent by a client ("C: dXNlcj1..."), or a line that
	// is nothing but a base64 token.
	blobLineRE = regexp.MustCompile(`^(\s*(?:C:\s*|[->]+\s*)?)([A-Za-z0-9+/_-]{12,}={0,2})\s*$`)
	// Bearer tokens and XOAUTH2 payloads anywhere.
	bearerRE = regexp.MustCompile(`(?i)(auth=Bearer |Bearer )[^\s\x01"']+`)
	// password=..., "client_secret": "...", access_token: ... pairs.
	// A login call quoted from an application's code or traceback:
	// Python's smtplib/imaplib/poplib "server.login('u', 'secret')",
	// "M.pass_('secret')", and the same shape in other languages. The
	// password is the last quoted argument; each literal is matched up to
	// its own closing quote (escapes included), never greedily across
	// the line.
	loginCallRE = regexp.MustCompile(`(?i)(\b(?:login|authenticate|auth|pass_|user_pass)\s*\(\s*(?:(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[\w.@\[\]]+)\s*,\s*)*)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")`)
	// password=..., pass=, secret: ..., "client_secret": "...",
	// SMTP_PASSWORD=, token=<JWT>, api_key: ... pairs; a quoted value
	// goes whole, quotes kept.
	kvRE = regexp.MustCompile(`(?i)(\b[\w.-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|assertion|credentials?)["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s&"',;]+)`)
	// Command-line flags: --password X, -p X stay out of reach of kvRE.
	flagRE = regexp.MustCompile(`(?i)((?:^|[\s=:'"])--?(?:pass(?:word)?|pwd|secret|token|client-secret)[ ])(\S+)`)
	// The anywhere rules: a credential after a timestamp, a logger's
	// prefix or a debug wrapper ("send: '...'") is still a credential.
	//
	// "AUTH PLAIN <ir>", "a1 AUTHENTICATE XOAUTH2 <ir>": the argument
	// after a SASL mechanism name. A capability list ("250-AUTH PLAIN
	// LOGIN XOAUTH2") names mechanisms after it, which stay.
	saslAnyRE = regexp.MustCompile(`(?i)\bAUTH(?:ENTICATE)?\s+(` + mechs + `)\s+(\S+)`)
	// "a1 LOGIN user password" anywhere: the tag must not be a status
	// word or a mechanism ("A1 NO LOGIN failed because ..." stays); the
	// user is a word, a quoted string or a literal; all after it goes.
	imapLoginAnyRE = regexp.MustCompile(`(?i)(?:^|[\s'"])([^\s'"]+)\s+LOGIN\s+("(?:[^"\\]|\\.)*"|\{\d+\+?\}|\S+)\s+(\S.*)$`)
	// POP "PASS secret" anywhere (clients send the verb in capitals); a
	// server's "-ERR PASS ..." stays.
	passAnyRE = regexp.MustCompile(`(?:^|[\s'"])(\S*\s*)\bPASS\s+(\S+)`)
	// Authorization and Proxy-Authorization headers, as a header or as
	// a JSON/dict pair: the scheme stays, the credential goes.
	authzRE = regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:Basic|Bearer|Negotiate|NTLM|Digest|token)\s+)?)[^\s"',;]+`)
	// "Basic <base64>" outside a header: only a token that looks like
	// base64 (a digit, '+', '/' or '='), so "Basic authentication" stays.
	basicRE = regexp.MustCompile(`(?i)\b(Basic\s+)([A-Za-z0-9+/]{8,}={0,2})`)
	// A JWT anywhere (header.payload.signature, header starts {" = eyJ).
	jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_~+/=!-]*`)
	// URL user-info: scheme://user:password@host keeps the user.
	userinfoRE = regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@'"]*:)[^/\s@'"]+@`)
	// Runs of base64 anywhere: redacted when they decode to a SASL
	// message (PLAIN's NULs, XOAUTH2's ^A separators).
	b64RunRE = regexp.MustCompile(`[A-Za-z0-9+/_-]{12,}={0,2}`)
	// A SASL challenge: SMTP 334 or IMAP/POP "+ ", after any prefix. The
	// client's next line answers it with a credential.
	challengeRE = regexp.MustCompile(`(?:^|[\s'"])(?:334(?:[ -]|$)|\+(?: |$))`)
	// A line that is a server's reply rather than a client's answer.
	replyRE = regexp.MustCompile(`(?i)^(?:S:|<+|reply:|server:|\[?server\]?)|^\s*b?['"]?(?:\d{3}(?:[ -]|$)|[*+] |\+OK|-ERR|\S+ (?:OK|NO|BAD)\b)`)
	// What a log line starts with before its content: timestamps, levels,
	// direction markers and a debug wrapper's opening quote.
	logPrefixRE = regexp.MustCompile(`^(?:[\s\[\]\d:.,/TZ+-]|[A-Za-z]{3}\s+\d+\s)*(?:(?:C|client|send|sent|>+|-+>|[A-Za-z]+>)\s*:?\s*)?(?:b?['"])?`)
)

// mechs are the SASL mechanism names a credential can follow.
const mechs = `PLAIN|LOGIN|XOAUTH2|XOAUTH|OAUTHBEARER|CRAM-MD5|DIGEST-MD5|SCRAM-SHA-[0-9A-Z-]+|NTLM|GSSAPI|EXTERNAL|ANONYMOUS|MSN`

var mechRE = regexp.MustCompile(`(?i)^(?:` + mechs + `)$`)

// statusWords are what precedes LOGIN in a server's reply, never a tag.
var statusWords = map[string]bool{"OK": true, "NO": true, "BAD": true, "BYE": true, "PREAUTH": true, "*": true,
	"AUTH": true, "SASL": true, "CAPABILITY": true, "AUTH=PLAIN": true,
	// Prose before "login" in servers' and clients' error text
	// ("Invalid login or password", "Failed login for user"): not a tag.
	"INVALID": true, "FAILED": true, "INCORRECT": true, "BAD_LOGIN": true, "UNSUCCESSFUL": true}

func redacted(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), Mark) }

// Line scrubs one line: a command carrying credentials keeps its verb and
// loses its arguments; free text loses bearer tokens and secret pairs.
func Line(line string) string {
	for _, re := range []*regexp.Regexp{imapAuthRE, passRE, smtpAuthRE} {
		if m := re.FindStringSubmatch(line); m != nil {
			if redacted(m[2]) {
				return line
			}
			return m[1] + " " + Mark
		}
	}
	if m := blobLineRE.FindStringSubmatch(line); m != nil && looksLikeBlob(m[2]) {
		return m[1] + Mark
	}
	return Free(line)
}

// looksLikeBlob tells a base64 SASL blob from a long word: it must decode
// and contain something a plain word does not (a digit, '+', '/' or '=').
func looksLikeBlob(s string) bool {
	if !strings.ContainsAny(s, "0123456789+/=_-") {
		return false
	}
	_, ok := decode(s)
	return ok
}

func decode(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// saslMessage reports whether s is base64 of a SASL client message: PLAIN
// ("authzid\0user\0password") or XOAUTH2 ("user=...\x01auth=Bearer ...").
func saslMessage(s string) bool {
	if !strings.ContainsAny(s, "0123456789+/=_-") {
		return false // a long word ("AUTHENTICATE") decodes too
	}
	b, ok := decode(s)
	if !ok {
		return false
	}
	if bytes.Contains(b, []byte("auth=Bearer")) || bytes.Contains(b, []byte("\x01auth=")) {
		return true
	}
	// PLAIN: [authzid] NUL user NUL password, user and password
	// non-empty, all printable ("AADSTS530035" decodes to NULs too).
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return false
	}
	for _, c := range b {
		if c != 0 && (c < 0x20 || c == 0x7f) {
			return false
		}
	}
	return true
}

// Free scrubs free text (a server reply, an error, a log line) of
// credentials wherever they stand, leaving everything else.
func Free(s string) string {
	s = saslAnyRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := saslAnyRE.FindStringSubmatchIndex(m)
		arg := m[sm[4]:sm[5]]
		if mechRE.MatchString(arg) || arg == "=" {
			return m // a capability list, or an empty initial response
		}
		return m[:sm[4]] + Mark
	})
	s = imapLogin(s)
	s = passAnyRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := passAnyRE.FindStringSubmatchIndex(m)
		if w := strings.TrimSpace(m[sm[2]:sm[3]]); w == "-ERR" || w == "+OK" {
			return m
		}
		return m[:sm[4]] + Mark
	})
	s = authzRE.ReplaceAllString(s, "${1}"+Mark)
	s = bearerRE.ReplaceAllString(s, "${1}"+Mark)
	s = basicRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := basicRE.FindStringSubmatch(m)
		if !looksLikeBlob(sm[2]) {
			return m
		}
		return sm[1] + Mark
	})
	s = jwtRE.ReplaceAllString(s, Mark)
	s = userinfoRE.ReplaceAllString(s, "${1}"+Mark+"@")
	s = b64RunRE.ReplaceAllStringFunc(s, func(m string) string {
		if saslMessage(m) {
			return Mark
		}
		return m
	})
	s = loginCallRE.ReplaceAllString(s, "${1}'"+Mark+"'")
	s = flagRE.ReplaceAllString(s, "${1}"+Mark)
	return kvRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := kvRE.FindStringSubmatch(m)
		if v := sm[2]; v != "" && (v[0] == '"' || v[0] == '\'') {
			return sm[1] + v[:1] + Mark + v[:1]
		}
		return sm[1] + Mark
	})
}

// imapLogin scrubs "tag LOGIN user password" anywhere on a line, skipping
// a server's "NO LOGIN failed ..." (the word before LOGIN is a status).
func imapLogin(s string) string {
	from := 0
	for from < len(s) {
		sm := imapLoginAnyRE.FindStringSubmatchIndex(s[from:])
		if sm == nil {
			return s
		}
		tag := strings.ToUpper(s[from+sm[2] : from+sm[3]])
		if statusWords[tag] || mechRE.MatchString(tag) || strings.HasPrefix(tag, "AUTH=") {
			from += sm[3] // look again after this word
			continue
		}
		if strings.TrimSpace(s[from+sm[6]:]) == Mark {
			return s
		}
		return s[:from+sm[6]] + Mark
	}
	return s
}

// Text scrubs multi-line text line by line. A line answering a SASL
// challenge (SMTP 334, IMAP/POP "+") is a credential whatever its shape
// (AUTH LOGIN's base64 user and password, an IMAP literal password): all
// of it after its log prefix goes, unless it is itself a server's reply.
func Text(s string) string {
	if s == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	challenged := false
	for i, l := range lines {
		cr := strings.HasSuffix(l, "\r")
		l = strings.TrimSuffix(l, "\r")
		switch {
		case challenged && strings.TrimSpace(l) != "" && !replyRE.MatchString(afterStamp(l)):
			p := logPrefixRE.FindString(l)
			if rest := strings.TrimSpace(l[len(p):]); rest != "" && rest != Mark {
				l = p + Mark
			}
		default:
			l = Line(l)
		}
		challenged = challengeRE.MatchString(afterStamp(l))
		if cr {
			l += "\r"
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// afterStamp drops a leading timestamp so that "10:00:00 S: 535 ..." reads
// as a reply.
func afterStamp(l string) string {
	return strings.TrimLeft(stampRE.FindString(l), " ") + l[len(stampRE.FindString(l)):]
}

var stampRE = regexp.MustCompile(`^(?:[\s\[\]\d:.,/TZ+-]|[A-Za-z]{3}\s+\d+\s)*`)

// Lines scrubs every line of a transcript; nil stays nil.
func Lines(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, l := range in {
		out[i] = Line(l)
	}
	return out
}

// All scrubs free text in every element; nil stays nil.
func All(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Free(s)
	}
	return out
}
