package pop3d

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// pipeConn is a net.Conn that reads a fixed script and records replies, so
// the fuzzer drives whole sessions without sockets.
type pipeConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *pipeConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *pipeConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *pipeConn) Close() error                { return nil }
func (c *pipeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 995} }
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

func runScript(script []byte, secure bool, era tenant.Era) string {
	srv := NewServer(Config{Auth: &fakeAuth{era: era}, MaxLineLength: 512})
	c := &pipeConn{in: bytes.NewReader(script)}
	ss := &session{srv: srv, log: srv.log, secure: secure}
	ss.setConn(c)
	ss.serve()
	return c.out.String()
}

// FuzzSession feeds arbitrary client bytes to a session already under TLS
// (where USER/PASS/AUTH and the SASL decoders are reachable) and in clear.
// Every reply must be a well-formed POP3 line; nothing may panic.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"CAPA\r\nUSER " + goodUser + "\r\nPASS " + goodPass + "\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nQUIT\r\n",
		"AUTH PLAIN " + b64("\x00"+goodUser+"\x00"+goodPass) + "\r\nLIST 1\r\n",
		"AUTH XOAUTH2\r\n" + xoauth2(goodUser, goodToken) + "\r\nUIDL\r\n",
		"AUTH XOAUTH2 " + xoauth2("basicoff@x", "t") + "\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH XOAUTH2\r\n====\r\n",
		"AUTH PLAIN =\r\nAUTH\r\nAUTH CRAM-MD5 x\r\n",
		"USER\r\nPASS\r\n\r\n\n\r\x00\xff\r\n",
		"TOP 4294967296 1\r\nRETR -1\r\nLIST 1 2 3\r\n",
		"STLS\r\nCAPA\r\n",
		strings.Repeat("A", 600) + "\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, script []byte, secure bool) {
		for _, era := range []tenant.Era{tenant.Era2023, tenant.Era2026} {
			out := runScript(script, secure, era)
			if !strings.HasPrefix(out, greetingPrefix) {
				t.Fatalf("no greeting: %q", out)
			}
			if !strings.HasSuffix(out, "\r\n") {
				t.Fatalf("output not CRLF-terminated: %q", out)
			}
			for l := range strings.SplitSeq(strings.TrimSuffix(out, "\r\n"), "\r\n") {
				if len(l)+2 > 512 {
					t.Fatalf("reply longer than Exchange's 512 octets: %q", l)
				}
				if strings.ContainsAny(l, "\r\n\x00") {
					t.Fatalf("reply line with control characters: %q", l)
				}
			}
			if !secure && strings.Contains(out, "+OK User successfully") {
				t.Fatalf("login succeeded in clear: %q", out)
			}
		}
	})
}

// FuzzParsePlain checks the PLAIN splitter never accepts an empty user or a
// foreign authorization identity.
func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00u\x00p"))
	f.Add([]byte("a\x00u\x00p"))
	f.Add([]byte("u\x00u\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		user, pass, ok := ParsePlain(raw)
		if !ok {
			return
		}
		if user == "" || strings.Contains(user, "\x00") || strings.Contains(pass, "\x00") {
			t.Fatalf("ParsePlain(%q) = %q, %q", raw, user, pass)
		}
		authz, _, _ := strings.Cut(string(raw), "\x00")
		if authz != "" && !strings.EqualFold(authz, user) {
			t.Fatalf("foreign authzid %q accepted for %q", authz, user)
		}
	})
}
