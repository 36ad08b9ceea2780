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
// near this.
const maxLine = 64 << 10

var errLineTooLong = errors.New("server line longer than 64 KiB")

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

func (l *lineConn) readLine() (string, error) {
	var sb strings.Builder
	for {
		frag, isPrefix, err := l.br.ReadLine()
		sb.Write(frag)
		if err != nil {
			if err == io.EOF && sb.Len() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return sb.String(), err
		}
		if sb.Len() > maxLine {
			return "", errLineTooLong
		}
		if !isPrefix {
			return sb.String(), nil
		}
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
	if kind == ErrProtocol && errors.Is(err, errLineTooLong) {
		err = fmt.Errorf("malformed reply: %w", err)
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

// hiddenRest returns what the line reader buffered beyond the last line, to
// be replayed to the library that takes over the connection.
func (l *lineConn) hiddenRest() string {
	n := l.br.Buffered()
	if n == 0 {
		return ""
	}
	b, _ := l.br.Peek(n)
	return string(b)
}
