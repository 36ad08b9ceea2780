package smtpd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// go-smtp's own client: STARTTLS, AUTH, a message; then refusals as the
// client reports them.
func TestGoSMTPClient(t *testing.T) {
	auth := &fakeAuth{era: tenant.Era2026, basic: tenant.VerdictOK, bearer: tenant.VerdictOK}
	srv, addr := startServer(t, auth)
	for _, mech := range []string{"login", "xoauth2"} {
		t.Run(mech, func(t *testing.T) {
			c, err := gosmtp.DialStartTLS(addr, getPKI(t).client())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if ok, params := c.Extension("AUTH"); !ok || params != "LOGIN XOAUTH2" {
				t.Fatalf("AUTH extension %v %q", ok, params)
			}
			a := sasl.NewLoginClient("user@contoso.com", "pw")
			if mech == "xoauth2" {
				a = sasl.NewXOAUTH2Client("user@contoso.com", "tok")
			}
			if err := c.Auth(a); err != nil {
				t.Fatal(err)
			}
			before := srv.Delivered()
			if err := c.SendMail("user@contoso.com", []string{"x@example.org"}, strings.NewReader("Subject: t\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
			if srv.Delivered() != before+1 {
				t.Fatalf("delivered %d, want %d", srv.Delivered(), before+1)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGoSMTPClientRefusal(t *testing.T) {
	auth := &fakeAuth{era: tenant.Era2026, basic: tenant.VerdictSMTPDisabledTenant, bearer: tenant.VerdictTokenRejected}
	_, addr := startServer(t, auth)
	c, err := gosmtp.DialStartTLS(addr, getPKI(t).client())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Auth(sasl.NewLoginClient("user@contoso.com", "pw"))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 || !strings.Contains(se.Message, "SmtpClientAuthentication is disabled for the Tenant.") {
		t.Fatalf("login: %v", err)
	}
	// The stray "*" was tolerated: the session goes on.
	err = c.Auth(sasl.NewXOAUTH2Client("user@contoso.com", "tok"))
	if !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 3}) {
		t.Fatalf("xoauth2: %v", err)
	}
	if err := c.Mail("user@contoso.com", nil); !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("mail: %v", err)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("noop: %v", err)
	}
}

func TestNoImplicitTLS(t *testing.T) {
	srv := NewServer(Config{Auth: &fakeAuth{}, TLS: getPKI(t).server})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln, true); err == nil {
		t.Fatal("Serve with implicit TLS succeeded")
	}
}

func TestCloseEndsSessions(t *testing.T) {
	srv := NewServer(Config{Auth: &fakeAuth{}, TLS: getPKI(t).server})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, false) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	label, _, _ := strings.Cut(srv.Host(), ".")
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("220 "+label+".outlook.office365.com Microsoft ESMTP MAIL Service ready at ")) {
		t.Fatalf("greeting %q %v (host %s)", buf[:n], err, srv.Host())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if rest, err := io.ReadAll(c); len(rest) != 0 || (err != nil && !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("after Close: %q %v", rest, err)
	}
}
