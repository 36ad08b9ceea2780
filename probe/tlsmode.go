package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// A plain-text greeting that never comes may be a slow server, or a server
// that speaks TLS from the first byte and waits for our ClientHello while
// we wait for its greeting: both ends wait until the deadline, whatever the
// port. To tell them apart the greeting wait ends a little before the
// attempt's deadline, and the time left tries a TLS handshake to the same
// address on a new connection (no credentials, closed at once). An answer
// in TLS is evidence that the configured mode does not match the server
// (Attempt.TLSMode), which diagnose names tls_mode_mismatch on any port.

// greetingReserve is the part of the time left kept for the TLS check after
// a plain-text greeting that does not come: a fifth, at most 2 s, and none
// when less than 100 ms would be left for it.
func greetingReserve(left time.Duration) time.Duration {
	r := min(left/5, 2*time.Second)
	if r < 100*time.Millisecond {
		return 0
	}
	return r
}

// plainGreeting runs read, the greeting read on the plain-text connection
// raw, with the wait cut short as above; when nothing at all arrived, it
// checks whether the server speaks TLS first.
func (s *session) plainGreeting(ctx context.Context, raw net.Conn, read func() error) error {
	var reserve time.Duration
	if !s.deadline.IsZero() {
		reserve = greetingReserve(time.Until(s.deadline))
	}
	if reserve > 0 {
		_ = raw.SetReadDeadline(s.deadline.Add(-reserve))
	}
	err := read()
	if reserve > 0 {
		_ = raw.SetReadDeadline(s.deadline)
	}
	if err == nil || ctx.Err() != nil || s.guard.stageBytes() > 0 {
		return err
	}
	if s.tlsFirst(ctx) {
		s.a.TLSMode = ServerTLSFirst
	}
	return err
}

// tlsFirst reports whether a TLS handshake to the attempt's server is
// answered in TLS: a completed handshake, a certificate we do not trust, or
// a TLS alert all come from a TLS server.
func (s *session) tlsFirst(ctx context.Context) bool {
	if s.raw == nil {
		return false
	}
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", s.raw.RemoteAddr().String())
	if err != nil {
		return false
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	cfg := &tls.Config{}
	if s.t.TLSConfig != nil {
		cfg = s.t.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(s.a.Server)
	}
	err = tls.Client(c, cfg).HandshakeContext(ctx)
	var (
		verr  *tls.CertificateVerificationError
		alert tls.AlertError
	)
	return err == nil || errors.As(err, &verr) || errors.As(err, &alert)
}

// plainTextOnTLS reports whether a failed TLS handshake read plain text
// where the server's first TLS record belonged (a greeting: "* OK",
// "+OK", "220 "): the server starts in plain text.
func plainTextOnTLS(err error) bool {
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		return false
	}
	for _, b := range rh.RecordHeader {
		if b != '\r' && b != '\n' && b != '\t' && (b < 0x20 || b > 0x7e) {
			return false
		}
	}
	return true
}
