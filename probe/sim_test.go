package probe_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/probe/token"
	"github.com/exoprobe/exoprobe/sim"
)

// simTarget starts the emulator and returns its demo mailbox as a Target
// with client-credentials XOAUTH2 (secret) through MSAL.
func simTarget(t testing.TB) (*sim.Sim, *probe.Target) {
	t.Helper()
	s, err := sim.Start(context.Background(), sim.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ep := s.Endpoints()
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: pool}
	fetch, err := token.ClientCredentials(token.Entra{
		Authority: ep.Authority, ClientID: ep.Demo.ClientID, ClientSecret: ep.Demo.ClientSecret,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pw := ep.Demo.Password
	return s, &probe.Target{
		Name: "demo", User: ep.Demo.User,
		IMAPAddr: ep.IMAP.TLS, POPAddr: ep.POP.TLS, SMTPAddr: ep.SMTP.StartTLS,
		TLSConfig: tlsCfg,
		Password:  func(context.Context) (string, error) { return pw, nil },
		Token:     token.NewCached(fetch),
	}
}

func run(t *testing.T, tg *probe.Target, p probe.Protocol, m probe.Mechanism) probe.Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return probe.Run(ctx, probe.Check{Target: tg, Protocol: p, Mechanism: m})
}

func exec(t *testing.T, s *sim.Sim, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if out, err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%s: %v %s", l, err, out)
		}
	}
}

// Corpus texts (exo-responses.md), without the per-server bracket.
const (
	textI12 = "NO Basic authentication is disabled."
	textP8  = "-ERR Basic authentication is disabled"
	textS4  = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	textS6  = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."
	textS10 = "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."
	textI6  = "BAD User is authenticated but not connected."
	textS2  = "235 2.7.0 Authentication successful"
	textI4  = "OK AUTHENTICATE completed."
	textP5  = "+OK User successfully authenticated."
)

// reply strips the IMAP tag and Exchange's trailing "[HOST ...]".
func reply(s string) string {
	if i := strings.LastIndex(s, " ["); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if len(s) > 0 && s[0] == 'T' {
		if _, rest, ok := strings.Cut(s, " "); ok {
			s = rest
		}
	}
	return s
}

func TestSimEveryProtocolAndMechanism(t *testing.T) {
	_, tg := simTarget(t)
	{
		cases := []struct {
			p         probe.Protocol
			m         probe.Mechanism
			ok        bool
			authReply string
		}{
			// The demo tenant is in the 2026 era: Basic IMAP/POP retired.
			{probe.IMAP, probe.Basic, false, textI12},
			{probe.IMAP, probe.XOAUTH2, true, textI4},
			{probe.POP, probe.Basic, false, textP8},
			{probe.POP, probe.XOAUTH2, true, textP5},
			{probe.SMTP, probe.Basic, true, textS2},
			{probe.SMTP, probe.XOAUTH2, true, textS2},
		}
		for _, c := range cases {
			t.Run(string(c.p)+"/"+string(c.m), func(t *testing.T) {
				a := run(t, tg, c.p, c.m)
				if a.OK != c.ok || reply(a.AuthReply) != c.authReply {
					t.Fatalf("ok %v stage %s kind %q authReply %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.AuthReply, a.Error, strings.Join(a.Transcript, "\n"))
				}
				if !c.ok && (a.Stage != probe.StageAuth || a.ErrorKind != probe.ErrRefused || reply(a.Reply) != c.authReply) {
					t.Errorf("refusal: stage %s kind %q reply %q", a.Stage, a.ErrorKind, a.Reply)
				}
				if c.m == probe.XOAUTH2 && (a.Token == nil || a.Token.Flow != token.FlowClientCredentials || len(a.Token.Roles) == 0 || len(a.Token.Problems) != 0) {
					t.Errorf("token info %+v", a.Token)
				}
			})
		}
	}
}

func TestSimSTARTTLSPorts(t *testing.T) {
	s, tg := simTarget(t)
	ep := s.Endpoints()
	tg.IMAPAddr, tg.IMAPStartTLS = ep.IMAP.StartTLS, true
	tg.POPAddr, tg.POPStartTLS = ep.POP.StartTLS, true
	for _, p := range []probe.Protocol{probe.IMAP, probe.POP} {
		a := run(t, tg, p, probe.XOAUTH2)
		if !a.OK || a.TLSVersion == "" {
			t.Errorf("%s over STARTTLS: stage %s err %q\n%s", p, a.Stage, a.Error, strings.Join(a.Transcript, "\n"))
		}
	}
}

func TestSimRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup []string
		p     probe.Protocol
		m     probe.Mechanism
		wrong bool // wrong password
		stage probe.Stage
		want  string
	}{
		{"smtp auth off for the tenant (basic)", []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, probe.SMTP, probe.Basic, false, probe.StageAuth, textS4},
		{"smtp auth off for the tenant (xoauth2)", []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, probe.SMTP, probe.XOAUTH2, false, probe.StageAuth, textS4},
		{"smtp auth off for the mailbox", []string{"Set-CASMailbox -Identity demo@contoso.com -SmtpClientAuthenticationDisabled $True"}, probe.SMTP, probe.Basic, false, probe.StageAuth, textS6},
		{"wrong password", nil, probe.SMTP, probe.Basic, true, probe.StageAuth, textS10},
		{"imap disabled for the mailbox", []string{"Set-CASMailbox -Identity demo@contoso.com -ImapEnabled $False"}, probe.IMAP, probe.XOAUTH2, false, probe.StageMailbox, textI6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, tg := simTarget(t)
			exec(t, s, c.setup...)
			if c.wrong {
				tg.Password = func(context.Context) (string, error) { return "not-the-password", nil }
			}
			a := run(t, tg, c.p, c.m)
			if a.OK || a.Stage != c.stage || a.ErrorKind != probe.ErrRefused || reply(a.Reply) != c.want {
				t.Fatalf("ok %v stage %s kind %q reply %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Reply, strings.Join(a.Transcript, "\n"))
			}
		})
	}
}

func TestSimTokenRefused(t *testing.T) {
	s, tg := simTarget(t)
	ep := s.Endpoints()
	pem, _ := os.ReadFile(ep.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	fetch, err := token.ClientCredentials(token.Entra{
		Authority: ep.Authority, ClientID: ep.Demo.ClientID, ClientSecret: "wrong-secret-value",
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.Token = token.NewCached(fetch)
	a := run(t, tg, probe.IMAP, probe.XOAUTH2)
	if a.OK || a.Stage != probe.StageToken || a.ErrorKind != probe.ErrToken || a.Token == nil || a.Token.Error != "invalid_client" {
		t.Fatalf("stage %s kind %q token %+v err %q", a.Stage, a.ErrorKind, a.Token, a.Error)
	}
	if len(a.Token.ErrorCodes) == 0 || a.Token.ErrorCodes[0] != 7000215 {
		t.Errorf("error codes %v", a.Token.ErrorCodes)
	}
}

func TestSimCertificateCredential(t *testing.T) {
	s, tg := simTarget(t)
	ep := s.Endpoints()
	if ep.Demo.CertFile == "" {
		t.Skip("the emulator's demo app has no certificate")
	}
	cert, err1 := os.ReadFile(ep.Demo.CertFile)
	key, err2 := os.ReadFile(ep.Demo.KeyFile)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	pem, _ := os.ReadFile(ep.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	fetch, err := token.ClientCredentials(token.Entra{
		Authority: ep.Authority, ClientID: ep.Demo.ClientID, CertPEM: append(cert, key...),
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.Token = token.NewCached(fetch)
	a := run(t, tg, probe.SMTP, probe.XOAUTH2)
	if !a.OK {
		t.Fatalf("stage %s err %q token %+v", a.Stage, a.Error, a.Token)
	}
}

// A client-credentials token for https://ps.outlook.com (the resource of
// Exchange's multi-tenant admin consent) is refused by the emulator, as by
// IMAP in MailKit#1811: the probe must not call such a token fine, and the
// diagnosis must blame the token.
func TestSimPSOutlookAudience(t *testing.T) {
	s, tg := simTarget(t)
	ep := s.Endpoints()
	pem, _ := os.ReadFile(ep.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	fetch, err := token.ClientCredentials(token.Entra{
		Authority: ep.Authority, ClientID: ep.Demo.ClientID, ClientSecret: ep.Demo.ClientSecret,
		Scope:      "https://ps.outlook.com/.default",
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.Token = token.NewCached(fetch)
	a := run(t, tg, probe.IMAP, probe.XOAUTH2)
	if a.OK || a.Stage != probe.StageAuth || a.Token == nil || !strings.HasPrefix(strings.TrimSuffix(a.Token.Audience, "/"), "https://ps.outlook.com") {
		t.Fatalf("ok %v stage %s token %+v reply %q", a.OK, a.Stage, a.Token, a.Reply)
	}
	if len(a.Token.Problems) != 1 || !strings.HasPrefix(a.Token.Problems[0], probe.ProblemAudUnusual+":") {
		t.Errorf("problems %q, want only %s", a.Token.Problems, probe.ProblemAudUnusual)
	}
	f := diagnose.Classify([]probe.Attempt{a})[0]
	if f.Cause != diagnose.CauseOAuthTokenInvalid || !strings.Contains(strings.Join(f.Evidence, "\n"), "ps.outlook.com") {
		t.Errorf("finding %s %s %q", f.Cause, f.Confidence, f.Evidence)
	}
}
