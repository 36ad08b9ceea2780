package smtpd

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/internal/tcpserve"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

type session struct {
	srv      *Server
	log      *slog.Logger
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	frontend string // "<label>.outlook.office365.com"
	id       string // 16 upper-case hex digits, per connection
	secure   bool
	done     bool

	helo string
	// authUser is the login name once AUTH succeeded; notConnected: the
	// mailbox cannot be opened (S30 at submission).
	authUser     string
	notConnected bool

	mailFrom *string
	rcpts    int
}

var errClose = errors.New("smtpd: close")

func newSession(s *Server, c net.Conn) *session {
	label, _, _ := strings.Cut(s.cfg.Host, ".")
	var b [6]byte
	rand.Read(b[:])
	ss := &session{
		srv:      s,
		log:      s.log.With("remote", c.RemoteAddr().String()),
		frontend: label + ".outlook.office365.com",
		// Exchange's ids start 08D..., a timestamp-derived prefix; the
		// rest is random here.
		id: "08DD" + strings.ToUpper(hex.EncodeToString(b[:])),
	}
	ss.setConn(c)
	return ss
}

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	// Rebuilt after STARTTLS on purpose: commands pipelined in clear behind
	// STARTTLS must not be taken as sent over TLS (CVE-2011-0411).
	ss.br = bufio.NewReaderSize(c, 4096)
	ss.bw = bufio.NewWriter(c)
}

// bracket is Exchange's trailing "[HOST 2024-11-11T21:51:32.927Z SESSION]".
func (ss *session) bracket() string {
	return "[" + ss.srv.cfg.Host + " " + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + ss.id + "]"
}

func (ss *session) writeLine(s string) error {
	ss.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	ss.bw.WriteString(s)
	ss.bw.WriteString("\r\n")
	return ss.bw.Flush()
}

func (ss *session) reply(r reply) error {
	line := strconv.Itoa(r.code) + " " + r.text
	if r.withBracket {
		line += " " + ss.bracket()
	}
	err := ss.writeLine(line)
	if r.code == 421 {
		ss.done = true
		if err == nil {
			err = errClose
		}
	}
	return err
}

var errLineTooLong = errors.New("smtpd: line too long")

func (ss *session) readLine() (string, error) {
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.IdleTimeout))
	max := ss.srv.cfg.MaxLineLength
	var b []byte
	for {
		frag, err := ss.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > max+2 {
			return "", errLineTooLong
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

func (ss *session) serve() {
	ss.log.Debug("connection opened")
	defer ss.log.Debug("connection closed")
	greeting := "220 " + ss.frontend + greetingMiddle +
		time.Now().UTC().Format("Mon, 2 Jan 2006 15:04:05 -0700") + " [" + ss.id + "]"
	if ss.writeLine(greeting) != nil {
		return
	}
	for !ss.done {
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.reply(replyLineTooLong)
			}
			ss.log.Debug("read", "err", err)
			return
		}
		if err := ss.command(line); err != nil {
			if !errors.Is(err, errClose) {
				ss.log.Debug("command", "err", err)
			}
			return
		}
	}
}

func (ss *session) command(line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	arg = strings.TrimSpace(arg)
	switch verb {
	case "EHLO", "HELO":
		return ss.hello(verb, arg)
	case "STARTTLS":
		return ss.startTLS(arg)
	case "AUTH":
		return ss.auth(arg)
	case "MAIL":
		return ss.mail(arg)
	case "RCPT":
		return ss.rcpt(arg)
	case "DATA":
		return ss.data(arg)
	case "BDAT":
		return ss.bdat(arg)
	case "RSET":
		ss.resetTx()
		return ss.reply(replyReset)
	case "NOOP":
		return ss.reply(replyNoop)
	case "VRFY":
		return ss.reply(replyVRFY)
	case "QUIT":
		ss.done = true
		ss.reply(replyQuit)
		return errClose
	}
	// Also the stray "*" go-smtp's client sends after a refused AUTH.
	name := verb
	if len(name) > 64 {
		name = name[:64]
	}
	return ss.reply(reply{500, unrecognizedPrefix + sanitize(name) + "'", true})
}

// sanitize keeps an echoed client word printable.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func (ss *session) resetTx() {
	ss.mailFrom = nil
	ss.rcpts = 0
}

func (ss *session) remoteIP() string {
	if a, ok := ss.conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, _ := net.SplitHostPort(ss.conn.RemoteAddr().String())
	return host
}

func (ss *session) hello(verb, arg string) error {
	if arg == "" {
		return ss.reply(replyBadDomain) // inferred
	}
	ss.helo = arg
	ss.resetTx()
	first := ss.frontend + " Hello [" + ss.remoteIP() + "]"
	if verb == "HELO" {
		return ss.writeLine("250 " + first)
	}
	lines := []string{first}
	for _, c := range ehloCaps {
		if c == "" {
			c = "STARTTLS"
			if ss.secure {
				c = "AUTH LOGIN XOAUTH2"
			}
		}
		lines = append(lines, c)
	}
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l)
		if i < len(lines)-1 {
			b.WriteString("\r\n")
		}
	}
	return ss.writeLine(b.String())
}

func (ss *session) startTLS(arg string) error {
	if arg != "" {
		return ss.reply(replyBadSyntax)
	}
	if ss.secure || ss.srv.cfg.TLS == nil {
		return ss.reply(replyBadSequence) // inferred
	}
	if err := ss.reply(replyStartTLS); err != nil {
		return err
	}
	tc, err := tcpserve.Handshake(ss.conn, ss.srv.cfg.TLS)
	if err != nil {
		return fmt.Errorf("smtpd: starttls: %w", err)
	}
	ss.secure = true
	ss.setConn(tc)
	// RFC 3207: forget everything learnt in clear; the client says EHLO again.
	ss.helo = ""
	ss.authUser, ss.notConnected = "", false
	ss.resetTx()
	return nil
}

func (ss *session) auth(arg string) error {
	if ss.helo == "" {
		return ss.reply(replyHelloFirst) // inferred
	}
	if !ss.secure {
		return ss.reply(replySTARTTLSRequired) // S22, inferred for AUTH
	}
	if ss.authUser != "" {
		return ss.reply(replyAlreadyAuth) // inferred
	}
	fields := strings.Fields(arg)
	if len(fields) == 0 || len(fields) > 2 {
		return ss.reply(replyBadSyntax) // inferred
	}
	mech := strings.ToUpper(fields[0])
	var ir []byte
	if len(fields) == 2 {
		if fields[1] == "=" {
			ir = []byte{}
		} else {
			b, err := base64.StdEncoding.DecodeString(fields[1])
			if err != nil {
				return ss.reply(replyCantDecode) // inferred
			}
			ir = b
		}
	}

	var (
		user    string
		verdict tenant.Verdict
		server  gosasl.Server
		bearer  bool
	)
	switch mech {
	case sasl.Login:
		server = sasl.NewLoginServer(func(u, password string) error {
			user = u
			verdict = tenant.AuthenticateBasicAt(ss.srv.cfg.Auth, tenant.SMTP, u, password, ss.conn.RemoteAddr())
			return nil
		})
	case sasl.XOAUTH2:
		bearer = true
		server = sasl.NewXOAUTH2Server(func(u, token string) error {
			user = u
			verdict = ss.srv.cfg.Auth.AuthenticateBearer(tenant.SMTP, u, token)
			return nil
		})
	default:
		return ss.reply(replyUnrecognizedAuth) // S17
	}

	resp := ir
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			// A blob that is not XOAUTH2: refused like a bad token
			// (inferred; S19's "501 5.5.124" is the HVE endpoint's).
			ss.log.Info("auth", "mech", strings.ToLower(mech), "err", "malformed sasl response")
			return ss.reply(replyTokenRejected)
		}
		if done {
			break
		}
		r := reply{334, base64.StdEncoding.EncodeToString(challenge), false} // S1, S3
		if err := ss.reply(r); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		if line == "*" {
			return ss.reply(replyAuthCancel) // RFC 4954 §4; inferred text
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return ss.reply(replyCantDecode) // inferred
		}
		resp = b
	}

	mechName := "basic"
	if bearer {
		mechName = "xoauth2"
	}
	ss.log.Info("auth", "mech", mechName, "user", user, "verdict", string(verdict))
	switch verdict {
	case tenant.VerdictOK, tenant.VerdictNotConnected:
		ss.authUser = user
		ss.notConnected = verdict == tenant.VerdictNotConnected
		return ss.reply(replyAuthOK) // S2
	}
	if bearer {
		return ss.reply(bearerRefusal(verdict))
	}
	return ss.reply(basicRefusal(verdict))
}

// mailAllowed answers a mail command that cannot proceed: in clear (S22),
// before EHLO, without AUTH (S20).
func (ss *session) mailAllowed() (bool, error) {
	switch {
	case !ss.secure:
		return false, ss.reply(replySTARTTLSRequired) // S22
	case ss.helo == "":
		return false, ss.reply(replyHelloFirst)
	case ss.authUser == "":
		return false, ss.reply(replyNotAuthenticated) // S20
	}
	return true, nil
}

// parsePath reads "FROM:<addr> params" / "TO:<addr> params".
func parsePath(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

func (ss *session) mail(arg string) error {
	if ok, err := ss.mailAllowed(); !ok {
		return err
	}
	if ss.mailFrom != nil {
		return ss.reply(replyBadSequence) // inferred
	}
	from, params, ok := parsePath(arg, "FROM:")
	if !ok {
		return ss.reply(replyBadSyntax)
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "SIZE") {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > maxMessageSize {
				return ss.reply(replyTooBig)
			}
		}
	}
	if from != "" && !strings.EqualFold(from, ss.authUser) {
		return ss.reply(replySendAsDenied) // S29
	}
	ss.mailFrom = &from
	return ss.reply(replySenderOK)
}

func (ss *session) rcpt(arg string) error {
	if ok, err := ss.mailAllowed(); !ok {
		return err
	}
	if ss.mailFrom == nil {
		return ss.reply(replyNeedMail)
	}
	to, _, ok := parsePath(arg, "TO:")
	if !ok || to == "" {
		return ss.reply(replyBadSyntax)
	}
	ss.rcpts++
	return ss.reply(replyRecipientOK)
}

func (ss *session) txReady() (bool, error) {
	if ok, err := ss.mailAllowed(); !ok {
		return false, err
	}
	if ss.mailFrom == nil {
		return false, ss.reply(replyNeedMail)
	}
	if ss.rcpts == 0 {
		return false, ss.reply(replyNeedRcpt)
	}
	return true, nil
}

func (ss *session) data(arg string) error {
	if arg != "" {
		return ss.reply(replyBadSyntax)
	}
	if ok, err := ss.txReady(); !ok {
		return err
	}
	if err := ss.reply(replyStartData); err != nil {
		return err
	}
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.IdleTimeout))
	dr := textproto.NewReader(ss.br).DotReader()
	n, err := io.Copy(io.Discard, io.LimitReader(dr, maxMessageSize+1))
	if err != nil {
		return fmt.Errorf("smtpd: data: %w", err)
	}
	if n > maxMessageSize {
		ss.reply(replyTooBig)
		return errClose // the rest of the message cannot be told from commands
	}
	return ss.delivered(n)
}

// bdat is CHUNKING (RFC 3030): "BDAT size [LAST]".
func (ss *session) bdat(arg string) error {
	fields := strings.Fields(arg)
	if len(fields) == 0 || len(fields) > 2 || (len(fields) == 2 && !strings.EqualFold(fields[1], "LAST")) {
		return ss.reply(replyBadSyntax)
	}
	size, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || size < 0 {
		// The chunk's length is unknown: nothing after it can be trusted.
		ss.reply(replyBadSyntax)
		return errClose
	}
	if size > maxMessageSize {
		// The chunk is too big to read past, so the connection ends
		// either way; but a session that may not send mail at all hears
		// that first (S22 in clear), as it would for a small chunk.
		if ok, _ := ss.mailAllowed(); ok {
			ss.reply(replyTooBig)
		}
		return errClose
	}
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.IdleTimeout))
	if _, err := io.CopyN(io.Discard, ss.br, size); err != nil {
		return fmt.Errorf("smtpd: bdat: %w", err)
	}
	if ok, err := ss.txReady(); !ok {
		return err
	}
	if len(fields) == 1 {
		return ss.reply(reply{250, fmt.Sprintf("2.0.0 CHUNK received OK, %d octets", size), false}) // inferred
	}
	return ss.delivered(size)
}

// delivered ends a transaction: S30 when the mailbox cannot be opened,
// otherwise Exchange's queued reply (inferred text).
func (ss *session) delivered(n int64) error {
	defer ss.resetTx()
	if ss.notConnected {
		return ss.reply(reply{430, mailboxLogonFailurePrefix + strings.ToUpper(ss.srv.cfg.Host), false}) // S30
	}
	ss.srv.delivered.Add(1)
	ss.log.Info("message accepted and discarded", "bytes", n, "rcpts", ss.rcpts)
	var b [8]byte
	rand.Read(b[:])
	msgID := strings.ToUpper(hex.EncodeToString(b[:])) + "@" + ss.srv.cfg.Host
	return ss.reply(reply{250, "2.0.0 OK <" + msgID + "> [Hostname=" + ss.srv.cfg.Host + "]", false})
}
