// Package redact scrubs credentials out of text whose origin we do not
// control: transcripts read back from storage, replies and log lines pasted
// by a user into `exoprobe diagnose`. It works on patterns (AUTH and LOGIN
// arguments, PASS, SASL blobs, bearer tokens, password=... pairs), so it is
// the second guard; package probe, which knows the actual secrets, is the
// first.
package redact

import (
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
	kvRE        = regexp.MustCompile(`(?i)((?:password|passwd|pwd|client_secret|access_token|refresh_token|id_token|assertion|client_assertion)["']?\s*[=:]\s*["']?)[^\s&"',;]+`)
)

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
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

// Free scrubs free text (a server reply, an error) of bearer tokens and
// secret-looking key/value pairs, leaving everything else.
func Free(s string) string {
	s = bearerRE.ReplaceAllString(s, "${1}"+Mark)
	s = loginCallRE.ReplaceAllString(s, "${1}'"+Mark+"'")
	return kvRE.ReplaceAllString(s, "${1}"+Mark)
}

// Text scrubs multi-line text line by line.
func Text(s string) string {
	if s == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		cr := strings.HasSuffix(l, "\r")
		l = Line(strings.TrimSuffix(l, "\r"))
		if cr {
			l += "\r"
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

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
