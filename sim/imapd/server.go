// Package imapd is the emulator's IMAP4 server: Exchange Online's IMAP
// service (outlook.office365.com:993 with implicit TLS, :143 with STARTTLS)
// as clients see it — greeting, capability lists per era and every login
// reply word for word (exo-responses.md §1b, §2) — over an always-empty
// mailbox. The decisions come from an Authenticator (the emulated tenant);
// this package only turns them into Exchange's words.
//
// Why the protocol framing is ours and not go-imap v2's imapserver: that
// server hard-codes exactly the lines this emulator exists to reproduce.
// Its greeting is always "* OK [CAPABILITY ...] IMAP server ready" (Exchange
// sends no CAPABILITY code and its own sentence), it computes the capability
// list itself (adding LITERAL-, ENABLE, UTF8=ACCEPT, never the IMAP4 atom,
// in its own order), answers logins with "OK [CAPABILITY ...] Logged in" and
// "... authentication successful", LOGOUT with "* BYE Logging out", tagged
// successes as "X completed" without Exchange's full stop, wrong-state
// commands with "BAD [CLIENTBUG] ...", and drops the connection after one
// unknown pre-auth command. Rewriting its output on the wire would need a
// second IMAP parser to know which line answers what, and STARTTLS puts the
// library's writes behind a tls.Conn the wrapper cannot see. The command set
// an emulated login needs is small (CAPABILITY, NOOP, ID, STARTTLS, LOGIN,
// AUTHENTICATE with SASL-IR, NAMESPACE, LIST/LSUB, SELECT/EXAMINE, STATUS,
// IDLE, LOGOUT), so it is written here; go-sasl's PLAIN server and our
// XOAUTH2 server do the SASL part.
package imapd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/exoprobe/exoprobe/sim/internal/tcpserve"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Authenticator decides logins; *tenant.Tenant implements it.
type Authenticator interface {
	AuthenticateBasic(proto tenant.Protocol, user, password string) tenant.Verdict
	AuthenticateBearer(proto tenant.Protocol, user, token string) tenant.Verdict
	Era() tenant.Era
	// BasicAllowed is false while Basic for IMAP is retired (always, in
	// real Exchange Online; the emulator can switch the retirement off).
	BasicAllowed(proto tenant.Protocol) bool
}

// Defaults for Config's zero values. The timeouts are Exchange's IMAP4
// defaults (Get-ImapSettings: PreAuthenticatedConnectionTimeout 60 s,
// AuthenticatedConnectionTimeout 1800 s).
const (
	DefaultPreAuthTimeout = 60 * time.Second
	DefaultAuthTimeout    = 30 * time.Minute
	DefaultMaxLineLength  = 64 << 10
	maxLiteral            = 64 << 10
)

// Config configures a Server.
type Config struct {
	// Auth decides every login. Required.
	Auth Authenticator
	// TLS is used for implicit TLS and STARTTLS.
	TLS *tls.Config
	// Host is the backend FQDN shown (UTF-16LE, base64) in the greeting;
	// a plausible one is generated when empty.
	Host   string
	Logger *slog.Logger
	// PreAuthTimeout and AuthTimeout bound how long a client may stay idle
	// before and after login.
	PreAuthTimeout time.Duration
	AuthTimeout    time.Duration
	// MaxLineLength bounds one command line (bytes). It must hold a SASL-IR
	// XOAUTH2 blob: a base64'd Entra access token is 2-8 KiB.
	MaxLineLength int
}

// Server serves IMAP on any number of listeners.
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
		log:      cfg.Logger.With("component", "imapd"),
	}
}

// Host is the backend FQDN the server names in its greeting.
func (s *Server) Host() string { return s.cfg.Host }

// HostTag encodes a host name as Exchange's greetings do: base64 of its
// UTF-16LE form.
func HostTag(host string) string { return tcpserve.HostTag(host) }

// RandomHost returns a backend name shaped like Exchange Online's IMAP
// backends ("SI2PR01CA0042.apcprd01.prod.exchangelabs.com").
func RandomHost() string { return tcpserve.RandomHost(tcpserve.SuffixExchangeLabs) }

// Serve accepts connections on ln until Close. With implicitTLS every
// connection starts with a TLS handshake (port 993); without, it starts in
// clear and offers STARTTLS (port 143). It returns nil after Close.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		return errors.New("imapd: implicit TLS needs Config.TLS")
	}
	err := s.conns.Serve(ln, func(c net.Conn) { s.handle(c, implicitTLS) })
	if errors.Is(err, tcpserve.ErrClosed) {
		return nil
	}
	return fmt.Errorf("imapd: accept: %w", err)
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

var _ Authenticator = (*tenant.Tenant)(nil)
