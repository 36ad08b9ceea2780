package imapd

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// scriptConn is a net.Conn whose input is a fixed script and whose output
// is kept; sessions run on it without sockets.
type scriptConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 993} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

func runScript(t testing.TB, era tenant.Era, v tenant.Verdict, script []byte) []byte {
	srv := NewServer(Config{Auth: &fakeAuth{era: era, basic: v, bearer: v}, Host: testHost, MaxLineLength: 1024})
	c := &scriptConn{in: bytes.NewReader(script)}
	ss := &session{srv: srv, log: srv.log, secure: true}
	ss.setConn(c)
	ss.serve()
	return c.out.Bytes()
}

// FuzzSession feeds hostile input to a session (LOGIN, AUTHENTICATE with
// XOAUTH2/PLAIN blobs and continuations, literals, lists): it must never
// panic, and every reply must be a whole CRLF line.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a LOGIN u p\r\n",
		"a LOGIN {3}\r\nabc {2+}\r\nxy\r\n",
		"a AUTHENTICATE XOAUTH2 " + xoauth2IR("u@x", "t") + "\r\nb SELECT INBOX\r\nc LIST \"\" *\r\n",
		"a AUTHENTICATE XOAUTH2\r\n*\r\n",
		"a AUTHENTICATE XOAUTH2\r\n!!!\r\n",
		"a AUTHENTICATE PLAIN =\r\n",
		"a AUTHENTICATE PLAIN\r\n" + plainIR("u", "p") + "\r\nb STATUS INBOX (MESSAGES (X))\r\n",
		"a STATUS \"a\\\"b\" ((((((((((()))))))))))\r\n",
		"a LOGIN \"unterminated\r\n",
		"a LOGIN u {99999999999999999999}\r\n",
		"a IDLE\r\nDONE\r\nb LOGOUT\r\n",
		"\r\n \r\n* \r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, script string, era2026 bool) {
		era := tenant.Era2023
		if era2026 {
			era = tenant.Era2026
		}
		for _, v := range []tenant.Verdict{tenant.VerdictOK, tenant.VerdictNotConnected, tenant.VerdictTokenRejected} {
			out := runScript(t, era, v, []byte(script))
			if !bytes.HasSuffix(out, []byte("\r\n")) {
				t.Fatalf("output does not end in CRLF: %q", out)
			}
		}
	})
}
