package alerts

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Email sends notifications through an SMTP submission server with
// go-smtp's client: STARTTLS (or implicit TLS), then AUTH PLAIN when a user
// is configured. Credentials never cross a connection without TLS unless
// AllowPlaintext is set.
type Email struct {
	Name string
	// Addr is host:port of the submission server (587 STARTTLS, 465
	// implicit TLS).
	Addr        string
	ImplicitTLS bool
	// TLSConfig trusts the server (nil: system roots, ServerName from Addr).
	TLSConfig *tls.Config
	// AllowPlaintext permits a session (and AUTH) without TLS when the
	// server offers no STARTTLS. Off by default.
	AllowPlaintext bool
	Username       string
	Password       Secret
	From           string
	To             []string
	Lang           string
	// Hello is the EHLO name (default "localhost").
	Hello string
}

var errNoTLS = errors.New("server offers no STARTTLS and allow_plaintext is off")

// Message renders one notification as an RFC 5322 message. Its Message-ID
// derives from the notification id, so mail systems that deduplicate by
// Message-ID drop a copy sent twice.
func (e *Email) Message(n *Notification, now time.Time) []byte {
	c := Render(n, e.Lang)
	var b bytes.Buffer
	host := "exoprobe.invalid"
	if i := strings.LastIndexByte(e.From, '@'); i >= 0 {
		host = e.From[i+1:]
	}
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", e.From)
	hdr("To", strings.Join(e.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", c.Title))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.ID+"@"+host+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("X-Exoprobe-Kind", string(n.Kind))
	hdr("X-Exoprobe-Group", mime.QEncoding.Encode("utf-8", n.GroupKey))
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(c.Title+"\n\n"+c.Text(), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

func (e *Email) Notify(ctx context.Context, ns []Notification) (bool, error) {
	for i := range ns {
		if retry, err := e.send(ctx, e.Message(&ns[i], time.Now())); err != nil {
			return retry, err
		}
	}
	return false, nil
}

func (e *Email) fail(err error) (bool, error) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := ReasonRejected
		retry := se.Code/100 == 4
		if retry {
			r = ReasonOther
		}
		return retry, &DeliveryError{Reason: r, Status: se.Code,
			Msg: fmt.Sprintf("%s: SMTP %d %s", e.Name, se.Code, scrub(se.Message, e.Password))}
	}
	if errors.Is(err, errNoTLS) {
		return false, &DeliveryError{Reason: ReasonRejected, Msg: e.Name + ": " + err.Error()}
	}
	return true, transportError(e.Name, err, e.Password)
}

func (e *Email) send(ctx context.Context, msg []byte) (bool, error) {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return false, &DeliveryError{Reason: ReasonOther, Msg: e.Name + ": smtp address must be host:port"}
	}
	tc := e.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	c, secure, err := e.dial(ctx, tc, true)
	if err != nil {
		return e.fail(err)
	}
	defer c.Close()
	if e.Username != "" {
		if !secure && !e.AllowPlaintext {
			return e.fail(errNoTLS)
		}
		if err := c.Auth(gosasl.NewPlainClient("", e.Username, e.Password.Value())); err != nil {
			return e.fail(err)
		}
	}
	if err := c.Mail(e.From, nil); err != nil {
		return e.fail(err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to, nil); err != nil {
			return e.fail(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.fail(err)
	}
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return e.fail(err)
	}
	if err := w.Close(); err != nil {
		return e.fail(err)
	}
	_ = c.Quit()
	return false, nil
}

// dial opens the session: implicit TLS, or STARTTLS, or — only with
// AllowPlaintext and a server that offers no STARTTLS — plaintext. go-smtp
// has no public STARTTLS on an open client, so probing for the extension
// costs a second connection in the plaintext-allowed case only.
func (e *Email) dial(ctx context.Context, tc *tls.Config, probe bool) (c *smtp.Client, secure bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return nil, false, err
	}
	// go-smtp takes no context: a deadline from ctx bounds the session,
	// and closing the connection on cancel unblocks it.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	switch {
	case e.ImplicitTLS:
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, false, err
		}
		return smtp.NewClient(tconn), true, nil
	case !e.AllowPlaintext:
		c, err := smtp.NewClientStartTLS(conn, tc)
		if err != nil {
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				err = errNoTLS
			}
			return nil, false, err
		}
		return c, true, nil
	}
	c = smtp.NewClient(conn)
	if err := c.Hello(e.hello()); err != nil {
		c.Close()
		return nil, false, err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && probe {
		c.Close()
		e2 := *e
		e2.AllowPlaintext = false
		return e2.dial(ctx, tc, false)
	}
	return c, false, nil
}

func (e *Email) hello() string {
	if e.Hello == "" {
		return "localhost"
	}
	return e.Hello
}
