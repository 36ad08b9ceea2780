package report

import (
	"io"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/internal/inert"
)

// Inert makes one field of server text safe for a terminal line: every
// control character, newlines included (a newline in a reply must not
// start a line of its own that looks like ours), is made visible: C0 as
// \x1b, \r, \n; DEL, C1, bidi and zero-width controls as \u202e; invalid
// UTF-8 as \xff (package internal/inert). An escape sequence in a reply
// could otherwise retitle the terminal or overwrite a FAIL line with a
// fake "ok".
func Inert(s string) string { return inert.Line(s) }

// InertText is Inert for multi-line text that we laid out: newlines and
// tabs stay.
func InertText(s string) string { return inert.Text(s) }

func dangerous(r rune) bool { return inert.Dangerous(r) }

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
