// Package inert makes text from servers safe to show: every control
// character becomes a visible escape instead of acting on a terminal, a
// mail reader or a chat client.
package inert

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text from servers (replies, transcripts, errors, token descriptions) is
// shown, never interpreted: an escape sequence in a reply could retitle
// the terminal, move the cursor and overwrite a FAIL line with a fake
// "ok", a bare CR could do the same, a bidi override could reorder what
// the reader sees. So every control character is written as a visible
// escape: C0 as \x1b, \r, \n; DEL, C1 and the bidi and other invisible
// format controls as \u009b, \u202e; invalid UTF-8 as \xff. The \u form is
// also a valid JSON escape, so JSON output stays valid through the same
// filter.

// Dangerous reports whether r must be made visible. tab and newline are
// handled by the callers.
func Dangerous(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // bidi marks, embeddings, overrides and isolates
	case r == 0x2028, r == 0x2029, r == 0xfeff, r >= 0x200b && r <= 0x200d, r == 0x2060:
		return true // line/paragraph separators, zero-width characters
	}
	return false
}

func escapeRune(b *strings.Builder, r rune) {
	switch {
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x20:
		fmt.Fprintf(b, `\x%02x`, r)
	default:
		fmt.Fprintf(b, `\u%04x`, r)
	}
}

func inert(s string, keepLines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || Dangerous(r) && !(keepLines && (r == '\n' || r == '\t')) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case Dangerous(r):
			escapeRune(&b, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Line makes one field of server text safe for a terminal line: every
// control character, newlines included (a newline in a reply must not
// start a line of its own that looks like ours), is made visible.
func Line(s string) string { return inert(s, false) }

// Text is Line for multi-line text that we laid out: newlines and
// tabs stay.
func Text(s string) string { return inert(s, true) }
