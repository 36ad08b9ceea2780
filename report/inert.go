package report

import (
	"fmt"
	"io"
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

// dangerous reports whether r must be made visible. tab and newline are
// handled by the callers.
func dangerous(r rune) bool {
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
		if r == utf8.RuneError || dangerous(r) && !(keepLines && (r == '\n' || r == '\t')) {
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
		case dangerous(r):
			escapeRune(&b, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Inert makes one field of server text safe for a terminal line: every
// control character, newlines included (a newline in a reply must not
// start a line of its own that looks like ours), is made visible.
func Inert(s string) string { return inert(s, false) }

// InertText is Inert for multi-line text that we laid out: newlines and
// tabs stay.
func InertText(s string) string { return inert(s, true) }

// InertWriter filters everything written through it with InertText: the
// last guard for terminal output, whatever field a server's text took.
type InertWriter struct {
	w     io.Writer
	carry []byte // an incomplete UTF-8 sequence at the end of a write
}

// NewInertWriter wraps w; an InertWriter is returned as is.
func NewInertWriter(w io.Writer) io.Writer {
	if _, ok := w.(*InertWriter); ok {
		return w
	}
	return &InertWriter{w: w}
}

// Raw returns the writer under an InertWriter (for our own control
// sequences, e.g. a progress line on a terminal), or w itself.
func Raw(w io.Writer) io.Writer {
	if iw, ok := w.(*InertWriter); ok {
		return iw.w
	}
	return w
}

func (iw *InertWriter) Write(p []byte) (int, error) {
	buf := p
	if len(iw.carry) > 0 {
		buf = append(iw.carry, p...)
		iw.carry = nil
	}
	// Keep a multi-byte character split across writes for the next one.
	if cut := incompleteTail(buf); cut > 0 {
		iw.carry = append([]byte(nil), buf[len(buf)-cut:]...)
		buf = buf[:len(buf)-cut]
	}
	if _, err := io.WriteString(iw.w, InertText(string(buf))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// incompleteTail returns how many trailing bytes start a UTF-8 sequence
// that is not complete yet (0 to 3).
func incompleteTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
