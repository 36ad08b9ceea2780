package probe

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/exoprobe/exoprobe/sasl"
)

// ehloName is what the probe calls itself; Exchange accepts any name.
const ehloName = "exoprobe"

// syntheticSMTPGreeting lets go-smtp take over after we read the real
// greeting (and did STARTTLS) ourselves.
const syntheticSMTPGreeting = "220 exoprobe: greeting read before\r\n"

func (s *session) runSMTP(ctx context.Context) error {
	raw, err := s.connect(ctx, s.a.Server)
	if err != nil {
		return err
	}
	var conn net.Conn = raw
	if s.t.SMTPImplicitTLS {
		s.enter(StageTLS)
		if conn, err = s.handshake(ctx, raw, StageTLS); err != nil {
			return err
		}
	}
	l := s.lines(s.wrap(conn, ""))
	s.enter(StageGreeting)
	var greeting string
	read := func() (err error) { greeting, err = l.smtpReply(); return err }
	if s.t.SMTPImplicitTLS {
		err = read()
	} else {
		err = s.plainGreeting(ctx, raw, read)
	}
	if err != nil {
		return err
	}
	if smtpCode(greeting) != 220 {
		return s.smtpRefused(StageGreeting, greeting)
	}
	var hidden string
	if s.t.SMTPImplicitTLS {
		hidden = syntheticSMTPGreeting + l.hiddenRest()
	} else if conn, hidden, err = s.smtpStartTLS(ctx, raw, l); err != nil {
		return err
	}

	c := smtp.NewClient(s.wrap(conn, hidden))
	defer c.Close()
	s.enter(StageCapability)
	mark := s.tr.mark()
	if err := c.Hello(ehloName); err != nil {
		return s.smtpFail(StageCapability, mark, err)
	}
	// Hello only records the name; the first command that needs the
	// extensions sends EHLO.
	c.Extension("AUTH")
	reply := s.smtpFirstReply(mark, false)
	if reply == "" {
		// EHLO got no reply; Reset returns go-smtp's stored EHLO error
		// without sending anything when EHLO failed.
		return s.smtpFail(StageCapability, mark, c.Reset())
	}
	if code := smtpCode(reply); code != 250 && code != 500 && code != 502 {
		return s.smtpRefused(StageCapability, reply)
	}
	s.a.Capabilities = ehloCaps(reply)

	var token string
	if s.c.Mechanism == XOAUTH2 {
		if token, err = s.token(ctx); err != nil {
			return err
		}
	}

	s.enter(StageAuth)
	if err := s.needTLS(); err != nil {
		return err
	}
	var client gosasl.Client
	switch {
	case s.c.Mechanism == XOAUTH2:
		s.a.AuthMethod = "AUTH XOAUTH2"
		s.tr.addSecretBlob(sasl.XOAUTH2Response(s.t.User, token))
		client = sasl.NewXOAUTH2Client(s.t.User, token)
	default:
		pw, perr := s.password(ctx)
		if perr != nil {
			return perr
		}
		// Exchange offers LOGIN and not PLAIN; PLAIN only where LOGIN is
		// missing, since Exchange answers it 504 (corpus S17).
		if c.SupportsAuth("PLAIN") && !c.SupportsAuth("LOGIN") {
			s.a.AuthMethod = "AUTH PLAIN"
			s.tr.addSecretBlob([]byte("\x00" + s.t.User + "\x00" + pw))
			client = gosasl.NewPlainClient("", s.t.User, pw)
		} else {
			s.a.AuthMethod = "AUTH LOGIN"
			client = sasl.NewLoginClient(s.t.User, pw)
		}
	}
	mark = s.tr.mark()
	s.tr.secretMode(true, 2)
	err = c.Auth(client)
	s.tr.secretMode(false, 0)
	s.a.AuthReply = s.smtpFirstReply(mark, true)
	if err != nil {
		return s.smtpFail(StageAuth, mark, err)
	}
	// The go-smtp trap (DESIGN.md): Auth can return nil without a 235. Only
	// the server's words count.
	if code := smtpCode(s.a.AuthReply); code != 235 {
		if code == 0 {
			return s.protoFail(StageAuth, s.a.AuthReply, "no final reply to AUTH")
		}
		return s.smtpRefused(StageAuth, s.a.AuthReply)
	}
	s.a.Reply = s.a.AuthReply

	if s.t.SMTPSubmitCheck {
		s.enter(StageMailbox)
		mark = s.tr.mark()
		if err := c.Mail(s.t.User, nil); err != nil {
			return s.smtpFail(StageMailbox, mark, err)
		}
		mark = s.tr.mark()
		if err := c.Rcpt(s.t.User, nil); err != nil {
			return s.smtpFail(StageMailbox, mark, err)
		}
		s.a.Reply = s.smtpFirstReply(mark, false)
		_ = c.Reset()
	}

	s.enterLogout()
	_ = c.Quit()
	return nil
}

// smtpStartTLS sends EHLO and STARTTLS on the plaintext connection and
// returns the TLS connection. Without STARTTLS on offer the probe stops
// unless plaintext is allowed.
func (s *session) smtpStartTLS(ctx context.Context, raw net.Conn, l *lineConn) (net.Conn, string, error) {
	s.enter(StageCapability)
	if err := l.writeLine("EHLO " + ehloName); err != nil {
		return nil, "", s.ioFail(StageCapability, err)
	}
	ehlo, err := l.smtpReply()
	if err != nil {
		return nil, "", err
	}
	if smtpCode(ehlo) != 250 {
		return nil, "", s.smtpRefused(StageCapability, ehlo)
	}
	caps := ehloCaps(ehlo)
	s.a.Capabilities = caps
	hasTLS := false
	for _, c := range caps {
		hasTLS = hasTLS || strings.EqualFold(c, "STARTTLS")
	}
	if !hasTLS {
		if s.t.AllowPlaintext {
			return raw, syntheticSMTPGreeting + l.hiddenRest(), nil
		}
		return nil, "", s.fail(StageStartTLS, ErrPolicy, "", errors.New("smtp: the server does not offer STARTTLS; refusing to log in without TLS (allow_plaintext is off)"))
	}
	s.enter(StageStartTLS)
	if err := l.writeLine("STARTTLS"); err != nil {
		return nil, "", s.ioFail(StageStartTLS, err)
	}
	reply, err := l.smtpReply()
	if err != nil {
		return nil, "", err
	}
	if smtpCode(reply) != 220 {
		return nil, "", s.smtpRefused(StageStartTLS, reply)
	}
	if l.buffered() > 0 {
		return nil, "", s.protoFail(StageStartTLS, reply, "the server sent data after its STARTTLS reply, before TLS")
	}
	tc, err := s.handshake(ctx, raw, StageStartTLS)
	if err != nil {
		return nil, "", err
	}
	return tc, syntheticSMTPGreeting, nil
}

// smtpReply reads one reply, multi-line replies joined with "\n".
func (l *lineConn) smtpReply() (string, error) {
	st := l.s.a.Stage
	var lines []string
	for {
		line, err := l.readLine()
		if err != nil {
			return "", l.s.ioFail(st, err)
		}
		lines = append(lines, line)
		if !validSMTPLine(line) {
			return "", l.s.protoFail(st, line, "expected a three-digit reply code")
		}
		if len(line) == 3 || line[3] == ' ' {
			return strings.Join(lines, "\n"), nil
		}
		if len(lines) > 1000 {
			return "", l.s.protoFail(st, line, "endless multi-line reply")
		}
	}
}

func validSMTPLine(line string) bool {
	if len(line) < 3 {
		return false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '-'
}

func smtpCode(reply string) int {
	if len(reply) < 3 {
		return 0
	}
	n, err := strconv.Atoi(reply[:3])
	if err != nil {
		return 0
	}
	return n
}

// ehloCaps lists the EHLO keywords, without the first (hello) line.
func ehloCaps(reply string) []string {
	lines := strings.Split(reply, "\n")
	var caps []string
	for _, l := range lines[1:] {
		if len(l) > 4 {
			caps = append(caps, l[4:])
		}
	}
	return caps
}

// smtpFirstReply returns the first complete reply the server sent since
// mark, verbatim; skip334 passes over AUTH's continuations. The reply go-smtp
// reads after its stray "*" (sent after every failed AUTH) comes later and
// so is never taken for the verdict.
func (s *session) smtpFirstReply(mark int, skip334 bool) string {
	var group []string
	for _, l := range s.tr.serverLines(mark) {
		group = append(group, l)
		if !validSMTPLine(l) {
			group = nil
			continue
		}
		if len(l) == 3 || l[3] == ' ' {
			if skip334 && strings.HasPrefix(l, "334") {
				group = nil
				continue
			}
			return strings.Join(group, "\n")
		}
	}
	return ""
}

func (s *session) smtpRefused(st Stage, reply string) error {
	if s.a.Stage != st {
		s.enter(st)
	}
	return s.fail(st, ErrRefused, reply, errors.New("smtp: server refused: "+firstLine(reply)))
}

// smtpFail records a go-smtp error: the server's reply when there was one,
// else the local reason.
func (s *session) smtpFail(st Stage, mark int, err error) error {
	if err == nil {
		err = errors.New("smtp: no reply")
	}
	if s.a.Stage != st {
		s.enter(st)
	}
	var serr *smtp.SMTPError
	if errors.As(err, &serr) {
		reply := s.smtpFirstReply(mark, st == StageAuth)
		if reply == "" {
			reply = strconv.Itoa(serr.Code) + " " + serr.Message
		}
		return s.smtpRefused(st, reply)
	}
	kind := s.kind(s.ctx, err, ErrProtocol)
	if kind == ErrProtocol {
		last := ""
		if ls := s.tr.serverLines(mark); len(ls) > 0 {
			last = ls[len(ls)-1]
		}
		if strings.Contains(err.Error(), "EOF") {
			return s.fail(st, ErrConnect, "", errors.New("smtp: server closed the connection: "+err.Error()))
		}
		return s.protoFail(st, last, "%v", err)
	}
	return s.fail(st, kind, "", s.localErr(kind, err))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
