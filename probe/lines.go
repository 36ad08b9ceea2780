package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// maxLine bounds one server line; RFC 5321 allows 512 octets for SMTP and
// IMAP servers send long capability lines, but nothing legitimate comes
// near this. The connection enforces it first (inputGuard); this covers
// lines replayed from a buffer.
const maxLine = MaxLineBytes

// lineConn speaks a line protocol by hand: the stages before TLS (greeting,
// capabilities, STARTTLS) and all of POP3.
type lineConn struct {
	s  *session
	c  net.Conn
	br *bufio.Reader
}

func (s *session) lines(c net.Conn) *lineConn {
	return &lineConn{s: s, c: c, br: bufio.NewReaderSize(c, 4096)}
}

// readLine returns one complete line without its CRLF. A line the server
// leaves unfinished (timeout, EOF) is an error, never a reply: bufio's
// ReadLine would return it as if it had ended.
func (l *lineConn) readLine() (string, error) {
	var sb strings.Builder
	for {
		frag, err := l.br.ReadSlice('\n')
		if sb.Len()+len(frag) > maxLine+2 { // the CRLF is not the line's
			return "", l.s.guard.refuse(&LimitError{Stage: l.s.a.Stage, Name: LimitLineBytes, Max: MaxLineBytes})
		}
		sb.Write(frag)
		switch {
		case err == nil:
			line := strings.TrimSuffix(strings.TrimSuffix(sb.String(), "\n"), "\r")
			return line, nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && sb.Len() > 0:
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
}

func (l *lineConn) writeLine(line string) error {
	_, err := io.WriteString(l.c, line+"\r\n")
	return err
}

// ioFail ends the attempt after a read or write failed at stage st.
func (s *session) ioFail(st Stage, err error) error {
	kind := s.kind(s.ctx, err, ErrProtocol)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("server closed the connection: %w", err)
	}
	if s.a.Stage != st {
		s.enter(st)
	}
	return s.fail(st, kind, "", s.localErr(kind, err))
}

// protoFail ends the attempt on a reply that breaks the protocol.
func (s *session) protoFail(st Stage, reply, format string, args ...any) error {
	return s.fail(st, ErrProtocol, reply, fmt.Errorf("%s: malformed or unexpected reply %q: %s", s.c.Protocol, reply, fmt.Sprintf(format, args...)))
}

// hiddenRest hands the connection over to a library: it returns the
// complete lines read ahead (the line reader's buffer, then the probeConn's),
// to be replayed as hidden input, and moves an unfinished line into
// s.carry, where the next wrap picks it up so that it is still framed,
// limited and checked when its end arrives.
func (l *lineConn) hiddenRest() string {
	var out []byte
	if n := l.br.Buffered(); n > 0 {
		b, _ := l.br.Peek(n)
		out = append(out, b...)
	}
	if pc, ok := l.c.(*probeConn); ok {
		out = append(out, pc.pending[:pc.ready]...)
		l.s.carry = append([]byte(nil), pc.pending[pc.ready:]...)
		pc.pending, pc.ready = nil, 0
	}
	return string(out)
}

// buffered says how many bytes the server sent beyond what was read.
func (l *lineConn) buffered() int {
	n := l.br.Buffered()
	if pc, ok := l.c.(*probeConn); ok {
		n += len(pc.pending)
	}
	return n
}
