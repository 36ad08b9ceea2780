package imapd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.uber.org/goleak"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// go-imap v2's own client, over implicit TLS and STARTTLS, with XOAUTH2 and
// LOGIN: the emulator must be a server real clients get along with.
func TestGoIMAPClient(t *testing.T) {
	for _, starttls := range []bool{false, true} {
		t.Run(map[bool]string{false: "tls", true: "starttls"}[starttls], func(t *testing.T) {
			auth := &fakeAuth{era: tenant.Era2026, bearer: tenant.VerdictOK}
			_, tlsAddr, plainAddr := startServer(t, auth)
			opts := &imapclient.Options{TLSConfig: getPKI(t).client()}
			var c *imapclient.Client
			var err error
			if starttls {
				c, err = imapclient.DialStartTLS(plainAddr, opts)
			} else {
				c, err = imapclient.DialTLS(tlsAddr, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !caps.Has(imap.AuthCap(sasl.XOAUTH2)) || !caps.Has(imap.CapLoginDisabled) || caps.Has(imap.AuthCap("PLAIN")) {
				t.Fatalf("caps %v", caps)
			}
			if err := c.Authenticate(sasl.NewXOAUTH2Client("user@contoso.com", "tok")); err != nil {
				t.Fatal(err)
			}
			sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.NumMessages != 0 || sel.UIDValidity != 14 || sel.UIDNext != 1 {
				t.Fatalf("select %+v", sel)
			}
			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			if !strings.Contains(strings.Join(names, ","), "Sent Items") {
				t.Fatalf("list %v", names)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGoIMAPClientRefusals(t *testing.T) {
	auth := &fakeAuth{era: tenant.Era2023, basic: tenant.VerdictBadCredentials, bearer: tenant.VerdictNotConnected}
	_, addr, _ := startServer(t, auth)
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: getPKI(t).client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login("user@contoso.com", "wrong").Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Text != "LOGIN failed." {
		t.Fatalf("login: %v", err)
	}
	if err := c.Authenticate(sasl.NewXOAUTH2Client("user@contoso.com", "tok")); err != nil {
		t.Fatalf("xoauth2: %v", err)
	}
	_, err = c.Select("INBOX", nil).Wait()
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeBad || ie.Text != "User is authenticated but not connected." {
		t.Fatalf("select: %v", err)
	}
}

// Close ends live sessions and Serve returns.
func TestCloseEndsSessions(t *testing.T) {
	srv := NewServer(Config{Auth: &fakeAuth{era: tenant.Era2026}, TLS: getPKI(t).server})
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
	if err != nil || !bytes.HasPrefix(buf[:n], []byte(greetingPrefix)) {
		t.Fatalf("greeting %q %v", buf[:n], err)
	}
	if !strings.Contains(string(buf[:n]), HostTag(srv.Host())) {
		t.Fatalf("generated host %q not in greeting", srv.Host())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read after Close: %v", err)
	}
	if err := srv.Serve(ln, false); err != nil {
		t.Fatalf("Serve on a closed server: %v", err)
	}
}
