// Package pop3d is the emulator's POP3 server: Exchange Online's POP3
// service (outlook.office365.com:995 with implicit TLS, :110 with STLS) as
// clients see it — its greeting, capability lists and every reply word for
// word (exo-responses.md §1c, §2) — over an always-empty maildrop. The
// decisions come from an Authenticator (the emulated tenant); this package
// only turns them into Exchange's words.
//
// No Go POP3 library supports STLS and SASL together, so the protocol is
// written here on net/textproto.
package pop3d

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/internal/tcpserve"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Authenticator decides logins; *tenant.Tenant implements it.
type Authenticator interface {
	AuthenticateBasic(proto tenant.Protocol, user, password string) tenant.Verdict
	AuthenticateBearer(proto tenant.Protocol, user, token string) tenant.Verdict
	Era() tenant.Era
}

// Defaults for Config's zero values. The timeouts are Exchange's POP3
// defaults (PreAuthenticatedConnectionTimeout 60 s,
// AuthenticatedConnectionTimeout 1800 s).
const (
	DefaultPreAuthTimeout = 60 * time.Second
	DefaultAuthTimeout    = 30 * time.Minute
	DefaultMaxLineLength  = 16 << 10
)

// Config configures a Server.
type Config struct {
	// Auth decides every login. Required.
	Auth Authenticator
	// TLS is used for implicit TLS and STLS. Without it only the plain
	// listener mode works and STLS is refused.
	TLS *tls.Config
	// Host is the backend FQDN shown (UTF-16LE, base64) in the greeting.
	Host   string
	Logger *slog.Logger
	// PreAuthTimeout and AuthTimeout bound how long a client may stay idle
	// before and after login; the connection is then closed.
	PreAuthTimeout time.Duration
	AuthTimeout    time.Duration
	// MaxLineLength bounds one command line (bytes, without CRLF). It must
	// hold an XOAUTH2 blob: a base64'd Entra access token is 2-8 KiB.
	MaxLineLength int
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pop3d: server closed")

// Server serves POP3 on any number of listeners.
type Server struct {
	cfg      Config
	greeting string
	log      *slog.Logger

	// conns runs the accept loop and tracks live connections.
	conns tcpserve.Server
}

// NewServer returns a server; zero Config fields take the defaults above.
func NewServer(cfg Config) *Server {
	if cfg.Host == "" {
		cfg.Host = RandomHost()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PreAuthTimeout <= 0 {
		cfg.PreAuthTimeout = DefaultPreAuthTimeout
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = DefaultMaxLineLength
	}
	return &Server{
		cfg:      cfg,
		greeting: greetingPrefix + "[" + HostTag(cfg.Host) + "]",
		log:      cfg.Logger.With("component", "pop3d"),
	}
}

// Host is the backend FQDN the server names in its greeting.
func (s *Server) Host() string { return s.cfg.Host }

// HostTag encodes a host name as Exchange's greetings do: base64 of its
// UTF-16LE form.
func HostTag(host string) string { return tcpserve.HostTag(host) }

// RandomHost returns a backend name shaped like the one in Exchange
// Online's POP3 greeting: exo-responses.md §2's tag decodes to
// "SC1PR80CA0105.lamprd80.prod.outlook.com", an outlook.com backend (IMAP's
// name exchangelabs.com ones). Random per server, as each Exchange
// connection lands on some backend.
func RandomHost() string { return tcpserve.RandomHost(tcpserve.SuffixOutlook) }

// Serve accepts connections on ln until Close. With implicitTLS every
// connection starts with a TLS handshake (port 995); without, it starts in
// clear and offers STLS (port 110). It returns ErrServerClosed after Close.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		return errors.New("pop3d: implicit TLS needs Config.TLS")
	}
	err := s.conns.Serve(ln, func(c net.Conn) { s.handle(c, implicitTLS) })
	if errors.Is(err, tcpserve.ErrClosed) {
		return ErrServerClosed
	}
	return fmt.Errorf("pop3d: accept: %w", err)
}

// Close stops every listener and connection and waits for their goroutines.
func (s *Server) Close() error {
	return s.conns.Close()
}

func (s *Server) handle(c net.Conn, implicitTLS bool) {
	log := s.log.With("remote", c.RemoteAddr().String(), "implicit_tls", implicitTLS)
	if implicitTLS {
		tc, err := tcpserve.Handshake(c, s.cfg.TLS)
		if err != nil {
			log.Debug("tls handshake failed", "err", err)
			return
		}
		c = tc
	}
	ss := &session{srv: s, log: log, secure: implicitTLS}
	ss.setConn(c)
	ss.serve()
}

// session is one client connection.
type session struct {
	srv    *Server
	log    *slog.Logger
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	secure bool // TLS in force (implicit or after STLS)

	user   string // from USER, awaiting PASS
	authed string // non-empty once logged in (transaction state)
	done   bool
}

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	// The reader is rebuilt after STLS on purpose: bytes a client pipelined
	// in clear behind STLS must not be read as if they came over TLS
	// (the STARTTLS command-injection flaw, CVE-2011-0411).
	ss.br = bufio.NewReaderSize(c, ss.srv.cfg.MaxLineLength+2)
	ss.bw = bufio.NewWriter(c)
}

func (ss *session) serve() {
	ss.log.Debug("connection opened")
	defer ss.log.Debug("connection closed")
	if ss.reply(ss.srv.greeting) != nil {
		return
	}
	for !ss.done {
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.reply(errLineLong)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.log.Debug("read failed", "err", err)
			}
			return
		}
		if err := ss.command(line); err != nil {
			ss.log.Debug("connection ended", "err", err)
			return
		}
	}
}

var errLineTooLong = errors.New("pop3d: line too long")

// readLine reads one CRLF (or bare LF) terminated line within the idle
// deadline and the length limit.
func (ss *session) readLine() (string, error) {
	timeout := ss.srv.cfg.PreAuthTimeout
	if ss.authed != "" {
		timeout = ss.srv.cfg.AuthTimeout
	}
	if err := ss.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	b, err := ss.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > ss.srv.cfg.MaxLineLength {
		return "", errLineTooLong
	}
	return string(b), nil
}

// reply writes one line, or several for a multi-line response (the
// terminating "." is the caller's).
func (ss *session) reply(lines ...string) error {
	if err := ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.cfg.PreAuthTimeout)); err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := ss.bw.WriteString(l + "\r\n"); err != nil {
			return err
		}
	}
	return ss.bw.Flush()
}

// multi writes a positive multi-line response, dot-stuffed (RFC 1939 §3).
func (ss *session) multi(first string, body []string) error {
	lines := make([]string, 0, len(body)+2)
	lines = append(lines, first)
	for _, l := range body {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		lines = append(lines, l)
	}
	return ss.reply(append(lines, ".")...)
}

func (ss *session) command(line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	switch verb {
	case "CAPA":
		caps := capaPlain
		if ss.secure {
			caps = capaTLS
		}
		return ss.multi("+OK", caps)
	case "QUIT":
		ss.done = true
		return ss.reply(replySignOff)
	case "NOOP":
		if ss.authed == "" {
			return ss.reply(errBadState)
		}
		return ss.reply("+OK")
	case "STLS":
		return ss.stls()
	case "USER", "PASS", "AUTH":
		if !ss.secure || ss.authed != "" {
			// Exchange's POP3 logins need TLS (LoginType SecureLogin);
			// credentials in clear are refused before they are looked at.
			return ss.reply(errBadState)
		}
		switch verb {
		case "USER":
			return ss.userCmd(arg)
		case "PASS":
			return ss.passCmd(arg)
		default:
			return ss.authCmd(arg)
		}
	case "STAT", "LIST", "UIDL", "RETR", "DELE", "TOP", "RSET":
		if ss.authed == "" {
			return ss.reply(errBadState)
		}
		return ss.mailbox(verb, arg)
	default:
		return ss.reply(errProtocol)
	}
}

func (ss *session) stls() error {
	if ss.secure || ss.authed != "" || ss.srv.cfg.TLS == nil {
		return ss.reply(errBadState)
	}
	if err := ss.reply(replyBeginTLS); err != nil {
		return err
	}
	tc, err := tcpserve.Handshake(ss.conn, ss.srv.cfg.TLS)
	if err != nil {
		return fmt.Errorf("pop3d: stls handshake: %w", err)
	}
	ss.setConn(tc)
	ss.secure = true
	ss.user = ""
	return nil
}

func (ss *session) userCmd(arg string) error {
	if arg == "" {
		return ss.reply(errArgument)
	}
	ss.user = arg
	return ss.reply(replyUserAccepted)
}

func (ss *session) passCmd(arg string) error {
	if ss.user == "" {
		return ss.reply(errBadState)
	}
	user := ss.user
	ss.user = "" // RFC 1939: a failed PASS returns to the start of AUTHORIZATION
	v := tenant.AuthenticateBasicAt(ss.srv.cfg.Auth, tenant.POP, user, arg, ss.conn.RemoteAddr())
	ss.log.Info("pop login", "mechanism", "USER", "user", user, "verdict", string(v))
	switch {
	case v == tenant.VerdictOK:
		ss.authed = user
		return ss.reply(replyLoggedOn)
	case v == tenant.VerdictThrottled:
		return ss.reply(errUnavailable)
	case v == tenant.VerdictBasicDisabled && ss.srv.cfg.Auth.Era() == tenant.Era2026:
		return ss.reply(errBasicDisabled)
	default:
		return ss.reply(errLogonFailure)
	}
}

func (ss *session) authCmd(arg string) error {
	mech, ir, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	switch mech {
	case "":
		// RFC 1734 clients list mechanisms with a bare AUTH; answering like
		// CAPA's SASL line is inferred.
		return ss.multi("+OK", []string{"PLAIN", "XOAUTH2"})
	case "PLAIN", sasl.XOAUTH2:
	default:
		return ss.reply(errUnknownMechanism)
	}
	var resp string
	if hasIR {
		resp = ir
		if resp == "=" { // RFC 5034: "=" is an empty initial response
			resp = ""
		}
	} else {
		// P4: Exchange's empty continuation (captured for XOAUTH2;
		// inferred for PLAIN).
		if err := ss.reply(replyContinue); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.reply(errLineLong)
			}
			return err
		}
		if line == "*" {
			return ss.reply(errAuthCanceled)
		}
		resp = line
	}
	raw, err := decodeBase64(resp)
	if err != nil {
		// Inferred: Exchange gives no distinct text for an undecodable
		// response; the generic SASL refusal (P6) is the plausible one.
		ss.log.Info("pop login", "mechanism", mech, "verdict", "malformed")
		return ss.reply(errAuthFailure)
	}
	if mech == "PLAIN" {
		return ss.authPlain(raw)
	}
	return ss.authXOAUTH2(raw)
}

// authPlain answers AUTH PLAIN. The corpus has no POP3 capture of AUTH
// PLAIN at all: P4, P5 and P6 are cited for XOAUTH2 only. Every reply here
// is therefore inferred — Exchange's POP3 service words its SASL outcomes
// the same whatever the mechanism (the continuation "+ " as P4, success as
// P5, refusal as P6) — except where marked otherwise.
func (ss *session) authPlain(raw []byte) error {
	user, password, ok := ParsePlain(raw)
	if !ok {
		ss.log.Info("pop login", "mechanism", "PLAIN", "verdict", "malformed")
		return ss.reply(errAuthFailure) // inferred: P6's text (XOAUTH2) for PLAIN
	}
	v := tenant.AuthenticateBasicAt(ss.srv.cfg.Auth, tenant.POP, user, password, ss.conn.RemoteAddr())
	ss.log.Info("pop login", "mechanism", "PLAIN", "user", user, "verdict", string(v))
	switch {
	case v == tenant.VerdictOK:
		ss.authed = user
		return ss.reply(replyAuthOK) // inferred: P5's text (XOAUTH2) for PLAIN
	case v == tenant.VerdictThrottled:
		return ss.reply(errUnavailable) // P7: "any" command
	case v == tenant.VerdictBasicDisabled && ss.srv.cfg.Auth.Era() == tenant.Era2026:
		// Inferred: the 2026 IMAP service gives AUTHENTICATE PLAIN the
		// same words as LOGIN (I12); POP is assumed to do likewise (P8).
		return ss.reply(errBasicDisabled)
	default:
		// Inferred: P6's text (XOAUTH2) for a refused PLAIN; P3, the
		// USER/PASS refusal, is the other candidate.
		return ss.reply(errAuthFailure)
	}
}

func (ss *session) authXOAUTH2(raw []byte) error {
	user, token, err := sasl.ParseXOAUTH2(raw)
	if err != nil {
		ss.log.Info("pop login", "mechanism", sasl.XOAUTH2, "verdict", "malformed")
		return ss.reply(errAuthFailure)
	}
	v := ss.srv.cfg.Auth.AuthenticateBearer(tenant.POP, user, token)
	ss.log.Info("pop login", "mechanism", sasl.XOAUTH2, "user", user, "verdict", string(v))
	switch v {
	case tenant.VerdictOK:
		ss.authed = user
		return ss.reply(replyAuthOK)
	case tenant.VerdictThrottled:
		return ss.reply(errUnavailable)
	default:
		// P6 covers every refusal, including NotConnected and
		// ProtocolDisabled ("POP not enabled" suspected in the corpus).
		return ss.reply(errAuthFailure)
	}
}

// ParsePlain splits a SASL PLAIN response (RFC 4616:
// authzid NUL authcid NUL passwd). An authorization identity other than the
// authentication identity is refused: Exchange has no proxy logins by PLAIN.
func ParsePlain(raw []byte) (user, password string, ok bool) {
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] == "" {
		return "", "", false
	}
	if parts[0] != "" && !strings.EqualFold(parts[0], parts[1]) {
		return "", "", false
	}
	return parts[1], parts[2], true
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	// Some clients drop the padding.
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// mailbox answers the transaction-state commands. The emulated maildrop is
// always empty: the probe only needs to know the session works.
func (ss *session) mailbox(verb, arg string) error {
	switch verb {
	case "STAT":
		return ss.reply("+OK 0 0")
	case "RSET":
		return ss.reply("+OK")
	case "LIST", "UIDL":
		if arg == "" {
			first := "+OK 0 0"
			if verb == "UIDL" {
				first = "+OK"
			}
			return ss.multi(first, nil)
		}
	}
	args := strings.Fields(arg)
	want := 1
	if verb == "TOP" {
		want = 2
	}
	if len(args) != want {
		return ss.reply(errArgument)
	}
	for i, a := range args {
		n, err := strconv.ParseUint(a, 10, 31)
		if err != nil || (i == 0 && n == 0) { // message numbers start at 1; TOP's line count may be 0
			return ss.reply(errArgument)
		}
	}
	return ss.reply(errNoSuchMessage)
}
