package probe

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
)

const redacted = "****"

// transcript records the conversation line by line as it crosses the wire,
// below both libraries, so that it holds the server's exact words. Secrets
// never enter it: client lines sent while a credential is on the wire are
// cut down to their verb (secretMode), and every line is scrubbed of the
// known secret strings as a second guard.
type transcript struct {
	mu      sync.Mutex
	lines   []string // "C: ..." / "S: ..."
	partial [2]strings.Builder
	secrets []string

	// secret is > 0 while the client sends credentials; keep is how many
	// words of the first such line stay visible ("a1 LOGIN user").
	secret    bool
	keep      int
	firstSent bool

	// size is the bytes kept in lines; past maxTranscript further lines
	// are only counted (dropped), so a server that streams without end
	// cannot grow an attempt's memory until its deadline.
	size, dropped int
}

// maxTranscript bounds one attempt's transcript; a real login takes a few
// KiB.
const maxTranscript = 1 << 20

const (
	dirClient = 0
	dirServer = 1
)

// addSecret registers a string that must never appear, with the encodings
// it travels in.
func (t *transcript) addSecret(s string) {
	if len(s) < 3 { // scrubbing tiny strings would mangle ordinary text
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, s,
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)))
}

// addSecretBlob registers a whole SASL response (sent base64-encoded).
func (t *transcript) addSecretBlob(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, base64.StdEncoding.EncodeToString(b))
}

// secretMode starts or ends the credential exchange. keep is the number of
// leading words of the first client line shown in clear.
func (t *transcript) secretMode(on bool, keep int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secret, t.keep, t.firstSent = on, keep, false
}

func (t *transcript) write(dir int, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.partial[dir]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.Write(b)
			// A server that never ends its line must not grow this
			// without bound.
			if p.Len() > 64<<10 {
				t.flushLocked(dir)
			}
			return
		}
		p.Write(b[:i])
		b = b[i+1:]
		t.flushLocked(dir)
	}
}

func (t *transcript) flushLocked(dir int) {
	p := &t.partial[dir]
	line := strings.TrimSuffix(p.String(), "\r")
	p.Reset()
	if dir == dirClient {
		line = "C: " + t.redactClientLocked(line)
	} else {
		if t.secret && t.firstSent && imapTaggedCompletion(line) {
			// The server has judged the credentials. go-imap may send its
			// next command (CAPABILITY after AUTHENTICATE, from its own
			// goroutine) before the probe can end secret mode itself; that
			// command carries nothing secret and must stay readable.
			t.secret = false
		}
		line = "S: " + line
	}
	if t.size+len(line) > maxTranscript {
		t.dropped++
		return
	}
	t.size += len(line)
	t.lines = append(t.lines, t.scrubLocked(line))
}

func (t *transcript) redactClientLocked(line string) string {
	if !t.secret {
		return line
	}
	if t.firstSent {
		// Continuation lines of a credential exchange are SASL blobs or
		// literal data; the empty line and "*" (cancel) carry nothing.
		if line == "" || line == "*" || line == "=" {
			return line
		}
		return redacted
	}
	t.firstSent = true
	words := strings.Fields(line)
	if len(words) <= t.keep {
		return line
	}
	return strings.Join(words[:t.keep], " ") + " " + redacted
}

// imapTaggedCompletion says whether a server line is an IMAP tagged
// OK/NO/BAD. SMTP ("235 2.7.0 ...") and POP3 ("+OK", "-ERR") replies never
// have this shape.
func imapTaggedCompletion(line string) bool {
	tag, rest, ok := strings.Cut(line, " ")
	if !ok || tag == "" || tag == "*" || tag == "+" {
		return false
	}
	st, _, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(st) {
	case "OK", "NO", "BAD":
		return true
	}
	return false
}

func (t *transcript) scrubLocked(s string) string {
	for _, sec := range t.secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// scrub removes known secrets from any string (errors, replies).
func (t *transcript) scrub(s string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scrubLocked(s)
}

// finish flushes unterminated lines and returns the transcript, scrubbed
// once more with every secret: a line recorded before a secret was
// registered (read ahead, or a server that knew it) must not keep it.
func (t *transcript) finish() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for dir := range t.partial {
		if t.partial[dir].Len() > 0 {
			t.flushLocked(dir)
		}
	}
	out := make([]string, len(t.lines), len(t.lines)+1)
	for i, l := range t.lines {
		out[i] = t.scrubLocked(l)
	}
	if t.dropped > 0 {
		out = append(out, fmt.Sprintf("-- %d more lines not kept (transcript limit %d KiB) --", t.dropped, maxTranscript>>10))
	}
	return out
}

// mark returns a position to search server lines from.
func (t *transcript) mark() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lines)
}

// serverLines returns the server's lines recorded since mark, without the
// "S: " prefix.
func (t *transcript) serverLines(from int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.lines[min(from, len(t.lines)):] {
		if s, ok := strings.CutPrefix(l, "S: "); ok {
			out = append(out, s)
		}
	}
	return out
}

// clientLines is serverLines' counterpart.
func (t *transcript) clientLines(from int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.lines[min(from, len(t.lines)):] {
		if s, ok := strings.CutPrefix(l, "C: "); ok {
			out = append(out, s)
		}
	}
	return out
}
