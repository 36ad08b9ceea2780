package probe

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/sasl"
)

// POP3 is ours: no Go POP3 client speaks STLS and SASL (DESIGN.md). It is a
// handful of single-line commands, so it lives here on top of lineConn.

func (s *session) runPOP(ctx context.Context) error {
	raw, err := s.connect(ctx, s.a.Server)
	if err != nil {
		return err
	}
	var l *lineConn
	if s.t.POPStartTLS {
		if l, err = s.popStartTLS(ctx, raw); err != nil {
			return err
		}
	} else {
		s.enter(StageTLS)
		tc, err := s.handshake(ctx, raw, StageTLS)
		if err != nil {
			return err
		}
		l = s.lines(s.wrap(tc, ""))
		if err := l.popGreeting(); err != nil {
			return err
		}
		s.enter(StageCapability)
		if s.a.Capabilities, err = l.popCapa(); err != nil {
			return err
		}
	}

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
	var reply string
	switch {
	case s.c.Mechanism == XOAUTH2:
		blob := sasl.XOAUTH2Response(s.t.User, token)
		s.tr.addSecretBlob(blob)
		reply, err = l.popSASL("XOAUTH2", blob, s.t.POPXOAUTH2OneLine)
	case s.t.POPAuthPlain:
		pw, perr := s.password(ctx)
		if perr != nil {
			return perr
		}
		blob := []byte("\x00" + s.t.User + "\x00" + pw)
		s.tr.addSecretBlob(blob)
		reply, err = l.popSASL("PLAIN", blob, true)
	default:
		pw, perr := s.password(ctx)
		if perr != nil {
			return perr
		}
		s.a.AuthMethod = "USER/PASS"
		reply, err = l.popCommand("USER " + s.t.User)
		if err != nil {
			return err
		}
		if strings.HasPrefix(reply, "+OK") {
			s.tr.secretMode(true, 1)
			reply, err = l.popCommand("PASS " + pw)
			s.tr.secretMode(false, 0)
		}
	}
	if err != nil {
		return err
	}
	s.a.AuthReply = reply
	if !strings.HasPrefix(reply, "+OK") {
		return s.popRefused(StageAuth, reply)
	}

	s.enter(StageMailbox)
	reply, err = l.popCommand("STAT")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+OK") {
		return s.popRefused(StageMailbox, reply)
	}
	s.a.Reply = reply

	s.enterLogout()
	_, _ = l.popCommand("QUIT")
	return nil
}

func (s *session) popStartTLS(ctx context.Context, raw net.Conn) (*lineConn, error) {
	l := s.lines(s.wrap(raw, ""))
	if err := s.plainGreeting(ctx, raw, l.popGreeting); err != nil {
		return nil, err
	}
	s.enter(StageCapability)
	caps, err := l.popCapa()
	if err != nil {
		return nil, err
	}
	s.a.Capabilities = caps
	// Some servers offer STLS without listing CAPA; trying it is harmless,
	// but without CAPA saying so and without allow_plaintext we still insist.
	if len(caps) > 0 && !slices.ContainsFunc(caps, func(c string) bool { return strings.EqualFold(c, "STLS") }) {
		if s.t.AllowPlaintext {
			return l, nil
		}
		return nil, s.fail(StageStartTLS, ErrPolicy, "", errors.New("pop: the server does not offer STLS; refusing to log in without TLS (allow_plaintext is off)"))
	}
	s.enter(StageStartTLS)
	reply, err := l.popCommand("STLS")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(reply, "+OK") {
		if s.t.AllowPlaintext {
			return l, nil
		}
		return nil, s.fail(StageStartTLS, ErrRefused, reply, errors.New("pop: STLS refused"))
	}
	if l.buffered() > 0 {
		return nil, s.protoFail(StageStartTLS, reply, "the server sent data after its STLS reply, before TLS")
	}
	tc, err := s.handshake(ctx, raw, StageStartTLS)
	if err != nil {
		return nil, err
	}
	l = s.lines(s.wrap(tc, ""))
	// RFC 2595: capabilities may change after STLS; ask again.
	s.enter(StageCapability)
	if s.a.Capabilities, err = l.popCapa(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *lineConn) popGreeting() error {
	l.s.enter(StageGreeting)
	line, err := l.readLine()
	if err != nil {
		return l.s.ioFail(StageGreeting, err)
	}
	switch {
	case strings.HasPrefix(line, "+OK"):
		return nil
	case strings.HasPrefix(line, "-ERR"):
		return l.s.fail(StageGreeting, ErrRefused, line, errors.New("pop: server refused the connection"))
	}
	return l.s.protoFail(StageGreeting, line, "expected +OK or -ERR")
}

// popCapa returns the CAPA list; a server without CAPA (-ERR) has none.
func (l *lineConn) popCapa() ([]string, error) {
	reply, err := l.popCommand("CAPA")
	if err != nil || !strings.HasPrefix(reply, "+OK") {
		return nil, err
	}
	var caps []string
	for {
		line, err := l.readLine()
		if err != nil {
			return nil, l.s.ioFail(l.s.a.Stage, err)
		}
		if line == "." {
			return caps, nil
		}
		caps = append(caps, strings.TrimPrefix(line, "."))
	}
}

// popCommand sends one command and returns its status line, which must be
// +OK, -ERR or a SASL continuation ("+ ...").
func (l *lineConn) popCommand(cmd string) (string, error) {
	st := l.s.a.Stage
	if err := l.writeLine(cmd); err != nil {
		return "", l.s.ioFail(st, err)
	}
	return l.popStatus()
}

func (l *lineConn) popStatus() (string, error) {
	st := l.s.a.Stage
	line, err := l.readLine()
	if err != nil {
		return "", l.s.ioFail(st, err)
	}
	if line == "+OK" || line == "-ERR" || line == "+" ||
		strings.HasPrefix(line, "+OK ") || strings.HasPrefix(line, "-ERR ") || strings.HasPrefix(line, "+ ") {
		return line, nil
	}
	return "", l.s.protoFail(st, line, "expected +OK, -ERR or a + continuation")
}

// popSASL runs AUTH mech with the response on the command line (oneLine,
// RFC 5034's initial response) or after the server's "+" (the form
// Exchange documents for XOAUTH2). Error challenges get an empty answer.
func (l *lineConn) popSASL(mech string, resp []byte, oneLine bool) (string, error) {
	s := l.s
	s.a.AuthMethod = "AUTH " + mech
	b64 := base64.StdEncoding.EncodeToString(resp)
	s.tr.secretMode(true, 2)
	defer s.tr.secretMode(false, 0)
	var reply string
	var err error
	if oneLine {
		reply, err = l.popCommand("AUTH " + mech + " " + b64)
	} else {
		reply, err = l.popCommand("AUTH " + mech)
		if err == nil && (reply == "+" || strings.HasPrefix(reply, "+ ")) {
			reply, err = l.popCommand(b64)
		}
	}
	// A continuation now is an error challenge (or a server that wants the
	// response it already has): answer empty to get the verdict. Bounded,
	// so a server cannot keep us here.
	for i := 0; err == nil && i < 3 && (reply == "+" || strings.HasPrefix(reply, "+ ")); i++ {
		reply, err = l.popCommand("")
	}
	if err == nil && (reply == "+" || strings.HasPrefix(reply, "+ ")) {
		return "", s.protoFail(StageAuth, reply, "the server keeps sending continuations")
	}
	return reply, err
}

func (s *session) popRefused(st Stage, reply string) error {
	if !strings.HasPrefix(reply, "-ERR") {
		return s.protoFail(st, reply, "expected +OK or -ERR")
	}
	return s.fail(st, ErrRefused, reply, errors.New("pop: server refused: "+reply))
}
