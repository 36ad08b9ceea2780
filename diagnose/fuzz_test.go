package diagnose

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/probe"
)

func FuzzClassifyReply(f *testing.F) {
	for _, c := range corpus {
		f.Add(string(c.p), string(c.m), c.text)
	}
	f.Add("smtp", "basic", "(535, b'5.7.139 Authentication unsuccessful, account locked.')")
	f.Add("imap", "", "[b'LOGIN failed.']")
	f.Add("smtp", "xoauth2", "The server response was: Error: 535")
	f.Add("pop", "basic", "AADSTS50126: Error validating credentials")
	f.Fuzz(func(t *testing.T, p, m, text string) {
		fd := ClassifyReply(probe.Protocol(p), probe.Mechanism(m), text)
		if !slices.Contains(Causes(), fd.Cause) {
			t.Fatalf("cause %q not in the catalog", fd.Cause)
		}
		switch fd.Confidence {
		case Definitive, Inferred, Unsure:
		default:
			t.Fatalf("confidence %q", fd.Confidence)
		}
		if len(fd.Evidence) == 0 || fd.Remedy.Summary == "" {
			t.Fatalf("no evidence or remedy for %q", text)
		}
		if fd.Cause == CauseUnknown && fd.Confidence != Unsure {
			t.Fatalf("unknown with confidence %s", fd.Confidence)
		}
	})
}

func FuzzStripNoise(f *testing.F) {
	for _, c := range corpus {
		f.Add(c.text)
	}
	f.Add("[a.b[c.d]]")
	f.Add("A NO NO x")
	f.Fuzz(func(t *testing.T, s string) {
		out := StripNoise(s)
		if utf8.ValidString(s) && len(s) <= maxReply && len(out) > len(s) {
			t.Fatalf("grew: %q -> %q", s, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
		if out != strings.TrimSpace(out) || strings.ContainsAny(out, "\n\r\t") {
			t.Fatalf("untrimmed or multi-line: %q", out)
		}
		u := Unwrap(s)
		if !utf8.ValidString(u) || len(u) > maxReply*2 {
			t.Fatalf("Unwrap(%q) = %q", s, u)
		}
	})
}
