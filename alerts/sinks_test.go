package alerts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/exoprobe/exoprobe/probe"
)

func sample() Notification { return Sample("s", "http://127.0.0.1:9465/", time.Now()) }

func resolvedSample() Notification {
	n := sample()
	n.Status, n.Kind = StatusResolved, "recovered"
	n.Resolved, n.Firing = n.Firing, []Member{}
	n.Resolved[0].ResolvedAt = time.Now()
	n.Resolved[0].NowCause = "ok"
	return n
}

// Each HTTP sink against a local stand-in, asserting the shape the service
// documents and how its answers are classified.
func TestHTTPSinkPayloads(t *testing.T) {
	type check func(t *testing.T, body []byte, h http.Header)
	cases := []struct {
		name       string
		answer     string
		status     int
		mk         func(url string) Notifier
		n          Notification
		check      check
		wantErr    Reason
		wantRetry  bool
		wantNoPost bool
	}{
		{name: "webhook", status: 200, mk: func(u string) Notifier {
			return &Webhook{Name: "w", URL: NewSecret(u), HMACKey: NewSecret("k3y")}
		}, n: sample(), check: func(t *testing.T, b []byte, h http.Header) {
			p := decode[map[string]any](t, b)
			for _, k := range []string{"version", "id", "group_key", "kind", "status", "title", "text", "firing", "resolved", "remedy", "status_url"} {
				if _, ok := p[k]; !ok {
					t.Errorf("webhook body lacks %q", k)
				}
			}
			if p["version"] != WebhookVersion || !VerifySignature([]byte("k3y"), b, h.Get(SignatureHeader)) {
				t.Errorf("version %v, signature %q", p["version"], h.Get(SignatureHeader))
			}
			if !strings.Contains(p["text"].(string), "Set-TransportConfig -SmtpClientAuthenticationDisabled $False") {
				t.Errorf("text lacks the fix: %s", p["text"])
			}
		}},
		{name: "webhook 400 is final", status: 400, mk: func(u string) Notifier { return &Webhook{Name: "w", URL: NewSecret(u)} },
			n: sample(), wantErr: ReasonHTTP4xx},
		{name: "webhook 429 retries", status: 429, mk: func(u string) Notifier { return &Webhook{Name: "w", URL: NewSecret(u)} },
			n: sample(), wantErr: ReasonHTTP4xx, wantRetry: true},
		{name: "slack", status: 200, answer: "ok", mk: func(u string) Notifier { return &Slack{Name: "s", URL: NewSecret(u)} },
			n: sample(), check: func(t *testing.T, b []byte, _ http.Header) {
				var p struct {
					Text   string `json:"text"`
					Blocks []struct {
						Type string `json:"type"`
						Text *struct{ Type, Text string }
					} `json:"blocks"`
				}
				if err := json.Unmarshal(b, &p); err != nil {
					t.Fatal(err)
				}
				if p.Text == "" || len(p.Blocks) < 2 || p.Blocks[0].Type != "header" || p.Blocks[0].Text.Type != "plain_text" ||
					p.Blocks[1].Type != "section" || p.Blocks[1].Text.Type != "mrkdwn" {
					t.Fatalf("slack shape: %s", b)
				}
				if len([]rune(p.Blocks[0].Text.Text)) > 150 || len([]rune(p.Blocks[1].Text.Text)) > 3000 {
					t.Error("slack block limits exceeded")
				}
			}},
		{name: "slack not ok", status: 200, answer: "invalid_payload", mk: func(u string) Notifier { return &Slack{Name: "s", URL: NewSecret(u)} },
			n: sample(), wantErr: ReasonRejected},
		{name: "slack archived", status: 410, answer: "channel_is_archived", mk: func(u string) Notifier { return &Slack{Name: "s", URL: NewSecret(u)} },
			n: sample(), wantErr: ReasonHTTP4xx},
		{name: "teams", status: 202, mk: func(u string) Notifier { return &Teams{Name: "t", URL: NewSecret(u), Lang: "ja"} },
			n: sample(), check: func(t *testing.T, b []byte, _ http.Header) {
				var p struct {
					Type        string `json:"type"`
					Attachments []struct {
						ContentType string  `json:"contentType"`
						ContentURL  *string `json:"contentUrl"`
						Content     struct {
							Type    string           `json:"type"`
							Version string           `json:"version"`
							Body    []map[string]any `json:"body"`
							Actions []map[string]any `json:"actions"`
						} `json:"content"`
					} `json:"attachments"`
				}
				if err := json.Unmarshal(b, &p); err != nil {
					t.Fatal(err)
				}
				if p.Type != "message" || len(p.Attachments) != 1 || p.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
					p.Attachments[0].Content.Type != "AdaptiveCard" || p.Attachments[0].Content.Version == "" {
					t.Fatalf("teams shape: %s", b)
				}
				c := p.Attachments[0].Content
				if !strings.Contains(c.Body[0]["text"].(string), "組織全体で SMTP AUTH が無効") {
					t.Errorf("teams title not Japanese: %v", c.Body[0]["text"])
				}
				if len(c.Actions) != 1 || c.Actions[0]["type"] != "Action.OpenUrl" {
					t.Errorf("teams actions: %v", c.Actions)
				}
			}},
		{name: "pagerduty trigger", status: 202, answer: `{"status":"success","message":"Event processed","dedup_key":"x"}`,
			mk: func(u string) Notifier {
				return &PagerDuty{Name: "p", RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(u)}
			},
			n: sample(), check: func(t *testing.T, b []byte, _ http.Header) {
				e := decode[PagerDutyEvent](t, b)
				if e.RoutingKey != "R0UT1NG" || e.EventAction != "trigger" || e.DedupKey != "exoprobe/test/contoso.com" ||
					e.Payload == nil || e.Payload.Summary == "" || e.Payload.Source == "" || e.Payload.Severity != "info" {
					t.Fatalf("pagerduty trigger: %s", b)
				}
			}},
		{name: "pagerduty resolve", status: 202, answer: `{"status":"success"}`,
			mk: func(u string) Notifier {
				return &PagerDuty{Name: "p", RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(u)}
			},
			n: resolvedSample(), check: func(t *testing.T, b []byte, _ http.Header) {
				e := decode[map[string]any](t, b)
				if e["event_action"] != "resolve" || e["dedup_key"] != "exoprobe/test/contoso.com" || e["payload"] != nil {
					t.Fatalf("pagerduty resolve: %s", b)
				}
			}},
		{name: "pagerduty invalid event", status: 400, answer: `{"status":"invalid event","message":"Event object is invalid"}`,
			mk: func(u string) Notifier {
				return &PagerDuty{Name: "p", RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(u)}
			},
			n: sample(), wantErr: ReasonRejected},
		{name: "alertmanager firing", status: 200, mk: func(u string) Notifier {
			return &Alertmanager{Name: "am", URL: NewSecret(u), Labels: map[string]string{"team": "mail"}}
		}, n: sample(), check: func(t *testing.T, b []byte, _ http.Header) {
			as := decode[[]AMAlert](t, b)
			if len(as) != 1 {
				t.Fatalf("alerts: %s", b)
			}
			l := as[0].Labels
			for _, k := range []string{"alertname", "target", "protocol", "mechanism", "cause", "severity", "team"} {
				if l[k] == "" {
					t.Errorf("label %s missing: %v", k, l)
				}
			}
			for _, k := range []string{"instance", "replica", "host"} {
				if _, ok := l[k]; ok {
					t.Errorf("replica-specific label %s", k)
				}
			}
			if as[0].StartsAt.IsZero() || !as[0].EndsAt.After(time.Now()) || as[0].GeneratorURL == "" {
				t.Errorf("times/generatorURL: %+v", as[0])
			}
		}},
		{name: "alertmanager resolve", status: 200, mk: func(u string) Notifier { return &Alertmanager{Name: "am", URL: NewSecret(u)} },
			n: resolvedSample(), check: func(t *testing.T, b []byte, _ http.Header) {
				as := decode[[]AMAlert](t, b)
				if len(as) != 1 || as[0].EndsAt.After(time.Now()) || as[0].EndsAt.IsZero() {
					t.Fatalf("resolve: %s", b)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var body []byte
			var hdr http.Header
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				body, _ = io.ReadAll(r.Body)
				hdr, path = r.Header.Clone(), r.URL.Path
				mu.Unlock()
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			retry, err := tc.mk(srv.URL).Notify(context.Background(), []Notification{tc.n})
			if tc.wantErr != "" {
				if err == nil || ReasonOf(err) != tc.wantErr || retry != tc.wantRetry {
					t.Fatalf("err %v (reason %s), retry %v; want reason %s retry %v", err, ReasonOf(err), retry, tc.wantErr, tc.wantRetry)
				}
				if strings.Contains(err.Error(), srv.URL) {
					t.Errorf("error shows the URL: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", hdr.Get("Content-Type"))
			}
			if strings.HasPrefix(tc.name, "alertmanager") && path != "/api/v2/alerts" {
				t.Errorf("path %s", path)
			}
			tc.check(t, body, hdr)
		})
	}
}

// Transport failures are classified and never show the URL.
func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	const tok = "T0KEN-in-url"
	_, err = (&Slack{Name: "s", URL: NewSecret("http://" + addr + "/services/" + tok)}).Notify(context.Background(), []Notification{sample()})
	if ReasonOf(err) != ReasonConnection || strings.Contains(err.Error(), tok) {
		t.Errorf("refused: %v (%s)", err, ReasonOf(err))
	}
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	retry, err := (&Webhook{Name: "w", URL: NewSecret(hang.URL + "/" + tok)}).Notify(ctx, []Notification{sample()})
	if ReasonOf(err) != ReasonTimeout || !retry || strings.Contains(err.Error(), tok) {
		t.Errorf("timeout: %v (%s) retry %v", err, ReasonOf(err), retry)
	}
}

func TestBackoffCapped(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 8 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		if got := b.Delay(n, 0.5); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	if lo, hi := b.Delay(2, 0), b.Delay(2, 0.999); lo < 1600*time.Millisecond || hi > 2400*time.Millisecond {
		t.Errorf("jitter out of ±20%%: %v..%v", lo, hi)
	}
}

// smtpBackend accepts AUTH PLAIN only over TLS and records messages.
type smtpBackend struct {
	mu   sync.Mutex
	msgs []string
	tls  []bool
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b, c: c}, nil
}

type smtpSession struct {
	b    *smtpBackend
	c    *smtp.Conn
	auth bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{gosasl.Plain} }
func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	return gosasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "alerts@contoso.com" || pass != "pw-CANARY" {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.auth {
		return &smtp.SMTPError{Code: 530, Message: "auth required"}
	}
	return nil
}
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	_, isTLS := s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.tls = append(s.b.tls, isTLS)
	s.b.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// The email sink against a real SMTP server (go-smtp's) with STARTTLS and
// AUTH PLAIN; and it refuses to authenticate without TLS.
func TestEmailSTARTTLS(t *testing.T) {
	srvTLS := httptest.NewUnstartedServer(nil)
	srvTLS.StartTLS() // borrow httptest's certificate for 127.0.0.1
	cert := srvTLS.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srvTLS.Certificate())
	srvTLS.Close()

	start := func(withTLS bool) (*smtpBackend, string) {
		be := &smtpBackend{}
		s := smtp.NewServer(be)
		s.Domain = "127.0.0.1"
		s.AllowInsecureAuth = true // so the plaintext case reaches our client's own refusal
		if withTLS {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
		return be, ln.Addr().String()
	}
	be, addr := start(true)
	e := &Email{Name: "mail", Addr: addr, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		Username: "alerts@contoso.com", Password: NewSecret("pw-CANARY"), From: "alerts@contoso.com",
		To: []string{"ops@contoso.com"}, Lang: "ja"}
	n := sample()
	if _, err := e.Notify(context.Background(), []Notification{n}); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	if len(be.msgs) != 1 || !be.tls[0] {
		t.Fatalf("messages %d, tls %v", len(be.msgs), be.tls)
	}
	msg := be.msgs[0]
	be.mu.Unlock()
	for _, want := range []string{"Message-ID: <" + n.ID + "@contoso.com>", "Subject: =?utf-8?q?", "Content-Type: text/plain; charset=utf-8"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "pw-CANARY") {
		t.Error("message contains the password")
	}
	// Wrong password: SMTP 535 is final, and the error does not echo it.
	e2 := *e
	e2.Password = NewSecret("wrong-CANARY")
	retry, err := e2.Notify(context.Background(), []Notification{n})
	if err == nil || retry || ReasonOf(err) != ReasonRejected || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("bad password: %v retry %v", err, retry)
	}
	// A server without STARTTLS: no AUTH in the clear unless allowed.
	be2, addr2 := start(false)
	e3 := *e
	e3.Addr = addr2
	if _, err := e3.Notify(context.Background(), []Notification{n}); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("plaintext server: %v", err)
	}
	e3.AllowPlaintext = true
	if _, err := e3.Notify(context.Background(), []Notification{n}); err != nil {
		t.Fatalf("allow_plaintext: %v", err)
	}
	be2.mu.Lock()
	if len(be2.msgs) != 1 || be2.tls[0] {
		t.Errorf("plaintext delivery: %d %v", len(be2.msgs), be2.tls)
	}
	be2.mu.Unlock()
}

type staticToken string

func (s staticToken) Token(context.Context) (probe.Token, error) {
	return probe.Token{AccessToken: string(s), Flow: "static"}, nil
}

// An email sink with an app token refuses, before sending any credential,
// a server that does not offer XOAUTH2, and says what the server offers.
func TestEmailXOAUTH2NotOffered(t *testing.T) {
	srvTLS := httptest.NewUnstartedServer(nil)
	srvTLS.StartTLS()
	cert := srvTLS.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srvTLS.Certificate())
	srvTLS.Close()
	be := &smtpBackend{}
	s := smtp.NewServer(be)
	s.Domain = "127.0.0.1"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	e := &Email{Name: "mail", Addr: ln.Addr().String(), TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		Username: "alerts@contoso.com", Token: staticToken("tok-CANARY"), From: "alerts@contoso.com", To: []string{"ops@contoso.com"}}
	retry, err := e.Notify(context.Background(), []Notification{sample()})
	if err == nil || retry || !strings.Contains(err.Error(), "server does not offer AUTH XOAUTH2 (it offers PLAIN") ||
		strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.msgs) != 0 {
		t.Errorf("a message went through: %d", len(be.msgs))
	}
}
