package web

import (
	"regexp"
	"strings"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Package probe redacts transcripts before they are stored; this is the
// second guard at the door. Whatever reaches a browser, a scraper or an API
// client passes through here, so a regression in a probe's redaction (or a
// record written by an older version) cannot put a password or a bearer
// token on a page.

const redactedMark = "****"

var (
	// "C: a1 LOGIN user secret", "C: a1 AUTHENTICATE PLAIN <ir>".
	imapAuthRE = regexp.MustCompile(`(?i)^(C: \S+ (?:LOGIN \S+|AUTHENTICATE \S+)) (.+)$`)
	// POP "PASS secret", POP/SMTP "AUTH PLAIN <ir>", "AUTH XOAUTH2 <ir>".
	passRE     = regexp.MustCompile(`(?i)^(C: PASS) (.+)$`)
	smtpAuthRE = regexp.MustCompile(`(?i)^(C: AUTH \S+) (.+)$`)
	// A bare SASL blob sent by the client.
	blobRE = regexp.MustCompile(`^C: [A-Za-z0-9+/=_-]{12,}$`)
	// Bearer tokens and XOAUTH2 payloads in any line.
	bearerRE = regexp.MustCompile(`(?i)(auth=Bearer |Bearer )[^\s\x01"]+`)
	// Anything that looks like a password=... or secret=... pair.
	kvRE = regexp.MustCompile(`(?i)((?:password|passwd|client_secret|access_token|refresh_token|assertion)["']?\s*[=:]\s*["']?)[^\s&"',;]+`)
)

func isRedacted(s string) bool { return s == redactedMark || strings.HasPrefix(s, redactedMark) }

// redactLine scrubs one transcript line (or reply).
func redactLine(line string) string {
	for _, re := range []*regexp.Regexp{imapAuthRE, passRE, smtpAuthRE} {
		if m := re.FindStringSubmatch(line); m != nil {
			if isRedacted(m[2]) {
				return line
			}
			return m[1] + " " + redactedMark
		}
	}
	if blobRE.MatchString(line) {
		return "C: " + redactedMark
	}
	return scrubText(line)
}

// scrubText removes bearer tokens and secret-looking key/value pairs from
// free text (server replies, errors).
func scrubText(s string) string {
	s = bearerRE.ReplaceAllString(s, "${1}"+redactedMark)
	return kvRE.ReplaceAllString(s, "${1}"+redactedMark)
}

func redactTranscript(lines []string) []string {
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = redactLine(l)
	}
	return out
}

// sanitizeState returns a copy of st safe to publish.
func sanitizeState(st scheduler.CheckState) scheduler.CheckState {
	if st.LastAttempt != nil {
		a := *st.LastAttempt
		a.Transcript = redactTranscript(a.Transcript)
		a.Reply = scrubText(a.Reply)
		a.AuthReply = scrubText(a.AuthReply)
		a.Error = scrubText(a.Error)
		if a.Token != nil {
			t := *a.Token
			t.Description = scrubText(t.Description)
			a.Token = &t
		}
		st.LastAttempt = &a
	}
	st.LastFinding = sanitizeFinding(st.LastFinding)
	return st
}

func sanitizeFinding(f *diagnose.Finding) *diagnose.Finding {
	if f == nil {
		return nil
	}
	c := *f
	c.Evidence = scrubAll(f.Evidence)
	c.EvidenceJA = scrubAll(f.EvidenceJA)
	return &c
}

func scrubAll(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = scrubText(s)
	}
	return out
}

func sanitizeEvent(ev scheduler.Event) scheduler.Event {
	ev.Reply = scrubText(ev.Reply)
	ev.Finding = sanitizeFinding(ev.Finding)
	return ev
}
