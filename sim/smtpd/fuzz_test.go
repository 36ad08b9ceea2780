package smtpd

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// scriptConn is a net.Conn whose input is a fixed script.
type scriptConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 587}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSession feeds hostile input to a session already past STARTTLS (AUTH
// LOGIN and XOAUTH2 blobs, continuations, MAIL/RCPT/DATA/BDAT): it must
// never panic and must answer in whole CRLF lines.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nAUTH LOGIN\r\n" + b64("u") + "\r\n" + b64("p") + "\r\nMAIL FROM:<u>\r\nRCPT TO:<a>\r\nDATA\r\nx\r\n.\r\n",
		"EHLO x\r\nAUTH LOGIN " + b64("u") + "\r\n*\r\n",
		"EHLO x\r\nAUTH XOAUTH2 " + xoauth2IR("u", "t") + "\r\nMAIL FROM:<u> SIZE=999999999999\r\n",
		"EHLO x\r\nAUTH XOAUTH2\r\n!!!!\r\n*\r\n",
		"EHLO x\r\nAUTH XOAUTH2 =\r\nAUTH PLAIN\r\n",
		"EHLO x\r\nAUTH XOAUTH2 " + b64("user=\x01\x01auth=Basic x") + "\r\n",
		"EHLO x\r\nAUTH LOGIN\r\n" + b64("u") + "\r\n" + b64("p") + "\r\nMAIL FROM:<u>\r\nRCPT TO:<a>\r\nBDAT 5 LAST\r\n12345BDAT -1\r\n",
		"\x00\xff\r\nMAIL\r\nRCPT TO:\r\nDATA x\r\nBDAT\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		for _, v := range []tenant.Verdict{tenant.VerdictOK, tenant.VerdictNotConnected, tenant.VerdictBadCredentials} {
			srv := NewServer(Config{Auth: &fakeAuth{era: tenant.Era2026, basic: v, bearer: v}, Host: testHost, MaxLineLength: 1024})
			c := &scriptConn{in: bytes.NewReader([]byte(script))}
			ss := newSession(srv, c)
			ss.secure = true
			ss.serve()
			if out := c.out.Bytes(); !bytes.HasSuffix(out, []byte("\r\n")) {
				t.Fatalf("output does not end in CRLF: %q", out)
			}
		}
	})
}
