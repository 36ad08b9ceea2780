package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// probeConn is the connection the libraries see. It records the plaintext
// conversation into the transcript and keeps every deadline within the
// attempt's: go-smtp and go-imap set their own (minutes long) and reset them
// to "none" after each command, which would let a hung server outlive the
// attempt.
type probeConn struct {
	net.Conn
	deadline time.Time
	// bound, when set (UnixNano), is an earlier limit than deadline: the
	// short grace of the logout stage.
	bound *atomic.Int64
	tr    *transcript
	// hidden is read before the wire and not recorded: the synthetic
	// greeting handed to a library after we did STARTTLS ourselves.
	hidden io.Reader
	// blankEmptySASL, set around an IMAP AUTHENTICATE, sends go-imap's
	// empty continuation response "=" as the empty line RFC 3501 §6.2.2
	// asks for. go-imap always encodes an empty response as "=" (RFC 4959's
	// form for an empty initial response on the command line); Dovecot
	// answers it with "BAD Invalid base64 data in continued response"
	// instead of its real refusal after an XOAUTH2 error challenge.
	blankEmptySASL atomic.Bool

	// guard counts server bytes against the attempt's limits; nil reads
	// the wire as it comes (tests of the transcript alone).
	guard *inputGuard
	imap  bool // refuse capability data go-imap cannot parse
	// pending holds what was read and not yet handed over: complete lines
	// up to ready, then at most one unfinished line (bounded by
	// MaxLineBytes through guard).
	pending []byte
	ready   int
	chunk   [4096]byte
	// linesOut is set once a complete, accepted line was handed over.
	linesOut atomic.Bool
}

// Read hands the library whole lines only. A line that the server leaves
// unfinished at a timeout or EOF is never delivered, so no parser can take
// a cut-off reply for a complete one (bufio's ReadLine and textproto return
// a partial last line without error). Every byte is counted against the
// attempt's limits before it is buffered, and IMAP capability data that
// would send go-imap into its endless loop is refused here, before the
// library sees it.
func (c *probeConn) Read(b []byte) (int, error) {
	if c.hidden != nil {
		n, err := c.hidden.Read(b)
		if err == io.EOF {
			c.hidden, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	if c.guard == nil {
		return c.readRaw(b)
	}
	for c.ready == 0 {
		if err := c.guard.tripped(); err != nil {
			return 0, err
		}
		n, err := c.readRaw(c.chunk[:])
		if n > 0 {
			if gerr := c.guard.consume(c.chunk[:n]); gerr != nil {
				c.pending = nil
				return 0, gerr
			}
			start := len(c.pending)
			c.pending = append(c.pending, c.chunk[:n]...)
			if i := bytes.LastIndexByte(c.pending[start:], '\n'); i >= 0 {
				c.ready = start + i + 1
				if c.imap {
					if gerr := c.checkIMAP(c.pending[:c.ready]); gerr != nil {
						c.pending, c.ready = nil, 0
						return 0, gerr
					}
				}
			}
		}
		if err != nil && c.ready == 0 {
			if err == io.EOF && len(c.pending) > 0 {
				err = io.ErrUnexpectedEOF // the last line never ended
			}
			return 0, err
		}
	}
	c.linesOut.Store(true)
	n := copy(b, c.pending[:c.ready])
	c.pending = c.pending[:copy(c.pending, c.pending[n:])]
	c.ready -= n
	return n, nil
}

// readRaw reads from the wire and records what came.
func (c *probeConn) readRaw(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.tr != nil {
		c.tr.write(dirServer, b[:n])
	}
	return n, err
}

// checkIMAP looks at the complete lines in b, all of them new.
func (c *probeConn) checkIMAP(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if imapCapabilityParen(b[:i]) {
			return c.guard.refuse(&LimitError{Name: LimitIMAPCapabilitySyntax})
		}
		b = b[i+1:]
	}
	return nil
}

func (c *probeConn) Write(b []byte) (int, error) {
	if c.blankEmptySASL.Load() && string(b) == "=\r\n" {
		if _, err := c.write([]byte("\r\n")); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.write(b)
}

func (c *probeConn) write(b []byte) (int, error) {
	// Recorded before sending: the reply can be read (and recorded by the
	// library's reader goroutine) before Write returns.
	if c.tr != nil {
		c.tr.write(dirClient, b)
	}
	return c.Conn.Write(b)
}

func (c *probeConn) clamp(t time.Time) time.Time {
	limit := c.deadline
	if c.bound != nil {
		if b := c.bound.Load(); b != 0 {
			if bt := time.Unix(0, b); limit.IsZero() || bt.Before(limit) {
				limit = bt
			}
		}
	}
	if limit.IsZero() {
		return t
	}
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func (c *probeConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *probeConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}
func (c *probeConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// dialer opens the raw TCP connection of one attempt. Tests replace it.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// connect resolves and dials addr under ctx, ties the connection's life to
// ctx (closed when ctx ends, so no library call can block past it) and
// returns a stop function that must be called when the attempt is over.
func (s *session) connect(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, s.fail(StageDNS, ErrConfig, "", err)
	}
	s.enter(StageDNS)
	ips := []string{host}
	if net.ParseIP(host) == nil {
		ips, err = net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, s.fail(StageDNS, s.kind(ctx, err, ErrDNS), "", err)
		}
	}
	s.enter(StageConnect)
	d := net.Dialer{}
	var conn net.Conn
	for _, ip := range ips {
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, s.fail(StageConnect, s.kind(ctx, err, ErrConnect), "", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	s.raw = conn
	s.stopClose = context.AfterFunc(ctx, func() { conn.Close() })
	return conn, nil
}

// wrap returns the recording, deadline-clamping view of c.
func (s *session) wrap(c net.Conn, hidden string) *probeConn {
	pc := &probeConn{Conn: c, deadline: s.deadline, bound: &s.bound, tr: s.tr, guard: &s.guard, imap: s.c.Protocol == IMAP}
	if hidden != "" {
		pc.hidden = bytes.NewReader([]byte(hidden))
	}
	if s.carry != nil {
		pc.pending, s.carry = s.carry, nil
	}
	return pc
}

// handshake runs the TLS client handshake on c (implicit TLS or after
// STARTTLS) and records the version.
func (s *session) handshake(ctx context.Context, c net.Conn, stage Stage) (*tls.Conn, error) {
	cfg := &tls.Config{}
	if s.t.TLSConfig != nil {
		cfg = s.t.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(s.a.Server)
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if plainTextOnTLS(err) {
			s.a.TLSMode = ServerPlainText
		}
		return nil, s.fail(stage, s.kind(ctx, err, ErrTLS), "", err)
	}
	s.a.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
	s.tlsOn = true
	return tc, nil
}
