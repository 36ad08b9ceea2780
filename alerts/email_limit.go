package alerts

import (
	"fmt"
	"net"
)

// MaxEmailSessionBytes bounds what the email sink reads from its mail
// server in one session (greeting, EHLO, STARTTLS handshake, AUTH, the
// replies to MAIL, RCPT and DATA): a few KiB from a real relay. An endless
// line or reply from a broken or hostile server ends the session here,
// named in the delivery error, instead of growing until the deadline.
const MaxEmailSessionBytes = 1 << 20

// errSessionTooLarge is what a read past MaxEmailSessionBytes returns.
type errSessionTooLarge struct{}

func (errSessionTooLarge) Error() string {
	return fmt.Sprintf("the mail server sent more than %d KiB in one session (MaxEmailSessionBytes); the rest was not read", MaxEmailSessionBytes>>10)
}

// cappedConn fails every read once the server has sent more than
// MaxEmailSessionBytes.
type cappedConn struct {
	net.Conn
	left int64
}

func capSession(c net.Conn) net.Conn { return &cappedConn{Conn: c, left: MaxEmailSessionBytes} }

func (c *cappedConn) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errSessionTooLarge{}
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= int64(n)
	return n, err
}
