package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// hostileReply retitles the window (OSC 0), returns the carriage and
// overwrites the line, clears the screen (CSI 2J via the 8-bit C1 CSI),
// reverses text with a bidi override and starts a fake line of our own.
const hostileReply = "535 5.7.139 Authentication unsuccessful\x1b]0;pwned\x07\r\x1b[2K  smtp  basic  ok \u009b2J \u202etxt.exe\u202c\n== ok: all checks passed"

// rawControls returns the control characters left in s (newline and tab
// are ours).
func rawControls(s string) []rune {
	var bad []rune
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || dangerous(r) && r != '\n' && r != '\t' {
			bad = append(bad, r)
		}
		i += n
	}
	return bad
}

func TestWriteTextInert(t *testing.T) {
	a := probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageAuth, ErrorKind: probe.ErrRefused,
		Reply: hostileReply, Server: "evil\x1b[31m.example:587", Error: "read: \x1b]52;c;Y3VybA==\x07",
		Transcript: []string{"S: 220 hi\x1b[?1049h", "S: " + hostileReply},
		Token:      &probe.TokenInfo{Problems: []string{"aud\x1b[8m hidden"}}}
	f := diagnose.Classify([]probe.Attempt{a})
	var out bytes.Buffer
	if err := WriteText(&out, Result{Target: "t\x1b[2J", Attempts: []probe.Attempt{a}, Findings: f, Transcript: true}, "en"); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if bad := rawControls(s); len(bad) > 0 {
		t.Errorf("raw control characters %q in:\n%s", bad, s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "== ok") {
			t.Errorf("a server's newline started a line of ours: %q", l)
		}
	}
	for _, w := range []string{`\x1b]0;pwned\x07`, `\u202e`, `\u009b2J`} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks the visible %s:\n%s", w, s)
		}
	}
}

func TestInert(t *testing.T) {
	cases := []struct{ in, want, text string }{
		{"plain ünïcode 日本", "plain ünïcode 日本", "plain ünïcode 日本"},
		{"a\x1b[31mb", `a\x1b[31mb`, `a\x1b[31mb`},
		{"a\r\nb\tc", `a\r\nb\tc`, "a\\r\nb\tc"},
		{"\u202eabc\u2066", `\u202eabc\u2066`, `\u202eabc\u2066`},
		{"x\x9by", `x\x9by`, `x\x9by`}, // invalid UTF-8 (an 8-bit CSI byte)
		{"x\u0085y\u200bz", `x\u0085y\u200bz`, `x\u0085y\u200bz`},
		{"del\x7f", `del\u007f`, `del\u007f`},
	}
	for _, c := range cases {
		if got := Inert(c.in); got != c.want {
			t.Errorf("Inert(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := InertText(c.in); got != c.text {
			t.Errorf("InertText(%q) = %q, want %q", c.in, got, c.text)
		}
	}
}

// The writer keeps a character split across writes whole, and JSON
// passed through it stays valid JSON with the same meaning.
func TestInertWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewInertWriter(&b)
	msg := []byte("日本\u202e\x1b")
	for i := range msg {
		w.Write(msg[i : i+1])
	}
	if got := b.String(); got != `日本\u202e\x1b` {
		t.Errorf("byte-by-byte: %q", got)
	}
	b.Reset()
	doc := map[string]string{"reply": hostileReply + "\x7f"}
	if err := json.NewEncoder(w).Encode(doc); err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["reply"] != hostileReply+"\x7f" {
		t.Errorf("JSON through the filter: %v %q", err, back["reply"])
	}
	if bad := rawControls(b.String()); len(bad) > 0 {
		t.Errorf("JSON keeps raw controls %q", bad)
	}
	if Raw(w) != &b || NewInertWriter(w) != w {
		t.Error("Raw/NewInertWriter do not unwrap/keep")
	}
}
