package probe

import (
	"bytes"
	"fmt"
	"sync"
)

// Limits on what one attempt reads from a server. A real Exchange login
// exchanges a few KiB; these are far above anything legitimate and far
// below what could hurt the daemon, so that a hostile or broken server
// costs at most a few MB per probe however long it talks. Crossing one
// ends the attempt as a protocol error that names the limit (LimitError);
// the bytes past it are never buffered.
const (
	// MaxLineBytes bounds one server line (IMAP, POP, SMTP).
	MaxLineBytes = 64 << 10
	// MaxStageLines bounds the server lines read during one stage. A stage
	// is one command and its reply (two or three with SASL challenges), so
	// this also bounds the lines of one reply: SMTP's 250- lines, POP's
	// CAPA list, IMAP's untagged data.
	MaxStageLines = 1000
	// MaxStageBytes bounds the bytes read from the server during one
	// stage.
	MaxStageBytes = 256 << 10
	// MaxHTTPBodyBytes bounds one HTTP body read by probe/token (token
	// endpoint answers, OpenID discovery documents).
	MaxHTTPBodyBytes = 256 << 10
)

// Limit names, as in LimitError.Name, the Attempt's JSON and README.
const (
	LimitLineBytes    = "line_bytes"
	LimitStageLines   = "stage_lines"
	LimitStageBytes   = "stage_bytes"
	LimitHTTPBodyByte = "http_body_bytes"
)

// LimitError says that the server sent more than a limit allows. It is
// the Attempt's Limit field too, so that diagnosis can name it without
// parsing the error text.
type LimitError struct {
	Stage Stage  `json:"stage"`
	Name  string `json:"name"`
	Max   int64  `json:"max"`
}

func (e *LimitError) Error() string {
	what := map[string]string{
		LimitLineBytes:    "a server line longer than %d bytes",
		LimitStageLines:   "more than %d server lines in one stage",
		LimitStageBytes:   "more than %d bytes from the server in one stage",
		LimitHTTPBodyByte: "an HTTP body longer than %d bytes",
	}[e.Name]
	if e.Name == LimitIMAPCapabilitySyntax {
		return fmt.Sprintf(`%s: protocol error: capability data contains "(" (a capability is an atom, RFC 9051 §9); refused before the IMAP library parses it (%s)`, e.Stage, e.Name)
	}
	if what == "" {
		what = "more than %d"
	}
	return fmt.Sprintf("%s: protocol error: limit %s exceeded (%s); the rest was not read", e.Stage, e.Name, fmt.Sprintf(what, e.Max))
}

// LimitIMAPCapabilitySyntax refuses capability data that go-imap v2
// beta.8 cannot parse: its capability reader loops "for dec.SP() {}", and
// SP() reports "(" as a separator without consuming it, so the reader
// goroutine spins for ever. "(" is never valid there (RFC 9051 §9: a
// capability is an atom), so refusing the line loses nothing a correct
// server sends. Not a size, but the same kind of guard on what a server
// may hand a library: Max is 0.
const LimitIMAPCapabilitySyntax = "imap_capability_syntax"

// inputGuard counts what the server sent during the current stage and
// remembers the first limit crossed. Every probeConn of a session shares
// it; the libraries read from their own goroutines, hence the lock.
type inputGuard struct {
	mu    sync.Mutex
	stage Stage
	bytes int64
	lines int64
	line  int64 // length of the unfinished line so far
	err   error // first limit crossed or unsafe input seen; sticky
}

// setStage starts counting a new stage; a line in progress goes on
// counting toward the line limit.
func (g *inputGuard) setStage(st Stage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stage, g.bytes, g.lines = st, 0, 0
}

// stageBytes is how many bytes the server sent in the current stage.
func (g *inputGuard) stageBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bytes
}

// consume accounts for b, just read from the server.
func (g *inputGuard) consume(b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	g.bytes += int64(len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			g.line += int64(len(b))
			break
		}
		g.line += int64(i)
		if g.line > MaxLineBytes {
			break
		}
		g.line = 0
		g.lines++
		b = b[i+1:]
	}
	switch {
	case g.line > MaxLineBytes:
		g.err = &LimitError{Stage: g.stage, Name: LimitLineBytes, Max: MaxLineBytes}
	case g.lines > MaxStageLines:
		g.err = &LimitError{Stage: g.stage, Name: LimitStageLines, Max: MaxStageLines}
	case g.bytes > MaxStageBytes:
		g.err = &LimitError{Stage: g.stage, Name: LimitStageBytes, Max: MaxStageBytes}
	}
	return g.err
}

// refuse records unsafe input (first cause wins) and returns the sticky
// error. A LimitError without a stage gets the current one.
func (g *inputGuard) refuse(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		if le, ok := err.(*LimitError); ok && le.Stage == "" {
			le.Stage = g.stage
		}
		g.err = err
	}
	return g.err
}

func (g *inputGuard) tripped() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// imapCapabilityParen says whether a complete server line carries
// capability data with "(": an untagged CAPABILITY or ENABLED response, or
// a [CAPABILITY ...] response code in any status response. Matching is
// case-insensitive and generous: a false alarm only costs a protocol error
// on a line no correct server sends.
func imapCapabilityParen(line []byte) bool {
	if bytes.IndexByte(line, '(') < 0 {
		return false
	}
	u := bytes.ToUpper(line)
	for _, p := range [][]byte{[]byte("* CAPABILITY"), []byte("* ENABLED")} {
		if rest, ok := bytes.CutPrefix(u, p); ok {
			return bytes.IndexByte(rest, '(') >= 0
		}
	}
	if i := bytes.Index(u, []byte("[CAPABILITY")); i >= 0 {
		rest := u[i:]
		if j := bytes.IndexByte(rest, ']'); j >= 0 {
			rest = rest[:j]
		}
		return bytes.IndexByte(rest, '(') >= 0
	}
	return false
}
