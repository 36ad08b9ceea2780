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
	"strconv"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/sasl"
)

// Email sends notifications through an SMTP submission server with
// go-smtp's client: STARTTLS (or implicit TLS), then, when a user is
// configured, SASL XOAUTH2 with an app's token (Token set), or AUTH PLAIN,
// or AUTH LOGIN where the server offers LOGIN but not PLAIN — Exchange
// Online's smtp.office365.com offers only LOGIN and XOAUTH2
// (exo-responses.md, EHLO after STARTTLS). Credentials never cross a
// connection without TLS unless AllowPlaintext is set.
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
	// Token, when set, makes the sink authenticate as Username with SASL
	// XOAUTH2 and the source's access token (an app's client-credentials
	// token with SMTP.SendAsApp, shared with the probes' token cache).
	Token probe.TokenSource
	From  string
	To    []string
	Lang  string
	// Hello is the EHLO name (default "localhost").
	Hello string
}

var errNoTLS = errors.New("server offers no STARTTLS and allow_plaintext is off")

// mechError: the server does not offer the SASL mechanism the sink needs.
// It is a configuration problem, so it is not retried.
type mechError struct{ want, offered string }

func (e *mechError) Error() string {
	offered := e.offered
	if offered == "" {
		offered = "no AUTH at all"
	}
	return fmt.Sprintf("server does not offer AUTH %s (it offers %s)", e.want, offered)
}

// tokenErr: the sink's access token could not be had; no SMTP command
// carried credentials.
type tokenErr struct{ err error }

func (e *tokenErr) Error() string { return "XOAUTH2 access token: " + e.err.Error() }
func (e *tokenErr) Unwrap() error { return e.err }

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
	return e.failAs("", err)
}

// failAs reports err; mech names the AUTH mechanism when err is the
// server's answer to it, so a refused token reads as such.
func (e *Email) failAs(mech string, err error, secrets ...Secret) (bool, error) {
	secrets = append(secrets, e.Password)
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := ReasonRejected
		retry := se.Code/100 == 4
		if retry {
			r = ReasonOther
		}
		what := "SMTP"
		if mech != "" {
			what = "AUTH " + mech + " refused: SMTP"
		}
		code := strconv.Itoa(se.Code)
		if ec := se.EnhancedCode; ec[0] > 0 {
			code += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
		}
		return retry, &DeliveryError{Reason: r, Status: se.Code,
			Msg: fmt.Sprintf("%s: %s %s %s", e.Name, what, code, scrub(se.Message, secrets...))}
	}
	var me *mechError
	if errors.Is(err, errNoTLS) || errors.As(err, &me) || errors.As(err, new(errSessionTooLarge)) {
		return false, &DeliveryError{Reason: ReasonRejected, Msg: e.Name + ": " + err.Error()}
	}
	var te *tokenErr
	if errors.As(err, &te) {
		// A refused token request (bad secret, missing consent) will not
		// heal by retrying now; a network error reaching the token
		// endpoint may.
		var pe *probe.TokenError
		retry := !errors.As(err, &pe) || pe.HTTPStatus == 0 || pe.HTTPStatus >= 500 || pe.HTTPStatus == 429
		r := ReasonRejected
		if retry {
			r = ReasonConnection
		}
		return retry, &DeliveryError{Reason: r, Msg: e.Name + ": " + scrub(err.Error(), secrets...)}
	}
	return true, transportError(e.Name, err, secrets...)
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
		client, mech, tok, err := e.saslClient(ctx, c)
		if err != nil {
			return e.fail(err)
		}
		if err := c.Auth(client); err != nil {
			return e.failAs(mech, err, tok)
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
	conn = capSession(conn)
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

// saslClient picks the mechanism: XOAUTH2 when the sink has a token
// source, else PLAIN, else LOGIN — by what the server's EHLO offers, so a
// mismatch is a clear error before any credential is sent. tok is the
// access token, returned so that error text can be scrubbed of it.
func (e *Email) saslClient(ctx context.Context, c *smtp.Client) (client gosasl.Client, mech string, tok Secret, err error) {
	_, params := c.Extension("AUTH")
	offered := map[string]bool{}
	for _, m := range strings.Fields(strings.ToUpper(params)) {
		offered[m] = true
	}
	if e.Token != nil {
		if !offered["XOAUTH2"] {
			return nil, "", Secret{}, &mechError{want: "XOAUTH2", offered: params}
		}
		t, err := e.Token.Token(ctx)
		if err != nil {
			return nil, "", Secret{}, &tokenErr{err}
		}
		return sasl.NewXOAUTH2Client(e.Username, t.AccessToken), "XOAUTH2", NewSecret(t.AccessToken), nil
	}
	switch {
	case offered["PLAIN"]:
		return gosasl.NewPlainClient("", e.Username, e.Password.Value()), "PLAIN", Secret{}, nil
	case offered["LOGIN"]:
		return sasl.NewLoginClient(e.Username, e.Password.Value()), "LOGIN", Secret{}, nil
	}
	return nil, "", Secret{}, &mechError{want: "PLAIN or LOGIN", offered: params}
}

func (e *Email) hello() string {
	if e.Hello == "" {
		return "localhost"
	}
	return e.Hello
}
