// Package smtpd is the emulator's SMTP submission server: Exchange
// Online's smtp.office365.com:587 as clients see it — greeting, EHLO lists
// before and after STARTTLS, AUTH LOGIN and XOAUTH2 (and nothing else) only
// after STARTTLS, and every reply word for word, with Exchange's trailing
// "[HOST time SESSION]" bracket (exo-responses.md §1a, §2). Accepted mail is
// counted and discarded. The decisions come from an Authenticator (the
// emulated tenant); this package only turns them into Exchange's words.
//
// Why the protocol framing is ours and not go-smtp's server: go-smtp
// hard-codes the lines this emulator exists to reproduce. Its greeting is
// "220 <domain> ESMTP Service Ready", its EHLO reply is "Hello <domain>" with
// the extensions in its own order, STARTTLS answers "220 2.0.0 Ready to start
// TLS", a successful AUTH "235 2.0.0 Authentication succeeded", AUTH in
// clear "523 5.7.10 TLS is required", and MAIL/RCPT/DATA/RSET/QUIT have
// fixed texts of their own; only errors returned by the Session can be
// chosen. A conn wrapper could rewrite the greeting, but after STARTTLS
// go-smtp writes into a *tls.Conn it builds over that wrapper, so nothing
// after the handshake — where every AUTH reply is — can be rewritten short
// of terminating TLS twice. Submission needs a dozen commands, so they are
// written here on bufio/net/textproto; the SASL exchanges use our sasl
// package's LOGIN and XOAUTH2 servers (go-sasl interfaces).
package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/exoprobe/exoprobe/sim/internal/tcpserve"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Authenticator decides logins; *tenant.Tenant implements it.
type Authenticator interface {
	AuthenticateBasic(proto tenant.Protocol, user, password string) tenant.Verdict
	AuthenticateBearer(proto tenant.Protocol, user, token string) tenant.Verdict
	Era() tenant.Era
}

// Defaults for Config's zero values. The idle timeout is Exchange's
// receive connector default (ConnectionInactivityTimeout 5 minutes).
const (
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultMaxLineLength = 64 << 10
)

// Config configures a Server.
type Config struct {
	// Auth decides every login. Required.
	Auth Authenticator
	// TLS is used for STARTTLS.
	TLS *tls.Config
	// Host is the backend FQDN named in reply brackets; its first label
	// names the frontend in the greeting and EHLO
	// ("<label>.outlook.office365.com"). Generated when empty.
	Host   string
	Logger *slog.Logger
	// IdleTimeout bounds how long a client may stay silent.
	IdleTimeout time.Duration
	// MaxLineLength bounds one command line (bytes). It must hold an AUTH
	// XOAUTH2 initial response: a base64'd Entra access token is 2-8 KiB.
	MaxLineLength int
}

// Server serves SMTP submission on any number of listeners.
type Server struct {
	cfg Config
	log *slog.Logger

	// conns runs the accept loop and tracks live connections.
	conns tcpserve.Server

	delivered atomic.Int64
}

// Delivered counts the messages accepted (and discarded) so far.
func (s *Server) Delivered() int64 { return s.delivered.Load() }

// NewServer returns a server; zero Config fields take the defaults above.
func NewServer(cfg Config) *Server {
	if cfg.Host == "" {
		cfg.Host = RandomHost()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = DefaultMaxLineLength
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger.With("component", "smtpd"),
	}
}

// Host is the backend FQDN the server names in its reply brackets.
func (s *Server) Host() string { return s.cfg.Host }

// RandomHost returns a backend name shaped like Exchange Online's SMTP
// backends ("MN2PR05CA0004.namprd05.prod.outlook.com").
func RandomHost() string { return tcpserve.RandomHost(tcpserve.SuffixOutlook) }

// Serve accepts connections on ln until Close. Connections start in clear
// and offer STARTTLS (port 587). implicitTLS must be false: Exchange Online
// offers no implicit-TLS submission port ("we only support STARTTLS for SMTP
// connections", §2). It returns nil after Close.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS {
		ln.Close()
		return errors.New("smtpd: Exchange Online has no implicit-TLS SMTP port; use STARTTLS")
	}
	err := s.conns.Serve(ln, func(c net.Conn) { s.handle(c) })
	if errors.Is(err, tcpserve.ErrClosed) {
		return nil
	}
	return fmt.Errorf("smtpd: accept: %w", err)
}

// Close stops every listener and connection and waits for their goroutines.
func (s *Server) Close() error {
	return s.conns.Close()
}

func (s *Server) handle(c net.Conn) {
	ss := newSession(s, c)
	ss.serve()
}
