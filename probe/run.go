package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Default servers: Exchange Online's.
const (
	DefaultIMAPAddr = "outlook.office365.com:993"
	DefaultPOPAddr  = "outlook.office365.com:995"
	DefaultSMTPAddr = "smtp.office365.com:587"
)

// DefaultTimeout bounds an attempt whose context has no deadline. Exchange
// can take 10–20 s to refuse a login, so less turns refusals into timeouts.
const DefaultTimeout = 30 * time.Second

// Target is one mailbox account and how to reach and log in to it.
type Target struct {
	Name, User string
	// Addresses as host:port; empty means Exchange Online's default.
	IMAPAddr, POPAddr, SMTPAddr string
	// IMAPStartTLS and POPStartTLS: plaintext port plus STARTTLS/STLS
	// instead of implicit TLS.
	IMAPStartTLS, POPStartTLS bool
	// SMTPImplicitTLS: TLS from the first byte (465) instead of STARTTLS.
	SMTPImplicitTLS bool
	// TLSConfig for the server's certificate (RootCAs from --ca-file); nil
	// means the system roots.
	TLSConfig *tls.Config
	// AllowPlaintext lets credentials go over a connection without TLS.
	AllowPlaintext bool
	// Password returns the Basic password; nil when there is none.
	Password func(ctx context.Context) (string, error)
	// Token returns the XOAUTH2 access token; nil when there is none.
	Token TokenSource
	// SMTPSubmitCheck adds MAIL FROM/RCPT TO + RSET after SMTP AUTH.
	SMTPSubmitCheck bool
	// POPAuthPlain makes Basic POP use AUTH PLAIN instead of USER/PASS.
	POPAuthPlain bool
	// POPXOAUTH2OneLine sends AUTH XOAUTH2 with the initial response on the
	// command line; the default is the two-step form Exchange documents.
	POPXOAUTH2OneLine bool
}

// Addr returns the host:port for a protocol, with defaults applied.
func (t *Target) Addr(p Protocol) string {
	switch p {
	case IMAP:
		return firstNonEmpty(t.IMAPAddr, DefaultIMAPAddr)
	case POP:
		return firstNonEmpty(t.POPAddr, DefaultPOPAddr)
	case SMTP:
		return firstNonEmpty(t.SMTPAddr, DefaultSMTPAddr)
	}
	return ""
}

// Check is one protocol × mechanism login for a target.
type Check struct {
	Target    *Target
	Protocol  Protocol
	Mechanism Mechanism
}

// Run makes one attempt: a fresh connection through every stage. It never
// panics and returns by ctx's deadline (DefaultTimeout when ctx has none),
// whatever the server sends and even if a library call never returns: the
// attempt runs in its own goroutine, and one still busy abandonGrace after
// the deadline (its connection closed by then) is left behind and reported
// as a timeout.
func Run(ctx context.Context, c Check) Attempt {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	s := newSession(ctx, c)
	done := make(chan Attempt, 1)
	go func() { done <- s.run(ctx) }()
	select {
	case a := <-done:
		return a
	case <-ctx.Done():
	}
	// The deadline closes the connection (connect's AfterFunc): a library
	// blocked on it returns at once.
	grace := time.NewTimer(abandonGrace)
	defer grace.Stop()
	select {
	case a := <-done:
		return a
	case <-grace.C:
	}
	abandoned.Add(1)
	return s.abandon()
}

// abandonGrace is how long Run waits, after the deadline, for an attempt
// whose connection is closed to notice; only a library stuck on something
// other than its connection (a parser looping on buffered data) takes
// longer.
const abandonGrace = 50 * time.Millisecond

var abandoned atomic.Int64

// Abandoned counts the attempts Run gave up waiting for since the process
// started: each left a goroutine behind that a library call still holds.
func Abandoned() int64 { return abandoned.Load() }

// run is one attempt, on the goroutine Run started for it.
func (s *session) run(ctx context.Context) (a Attempt) {
	defer func() {
		if r := recover(); r != nil {
			s.fail(s.a.Stage, ErrProtocol, "", fmt.Errorf("internal error: %v", r))
		}
		a = s.finish()
	}()
	if err := s.precheck(); err != nil {
		return
	}
	var err error
	switch s.c.Protocol {
	case IMAP:
		err = s.runIMAP(ctx)
	case POP:
		err = s.runPOP(ctx)
	case SMTP:
		err = s.runSMTP(ctx)
	}
	if err == nil {
		s.a.OK = true
		s.enter(StageDone)
	}
	return
}

// abandon builds the Attempt of a run that did not return, from what other
// goroutines may read: the fields set before it started, the stage it
// reached (published by enter) and the transcript (locked).
func (s *session) abandon() Attempt {
	a := s.head
	a.Stage = s.stageNow.Load().(Stage)
	a.ErrorKind = ErrTimeout
	a.Error = fmt.Sprintf("%s: no result within the attempt's deadline; the %s client did not return after its connection was closed and was abandoned", a.Stage, s.c.Protocol)
	if err := s.guard.tripped(); err != nil {
		a.ErrorKind = ErrProtocol
		a.Error = err.Error()
		var le *LimitError
		if errors.As(err, &le) {
			a.Limit = le
		}
	}
	a.Duration = time.Since(a.Start)
	a.Transcript = s.tr.finish()
	a.Error = s.tr.scrub(a.Error)
	return a
}

// session is the state of one attempt.
type session struct {
	t        *Target
	c        Check
	a        Attempt
	tr       *transcript
	deadline time.Time
	ctx      context.Context

	stageStart time.Time
	// bound is the logout stage's earlier limit (UnixNano; 0 = none), read
	// by every probeConn of the session.
	bound     atomic.Int64
	raw       net.Conn
	stopClose func() bool
	tlsOn     bool
	failed    bool

	// guard applies the read limits to every connection of the attempt.
	guard inputGuard
	// carry is an unfinished server line handed from the line reader to
	// the next wrapped connection (see hiddenRest).
	carry []byte
	// head is the Attempt as it was before the run started and stageNow
	// the stage reached: what abandon may read while the run goes on.
	head     Attempt
	stageNow atomic.Value
}

func newSession(ctx context.Context, c Check) *session {
	t := c.Target
	if t == nil {
		t = &Target{}
	}
	now := time.Now()
	s := &session{t: t, c: c, tr: &transcript{}, ctx: ctx, stageStart: now}
	s.deadline, _ = ctx.Deadline()
	s.a = Attempt{
		Target: t.Name, User: t.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
		Server: t.Addr(c.Protocol), Start: now, Stage: StageDNS,
	}
	s.head = s.a
	s.stageNow.Store(StageDNS)
	s.guard.setStage(StageDNS)
	return s
}

func (s *session) precheck() error {
	switch {
	case s.c.Target == nil:
		return s.fail(StageDNS, ErrConfig, "", errors.New("no target"))
	case s.c.Protocol != IMAP && s.c.Protocol != POP && s.c.Protocol != SMTP:
		return s.fail(StageDNS, ErrConfig, "", fmt.Errorf("unknown protocol %q", s.c.Protocol))
	case s.c.Mechanism == Basic && s.t.Password == nil:
		return s.fail(StageDNS, ErrConfig, "", errors.New("basic: no password configured"))
	case s.c.Mechanism == XOAUTH2 && s.t.Token == nil:
		return s.fail(StageDNS, ErrConfig, "", errors.New("xoauth2: no token source configured"))
	case s.c.Mechanism != Basic && s.c.Mechanism != XOAUTH2:
		return s.fail(StageDNS, ErrConfig, "", fmt.Errorf("unknown mechanism %q", s.c.Mechanism))
	}
	return nil
}

// logoutGrace bounds the logout stage on its own: by then the login and the
// mailbox command have succeeded, and a server that never answers LOGOUT or
// QUIT must not hold a good attempt until its deadline. A var for tests.
var logoutGrace = 2 * time.Second

// enterLogout starts the logout stage under its own short bound (never past
// the attempt's deadline). Whatever logout does, the attempt has succeeded:
// callers ignore its error.
func (s *session) enterLogout() {
	s.enter(StageLogout)
	by := time.Now().Add(logoutGrace)
	if !s.deadline.IsZero() && s.deadline.Before(by) {
		by = s.deadline
	}
	s.bound.Store(by.UnixNano())
	if s.raw != nil {
		// The TLS layer reads from raw: a library that sets no deadline
		// of its own still stops here.
		s.raw.SetDeadline(by)
	}
}

// enter closes the running stage's timing and starts st.
func (s *session) enter(st Stage) {
	s.closeStage()
	s.a.Stage = st
	s.stageNow.Store(st)
	s.guard.setStage(st)
}

func (s *session) closeStage() {
	now := time.Now()
	if n := len(s.a.Timings); n > 0 && s.a.Timings[n-1].Stage == s.a.Stage {
		s.a.Timings[n-1].Duration += now.Sub(s.stageStart)
	} else {
		s.a.Timings = append(s.a.Timings, StageTiming{Stage: s.a.Stage, Duration: now.Sub(s.stageStart)})
	}
	s.stageStart = now
}

// fail ends the attempt at stage st. It returns an error for the caller's
// early return; only the first failure counts.
func (s *session) fail(st Stage, kind ErrorKind, reply string, err error) error {
	if s.failed {
		return errFailed
	}
	if s.a.Stage == StageLogout {
		// Login and mailbox command have succeeded: a goodbye that fails
		// (a hung or closed server) does not undo them.
		return errFailed
	}
	s.failed = true
	if s.a.Stage != st {
		s.enter(st)
	}
	if gerr := s.guard.tripped(); gerr != nil && kind != ErrRefused && kind != ErrConfig && kind != ErrPolicy {
		// A limit crossed or unsafe input refused: whatever the library
		// made of the read error, this is why the attempt ended.
		kind, err = ErrProtocol, gerr
		var le *LimitError
		if errors.As(gerr, &le) {
			s.a.Limit = le
		}
	}
	s.a.ErrorKind = kind
	if reply != "" {
		s.a.Reply = reply
	}
	if err != nil {
		s.a.Error = err.Error()
	}
	return errFailed
}

// errFailed tells the stage functions to stop; the details are in the
// Attempt already.
var errFailed = errors.New("attempt failed")

// kind classifies a local error, telling the attempt's own deadline apart.
func (s *session) kind(ctx context.Context, err error, def ErrorKind) ErrorKind {
	var ne net.Error
	switch {
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case !s.deadline.IsZero() && time.Until(s.deadline) < 10*time.Millisecond:
		// The connection's deadline fires with the context's; go-imap
		// flattens the error chain, so look at the clock.
		return ErrTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case def == ErrProtocol && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)):
		return ErrConnect
	}
	return def
}

// tokenKind classifies a failed token request. An answer from the endpoint
// (an OAuth error body or an HTTP status) is ErrToken; an endpoint that could
// not be reached or did not answer in time is the network's, TLS's or the
// deadline's failure, like the same failure at the mail server.
func (s *session) tokenKind(ctx context.Context, err error) ErrorKind {
	var te *TokenError
	if errors.As(err, &te) && (te.Code != "" || te.HTTPStatus != 0 || len(te.ErrorCodes) > 0) {
		return ErrToken
	}
	// A client secret, certificate or refresh-token file that cannot be
	// read: no request was made, so it is not the endpoint's refusal.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return ErrSecret
	}
	if k := s.kind(ctx, err, ErrToken); k != ErrToken {
		return k
	}
	var (
		dnsErr    *net.DNSError
		opErr     *net.OpError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
	)
	switch {
	case errors.As(err, &dnsErr):
		return ErrDNS
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return ErrTLS
	case errors.As(err, &opErr), isConnReset(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrConnect
	}
	return ErrToken
}

func isConnReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && (strings.Contains(oe.Err.Error(), "reset") || strings.Contains(oe.Err.Error(), "broken pipe"))
}

// localErr turns a library error into the Attempt's words, naming the
// deadline plainly.
func (s *session) localErr(kind ErrorKind, err error) error {
	if kind == ErrTimeout {
		return fmt.Errorf("%s: no answer within the attempt's deadline (%v)", s.a.Stage, err)
	}
	return err
}

// finish closes the connection and returns the scrubbed Attempt.
func (s *session) finish() Attempt {
	if s.stopClose != nil {
		s.stopClose()
	}
	if s.raw != nil {
		s.raw.Close()
	}
	if s.a.Stage != StageDone { // enter(StageDone) closed the last stage
		s.closeStage()
	}
	s.a.Duration = time.Since(s.a.Start)
	s.a.Transcript = s.tr.finish()
	s.a.Reply = s.tr.scrub(s.a.Reply)
	s.a.AuthReply = s.tr.scrub(s.a.AuthReply)
	s.a.Error = s.tr.scrub(s.a.Error)
	return s.a
}

// needTLS refuses to send credentials in clear unless allowed.
func (s *session) needTLS() error {
	if s.tlsOn || s.t.AllowPlaintext {
		return nil
	}
	return s.fail(StageAuth, ErrPolicy, "", errors.New("refusing to send credentials over a connection without TLS (allow_plaintext is off)"))
}

// credentials fetches the password or token at the right stage and
// registers them for scrubbing.
func (s *session) password(ctx context.Context) (string, error) {
	pw, err := s.t.Password(ctx)
	if err != nil {
		return "", s.fail(StageAuth, ErrSecret, "", fmt.Errorf("password: %w", err))
	}
	s.tr.addSecret(pw)
	return pw, nil
}

func (s *session) token(ctx context.Context) (string, error) {
	s.enter(StageToken)
	tok, err := s.t.Token.Token(ctx)
	if err != nil {
		info := &TokenInfo{}
		var te *TokenError
		if errors.As(err, &te) {
			info.Flow, info.Error, info.ErrorCodes, info.Description = te.Flow, te.Code, te.ErrorCodes, te.Description
		}
		s.a.Token = info
		var le *LimitError
		if errors.As(err, &le) {
			// The endpoint's answer was longer than anything a token
			// endpoint sends: its body was cut at the limit.
			s.a.Limit = le
			return "", s.fail(StageToken, ErrProtocol, "", err)
		}
		return "", s.fail(StageToken, s.tokenKind(ctx, err), "", err)
	}
	s.tr.addSecret(tok.AccessToken)
	s.a.Token = Inspect(tok, s.c.Protocol, s.t.User, time.Now())
	return tok.AccessToken, nil
}
