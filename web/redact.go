package web

import (
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/redact"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Package probe redacts transcripts before they are stored; this is the
// second guard at the door. Whatever reaches a browser, a scraper or an API
// client passes through here, so a regression in a probe's redaction (or a
// record written by an older version) cannot put a password or a bearer
// token on a page.

func redactTranscript(lines []string) []string { return redact.Lines(lines) }

func scrubText(s string) string { return redact.Free(s) }

func scrubAll(in []string) []string { return redact.All(in) }

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

func sanitizeEvent(ev scheduler.Event) scheduler.Event {
	ev.Reply = scrubText(ev.Reply)
	ev.Finding = sanitizeFinding(ev.Finding)
	return ev
}

// sanitizeHistory returns a scrubbed copy: a stored entry's Reply is the
// server's final words, which a broken probe or an older record may have
// left holding a token (an XOAUTH2 error echo, a password=... error).
func sanitizeHistory(in []scheduler.HistoryEntry) []scheduler.HistoryEntry {
	out := make([]scheduler.HistoryEntry, len(in))
	for i, e := range in {
		e.Reply = scrubText(e.Reply)
		out[i] = e
	}
	return out
}
