package probe

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosasl "github.com/emersion/go-sasl"

	"github.com/exoprobe/exoprobe/sasl"
)

// syntheticIMAPGreeting is handed to go-imap when we read the real greeting
// ourselves before STARTTLS: its client insists on reading one.
const syntheticIMAPGreeting = "* OK exoprobe: greeting read before STARTTLS\r\n"

func (s *session) runIMAP(ctx context.Context) error {
	raw, err := s.connect(ctx, s.a.Server)
	if err != nil {
		return err
	}
	var conn net.Conn
	hidden := ""
	if s.t.IMAPStartTLS {
		conn, hidden, err = s.imapStartTLS(ctx, raw)
	} else {
		s.enter(StageTLS)
		conn, err = s.handshake(ctx, raw, StageTLS)
	}
	if err != nil {
		return err
	}
	// The mark comes before New: go-imap's reader goroutine starts reading
	// (and so recording) at once, possibly past the greeting.
	mark := s.tr.mark()
	pc := s.wrap(conn, hidden)
	if hidden == "" {
		// Before New: its reader goroutine starts on the greeting at once,
		// and the read limits count per stage.
		s.enter(StageGreeting)
	}
	c := imapclient.New(pc, nil)
	// Close waits for go-imap's reader goroutine, which ends once the
	// connection is closed (at the latest by the attempt's deadline).
	defer c.Close()

	if hidden == "" {
		if err := c.WaitGreeting(); err != nil {
			// When the greeting came and the CAPABILITY exchange go-imap
			// starts by itself then broke, WaitGreeting picks either at
			// random (a select over both): whether a whole line reached
			// go-imap and the transcript decide.
			if first := s.tr.serverLines(mark); pc.linesOut.Load() && len(first) > 0 && strings.HasPrefix(first[0], "* OK") {
				return s.imapFail(c, StageCapability, mark, "CAPABILITY", err)
			}
			return s.imapFail(c, StageGreeting, mark, "", err)
		}
		if first := s.tr.serverLines(mark); len(first) > 0 && strings.HasPrefix(first[0], "* PREAUTH") {
			return s.protoFail(StageGreeting, first[0], "PREAUTH: the server did not ask for credentials")
		}
	}

	s.enter(StageCapability)
	// go-imap asks for capabilities by itself after a greeting without
	// them; Caps waits for that answer instead of asking twice.
	caps := c.Caps()
	if caps == nil {
		return s.imapFail(c, StageCapability, 0, "CAPABILITY", errors.New("no CAPABILITY reply"))
	}
	s.a.Capabilities = imapCapsLine(s.tr.serverLines(0), caps)

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
	mark = s.tr.mark()
	verb := "AUTHENTICATE"
	switch {
	case s.c.Mechanism == XOAUTH2:
		s.a.AuthMethod = "AUTHENTICATE XOAUTH2"
		s.tr.addSecretBlob(sasl.XOAUTH2Response(s.t.User, token))
		s.tr.secretMode(true, 3)
		pc.blankEmptySASL.Store(true)
		err = c.Authenticate(sasl.NewXOAUTH2Client(s.t.User, token))
	case caps.Has(imap.CapLoginDisabled) && caps.Has(imap.AuthCap(gosasl.Plain)):
		pw, perr := s.password(ctx)
		if perr != nil {
			return perr
		}
		s.a.AuthMethod = "AUTHENTICATE PLAIN"
		s.tr.addSecretBlob([]byte("\x00" + s.t.User + "\x00" + pw))
		s.tr.secretMode(true, 3)
		pc.blankEmptySASL.Store(true)
		err = c.Authenticate(gosasl.NewPlainClient("", s.t.User, pw))
	default:
		// Also when LOGINDISABLED comes without AUTH=PLAIN: over TLS the
		// password is safe, and the server's refusal names the policy
		// (Exchange: "NO Basic authentication is disabled.").
		pw, perr := s.password(ctx)
		if perr != nil {
			return perr
		}
		s.a.AuthMethod, verb = "LOGIN", "LOGIN"
		s.tr.secretMode(true, 3)
		err = c.Login(s.t.User, pw).Wait()
	}
	s.tr.secretMode(false, 0)
	pc.blankEmptySASL.Store(false)
	s.a.AuthReply = s.imapTagged(mark, verb)
	if err != nil {
		return s.imapFail(c, StageAuth, mark, verb, err)
	}

	s.enter(StageMailbox)
	mark = s.tr.mark()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return s.imapFail(c, StageMailbox, mark, "EXAMINE", err)
	}
	s.a.Reply = s.imapTagged(mark, "EXAMINE")

	s.enterLogout()
	// A failed LOGOUT does not undo a login that worked.
	_ = c.Logout().Wait()
	return nil
}

// imapStartTLS reads the greeting, asks for capabilities and upgrades the
// connection itself, so that the transcript records the plaintext part and
// go-imap only ever sees the TLS side.
func (s *session) imapStartTLS(ctx context.Context, raw net.Conn) (net.Conn, string, error) {
	l := s.lines(s.wrap(raw, ""))
	s.enter(StageGreeting)
	var greeting string
	err := s.plainGreeting(ctx, raw, func() (err error) {
		if greeting, err = l.readLine(); err != nil {
			return s.ioFail(StageGreeting, err)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	switch {
	case strings.HasPrefix(greeting, "* OK"):
	case strings.HasPrefix(greeting, "* BYE"):
		return nil, "", s.fail(StageGreeting, ErrRefused, greeting, errors.New("imap: server refused the connection"))
	case strings.HasPrefix(greeting, "* PREAUTH"):
		return nil, "", s.protoFail(StageGreeting, greeting, "PREAUTH on a connection without TLS")
	default:
		return nil, "", s.protoFail(StageGreeting, greeting, "expected an untagged OK greeting")
	}

	s.enter(StageCapability)
	var caps []string
	reply, err := l.imapCommand("x1 CAPABILITY", func(line string) {
		if rest, ok := strings.CutPrefix(line, "* CAPABILITY "); ok {
			caps = strings.Fields(rest)
		}
	})
	if err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(reply, "x1 OK") {
		return nil, "", s.fail(StageCapability, ErrRefused, reply, errors.New("imap: CAPABILITY refused"))
	}
	s.a.Capabilities = caps
	if !slices.ContainsFunc(caps, func(c string) bool { return strings.EqualFold(c, "STARTTLS") }) {
		if s.t.AllowPlaintext {
			// Without TLS the capabilities stay as they are; handing them
			// over saves go-imap asking again.
			g := "* OK [CAPABILITY " + strings.Join(caps, " ") + "] exoprobe: greeting read before\r\n"
			return raw, g + l.hiddenRest(), nil
		}
		return nil, "", s.fail(StageStartTLS, ErrPolicy, "", errors.New("imap: the server does not offer STARTTLS; refusing to log in without TLS (allow_plaintext is off)"))
	}

	s.enter(StageStartTLS)
	reply, err = l.imapCommand("x2 STARTTLS", nil)
	if err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(reply, "x2 OK") {
		return nil, "", s.fail(StageStartTLS, ErrRefused, reply, errors.New("imap: STARTTLS refused"))
	}
	if l.buffered() > 0 {
		// Anything before the handshake could be injected in clear.
		return nil, "", s.protoFail(StageStartTLS, reply, "the server sent data after its STARTTLS reply, before TLS")
	}
	tc, err := s.handshake(ctx, raw, StageStartTLS)
	if err != nil {
		return nil, "", err
	}
	return tc, syntheticIMAPGreeting, nil
}

// imapCommand sends one tagged command and reads to its tagged reply.
func (l *lineConn) imapCommand(cmd string, untagged func(string)) (string, error) {
	st := l.s.a.Stage
	if err := l.writeLine(cmd); err != nil {
		return "", l.s.ioFail(st, err)
	}
	tag, _, _ := strings.Cut(cmd, " ")
	for {
		line, err := l.readLine()
		if err != nil {
			return "", l.s.ioFail(st, err)
		}
		switch {
		case strings.HasPrefix(line, tag+" "):
			return line, nil
		case strings.HasPrefix(line, "* "):
			if untagged != nil {
				untagged(line)
			}
		default:
			return "", l.s.protoFail(st, line, "expected an untagged or %s-tagged line", tag)
		}
	}
}

// imapTagged finds the tagged reply to the command with the given verb sent
// since mark, verbatim from the transcript: go-imap's errors drop the tag
// and may reformat the text.
func (s *session) imapTagged(mark int, verb string) string {
	tag := ""
	for _, l := range s.tr.clientLines(mark) {
		if f := strings.Fields(l); len(f) >= 2 && (verb == "" || strings.EqualFold(f[1], verb)) {
			tag = f[0]
			break
		}
	}
	if tag == "" {
		return ""
	}
	for _, l := range s.tr.serverLines(mark) {
		if strings.HasPrefix(l, tag+" ") {
			return l
		}
	}
	return ""
}

// imapFail records a failed IMAP step: a refusal with the server's words,
// or the local reason.
func (s *session) imapFail(c *imapclient.Client, st Stage, mark int, verb string, err error) error {
	if s.a.Stage != st {
		s.enter(st)
	}
	reply := ""
	if verb != "" {
		reply = s.imapTagged(mark, verb)
	}
	if reply == "" {
		// A BYE instead of a tagged reply (e.g. "* BYE Session
		// invalidated - AccessTokenExpired") is the server's last word.
		for _, l := range s.tr.serverLines(mark) {
			if strings.HasPrefix(l, "* BYE") {
				reply = l
			}
		}
	}
	var ierr *imap.Error
	if errors.As(err, &ierr) {
		return s.fail(st, ErrRefused, firstNonEmpty(reply, ierr.Error()), err)
	}
	// After a decoder error go-imap closes the connection and later
	// commands only say so; the reader's error is the real cause.
	if cerr := c.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	kind := s.kind(s.ctx, err, ErrProtocol)
	if kind == ErrProtocol && strings.Contains(err.Error(), "EOF") {
		kind = ErrConnect
	}
	if reply != "" && strings.HasPrefix(reply, "* BYE") && kind != ErrTimeout {
		return s.fail(st, ErrRefused, reply, err)
	}
	switch kind {
	case ErrProtocol:
		last := ""
		if ls := s.tr.serverLines(mark); len(ls) > 0 {
			last = ls[len(ls)-1]
		}
		return s.protoFail(st, last, "%v", err)
	case ErrConnect:
		return s.fail(st, kind, reply, errors.New("imap: server closed the connection: "+err.Error()))
	}
	return s.fail(st, kind, reply, s.localErr(kind, err))
}

// imapCapsLine keeps the server's order from the CAPABILITY line; the
// CapSet is a map.
func imapCapsLine(lines []string, caps imap.CapSet) []string {
	// The last list wins: with STARTTLS done by hand the transcript also
	// holds the pre-TLS one.
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(lines[i], "* CAPABILITY "); ok {
			return strings.Fields(rest)
		}
	}
	out := make([]string, 0, len(caps))
	for c := range caps {
		out = append(out, string(c))
	}
	slices.Sort(out)
	return out
}
