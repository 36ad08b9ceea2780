package probe

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const (
	canaryPassword = "canary-Pw-7f3b9d1e"
	canaryUser     = "scanner@contoso.com"
)

// testJWT builds an unsigned JWT with the given claims.
func testJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2lnbmF0dXJlLWNhbmFyeQ"
}

func canaryToken() string {
	return testJWT(map[string]any{
		"aud": "https://outlook.office365.com", "tid": "tenant-id", "appid": "app-id",
		"roles": []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"},
		"exp":   time.Now().Add(time.Hour).Unix(), "canary": "tok-canary-5c1d",
	})
}

func testTarget(addr string, p Protocol) *Target {
	t := &Target{
		Name: "t", User: canaryUser, TLSConfig: testCerts(nil).client,
		Password: func(context.Context) (string, error) { return canaryPassword, nil },
		Token:    StaticToken(canaryToken()),
	}
	switch p {
	case IMAP:
		t.IMAPAddr = addr
	case POP:
		t.POPAddr = addr
	case SMTP:
		t.SMTPAddr = addr
	}
	return t
}

func runWithin(t *testing.T, d time.Duration, c Check) Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	a := Run(ctx, c)
	// The deadline is the contract; the slack covers a loaded -race run.
	if el := time.Since(start); el > d+time.Second {
		t.Errorf("Run took %v with a %v deadline", el, d)
	}
	return a
}

type mode struct {
	name     string
	p        Protocol
	startTLS bool
}

var modes = []mode{
	{"imap-993", IMAP, false}, {"imap-143-starttls", IMAP, true},
	{"pop-995", POP, false}, {"pop-110-stls", POP, true},
	{"smtp-587-starttls", SMTP, true}, {"smtp-465", SMTP, false},
}

// serve starts the scripted server for a mode with the given knobs.
func serve(t *testing.T, m mode, hangAt string, tweak func(any) any) *fake {
	var script interface{ run(*fconn) }
	switch m.p {
	case IMAP:
		script = imapScript{hangAt: hangAt, startTLS: m.startTLS}
	case POP:
		script = popScript{hangAt: hangAt, startTLS: m.startTLS}
	case SMTP:
		script = smtpScript{hangAt: hangAt, implicitTLS: !m.startTLS}
	}
	if tweak != nil {
		script = tweak(script).(interface{ run(*fconn) })
	}
	implicit := !m.startTLS
	if hangAt == "tls" && implicit {
		// Accepts the connection and never answers the ClientHello.
		return newFake(t, false, func(c *fconn) { c.hang() })
	}
	return newFake(t, implicit, script.run)
}

func target(m mode, addr string) *Target {
	t := testTarget(addr, m.p)
	t.IMAPStartTLS = m.p == IMAP && m.startTLS
	t.POPStartTLS = m.p == POP && m.startTLS
	t.SMTPImplicitTLS = m.p == SMTP && !m.startTLS
	t.SMTPSubmitCheck = true
	return t
}

func TestHealthy(t *testing.T) {
	for _, m := range modes {
		for _, mech := range Mechanisms {
			t.Run(m.name+"/"+string(mech), func(t *testing.T) {
				f := serve(t, m, "", nil)
				defer f.Close()
				a := runWithin(t, 5*time.Second, Check{Target: target(m, f.addr), Protocol: m.p, Mechanism: mech})
				if !a.OK || a.Stage != StageDone || a.ErrorKind != ErrNone {
					t.Fatalf("attempt = ok %v stage %s kind %q err %q reply %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, a.Reply, strings.Join(a.Transcript, "\n"))
				}
				if a.TLSVersion != "TLS 1.3" {
					t.Errorf("TLSVersion = %q", a.TLSVersion)
				}
				if len(a.Capabilities) == 0 || a.AuthReply == "" || a.AuthMethod == "" {
					t.Errorf("caps %v authReply %q method %q", a.Capabilities, a.AuthReply, a.AuthMethod)
				}
				if mech == XOAUTH2 && (a.Token == nil || a.Token.Audience != "https://outlook.office365.com" || len(a.Token.Problems) != 0) {
					t.Errorf("token info = %+v", a.Token)
				}
				stages := []Stage{}
				for _, st := range a.Timings {
					stages = append(stages, st.Stage)
				}
				for _, want := range []Stage{StageConnect, StageGreeting, StageCapability, StageAuth, StageMailbox, StageLogout} {
					if !slices.Contains(stages, want) {
						t.Errorf("timings %v lack %s", stages, want)
					}
				}
				if m.startTLS && !slices.Contains(stages, StageStartTLS) {
					t.Errorf("timings %v lack starttls", stages)
				}
				assertNoSecrets(t, a, "")
			})
		}
	}
}

// assertNoSecrets checks every output form of an Attempt for the canaries.
func assertNoSecrets(t *testing.T, a Attempt, logs string) {
	t.Helper()
	js, _ := json.Marshal(a)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("attempt", "attempt", a, "err", a.Error)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("attempt", "attempt", a)
	all := string(js) + buf.String() + logs + fmt.Sprintf("%v %+v", a, a)
	tok := canaryToken()
	for _, secret := range []string{
		canaryPassword, tok, "tok-canary-5c1d",
		base64.StdEncoding.EncodeToString([]byte(canaryPassword)),
		base64.StdEncoding.EncodeToString([]byte("user=" + canaryUser + "\x01auth=Bearer " + tok + "\x01\x01")),
		base64.StdEncoding.EncodeToString([]byte("\x00" + canaryUser + "\x00" + canaryPassword)),
	} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %.12q... leaked:\n%s", secret, all)
		}
	}
}

// hungTokenSource asks a token endpoint that never answers, over real HTTP
// under the attempt's context.
type hungTokenSource struct{ url string }

func (h hungTokenSource) Token(ctx context.Context) (Token, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return Token{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Token{}, &TokenError{Flow: "client_credentials", Err: err}
	}
	resp.Body.Close()
	return Token{}, &TokenError{Flow: "client_credentials", HTTPStatus: resp.StatusCode}
}

func TestHungServer(t *testing.T) {
	stages := map[string]Stage{
		"greeting": StageGreeting, "capability": StageCapability, "starttls": StageStartTLS,
		"auth": StageAuth, "mailbox": StageMailbox, "token": StageToken,
	}
	// A token endpoint that accepts the connection and never answers.
	tokenEP := newFake(t, false, func(c *fconn) { c.hang() })
	defer tokenEP.Close()
	for _, m := range modes {
		for _, hang := range []string{"greeting", "capability", "starttls", "tls", "token", "auth", "mailbox"} {
			if hang == "starttls" && !m.startTLS {
				continue
			}
			t.Run(m.name+"/"+hang, func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				want := stages[hang]
				if hang == "tls" {
					// The handshake of implicit TLS, or the one after
					// STARTTLS was accepted.
					want = StageTLS
					if m.startTLS {
						want = StageStartTLS
					}
				}
				mech := Basic
				script := hang
				if hang == "token" {
					mech, script = XOAUTH2, ""
				}
				f := serve(t, m, script, nil)
				defer f.Close()
				tg := target(m, f.addr)
				if hang == "token" {
					tg.Token = hungTokenSource{url: "http://" + tokenEP.addr + "/tenant/oauth2/v2.0/token"}
				}
				// A short deadline keeps the test quick; on a loaded
				// machine (-race, other jobs) the stages before the hang
				// (a TLS handshake) can outlast it, which says nothing
				// about the hang: try again with more time. A probe that
				// really stops at the wrong stage does so every time, and
				// the verdict below still fails it.
				var a Attempt
				var deadline time.Duration
				for _, deadline = range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond, 5 * time.Second} {
					a = runWithin(t, deadline, Check{Target: tg, Protocol: m.p, Mechanism: mech})
					if a.OK || a.ErrorKind != ErrTimeout || a.Stage == want {
						break
					}
					t.Logf("timed out at %s before reaching the hung %s stage within %v; retrying with more time", a.Stage, hang, deadline)
				}
				if a.OK || a.ErrorKind != ErrTimeout || a.Stage != want {
					t.Fatalf("ok %v stage %s kind %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, strings.Join(a.Transcript, "\n"))
				}
				if a.Duration > deadline+time.Second {
					t.Errorf("Duration %v", a.Duration)
				}
				assertNoSecrets(t, a, "")
			})
		}
	}
}

// A server that never answers LOGOUT/QUIT: the login and the mailbox
// command worked, so the attempt succeeds, and the logout's own short
// bound ends it long before the attempt's deadline.
func TestHungLogout(t *testing.T) {
	defer func(g time.Duration) { logoutGrace = g }(logoutGrace)
	logoutGrace = 300 * time.Millisecond
	const deadline = 20 * time.Second
	for _, m := range modes {
		for _, mech := range Mechanisms {
			t.Run(m.name+"/"+string(mech), func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				f := serve(t, m, "logout", nil)
				defer f.Close()
				start := time.Now()
				a := runWithin(t, deadline, Check{Target: target(m, f.addr), Protocol: m.p, Mechanism: mech})
				if !a.OK || a.Stage != StageDone || a.ErrorKind != ErrNone {
					t.Fatalf("ok %v stage %s kind %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, strings.Join(a.Transcript, "\n"))
				}
				// The handshakes before the hang take well under a
				// second even under -race; the deadline is 20 s.
				if el := time.Since(start); el > logoutGrace+3*time.Second {
					t.Errorf("a hung logout held the attempt %v (grace %v, deadline %v)", el, logoutGrace, deadline)
				}
				var sawLogout bool
				for _, st := range a.Timings {
					sawLogout = sawLogout || st.Stage == StageLogout
				}
				if !sawLogout {
					t.Errorf("timings %v lack the logout stage", a.Timings)
				}
				assertNoSecrets(t, a, "")
			})
		}
	}
}

func TestMalformedReplies(t *testing.T) {
	cases := []struct {
		name   string
		p      Protocol
		script func(*fconn)
		stage  Stage
		inErr  string
	}{
		{"imap garbage greeting", IMAP, func(c *fconn) { c.send("HELLO THERE"); c.hang() }, StageGreeting, "HELLO THERE"},
		{"imap tagless capability", IMAP, imapScript{rawCapReply: []string{"garbage line without tag", "* CAPABILITY IMAP4rev1 AUTH=PLAIN"}}.run, StageCapability, "garbage line"},
		{"pop greeting", POP, func(c *fconn) { c.send("220 smtp.example ESMTP"); c.hang() }, StageGreeting, "expected +OK or -ERR"},
		{"smtp greeting", SMTP, func(c *fconn) { c.send("+OK pop3 here"); c.hang() }, StageGreeting, "three-digit reply code"},
		{"smtp ehlo", SMTP, func(c *fconn) {
			c.send("220 mx ready")
			c.recv()
			c.send("25O-bad code", "250 ok")
			c.hang()
		}, StageCapability, "three-digit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			implicit := tc.p != SMTP
			f := newFake(t, implicit, tc.script)
			defer f.Close()
			a := runWithin(t, 3*time.Second, Check{Target: testTarget(f.addr, tc.p), Protocol: tc.p, Mechanism: Basic})
			if a.OK || a.ErrorKind != ErrProtocol || a.Stage != tc.stage {
				t.Fatalf("ok %v stage %s kind %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, strings.Join(a.Transcript, "\n"))
			}
			if !strings.Contains(a.Error, tc.inErr) || !strings.Contains(a.Error, "malformed or unexpected reply") {
				t.Errorf("Error %q does not say what was wrong (want %q)", a.Error, tc.inErr)
			}
		})
	}
}

func TestPlaintextRefused(t *testing.T) {
	cases := []struct {
		name   string
		p      Protocol
		script func(*fconn)
	}{
		{"imap no STARTTLS", IMAP, func(c *fconn) {
			c.send("* OK ready")
			l := c.recv()
			c.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag(l)+" OK done")
			c.hang()
		}},
		{"pop no STLS", POP, func(c *fconn) {
			c.send("+OK ready")
			c.recv()
			c.send("+OK", "USER", "SASL PLAIN", ".")
			c.hang()
		}},
		{"smtp no STARTTLS", SMTP, smtpScript{noSTARTTLS: true, hangAt: "auth"}.run},
	}
	for _, tc := range cases {
		for _, allow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/allow=%v", tc.name, allow), func(t *testing.T) {
				f := newFake(t, false, tc.script)
				defer f.Close()
				tg := testTarget(f.addr, tc.p)
				tg.IMAPStartTLS, tg.POPStartTLS, tg.AllowPlaintext = true, true, allow
				a := runWithin(t, 500*time.Millisecond, Check{Target: tg, Protocol: tc.p, Mechanism: Basic})
				if allow {
					// The scripts hang once credentials would come: the
					// probe went on to authenticate.
					if a.ErrorKind == ErrPolicy || a.Stage != StageAuth {
						t.Fatalf("with allow_plaintext: stage %s kind %q err %q", a.Stage, a.ErrorKind, a.Error)
					}
					return
				}
				if a.ErrorKind != ErrPolicy || a.Stage != StageStartTLS {
					t.Fatalf("stage %s kind %q err %q", a.Stage, a.ErrorKind, a.Error)
				}
				for _, l := range f.received() {
					if strings.Contains(l, canaryPassword) || strings.HasPrefix(strings.ToUpper(l), "AUTH") ||
						strings.HasPrefix(strings.ToUpper(l), "USER") || strings.Contains(strings.ToUpper(l), "LOGIN") {
						t.Errorf("credentials sent in clear: %q", l)
					}
				}
			})
		}
	}
}

// TestSMTPNextNilTrap: go-smtp's Auth reports success if the SASL client's
// Next returns nil after a 334 challenge. The refusal must be seen.
func TestSMTPNextNilTrap(t *testing.T) {
	const refusal = "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]"
	f := newFake(t, false, smtpScript{challenge: true, authReply: refusal}.run)
	defer f.Close()
	a := runWithin(t, 3*time.Second, Check{Target: testTarget(f.addr, SMTP), Protocol: SMTP, Mechanism: XOAUTH2})
	if a.OK || a.Stage != StageAuth || a.ErrorKind != ErrRefused || a.Reply != refusal || a.AuthReply != refusal {
		t.Fatalf("ok %v stage %s kind %q reply %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Reply, strings.Join(a.Transcript, "\n"))
	}
	assertNoSecrets(t, a, "")
}

func TestIMAPOKThenBAD(t *testing.T) {
	f := newFake(t, true, imapScript{mailboxReply: "BAD User is authenticated but not connected."}.run)
	defer f.Close()
	a := runWithin(t, 3*time.Second, Check{Target: testTarget(f.addr, IMAP), Protocol: IMAP, Mechanism: XOAUTH2})
	if a.OK || a.Stage != StageMailbox || a.ErrorKind != ErrRefused {
		t.Fatalf("ok %v stage %s kind %q err %q", a.OK, a.Stage, a.ErrorKind, a.Error)
	}
	if !strings.HasSuffix(a.Reply, " BAD User is authenticated but not connected.") {
		t.Errorf("Reply = %q", a.Reply)
	}
	if !strings.HasSuffix(a.AuthReply, " OK AUTHENTICATE completed.") {
		t.Errorf("AuthReply = %q", a.AuthReply)
	}
}

func TestRefusalsVerbatim(t *testing.T) {
	const s9 = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PN0PR01CA0024.INDPRD01.PROD.OUTLOOK.COM 2025-01-26T18:54:30.055Z 08DD3DD7D75D7743]"
	cases := []struct {
		name      string
		p         Protocol
		mech      Mechanism
		script    func(*fconn)
		wantReply string // suffix after the tag for IMAP
		method    string
	}{
		{"imap LOGIN refused", IMAP, Basic, imapScript{authReply: "NO LOGIN failed."}.run, " NO LOGIN failed.", "LOGIN"},
		{"imap LOGINDISABLED with PLAIN", IMAP, Basic, imapScript{caps: "IMAP4rev1 AUTH=PLAIN LOGINDISABLED SASL-IR", authReply: "NO AUTHENTICATE failed."}.run, " NO AUTHENTICATE failed.", "AUTHENTICATE PLAIN"},
		{"imap LOGINDISABLED only XOAUTH2", IMAP, Basic, imapScript{caps: "IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR", authReply: "NO Basic authentication is disabled."}.run, " NO Basic authentication is disabled.", "LOGIN"},
		{"pop basic", POP, Basic, popScript{authReply: "-ERR Logon failure: unknown user name or bad password."}.run, "-ERR Logon failure: unknown user name or bad password.", "USER/PASS"},
		{"pop xoauth2 challenge", POP, XOAUTH2, popScript{errorChallenge: true, authReply: "-ERR Authentication failure: unknown user name or bad password."}.run, "-ERR Authentication failure: unknown user name or bad password.", "AUTH XOAUTH2"},
		{"smtp basic", SMTP, Basic, smtpScript{implicitTLS: false, authReply: s9}.run, s9, "AUTH LOGIN"},
		{"smtp multi-line", SMTP, Basic, smtpScript{authReply: "535-5.7.139 first line\r\n535 5.7.139 second line"}.run, "535-5.7.139 first line\n535 5.7.139 second line", "AUTH LOGIN"},
		{"smtp plain only", SMTP, Basic, smtpScript{authMechs: "PLAIN", authReply: "535 5.7.8 Error: authentication failed"}.run, "535 5.7.8 Error: authentication failed", "AUTH PLAIN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.p != SMTP, tc.script)
			defer f.Close()
			a := runWithin(t, 3*time.Second, Check{Target: testTarget(f.addr, tc.p), Protocol: tc.p, Mechanism: tc.mech})
			if a.OK || a.Stage != StageAuth || a.ErrorKind != ErrRefused || !strings.HasSuffix(a.Reply, tc.wantReply) || a.AuthMethod != tc.method {
				t.Fatalf("ok %v stage %s kind %q method %q reply %q\n%s", a.OK, a.Stage, a.ErrorKind, a.AuthMethod, a.Reply, strings.Join(a.Transcript, "\n"))
			}
			if tc.p == IMAP && a.Reply == tc.wantReply[1:] {
				t.Errorf("IMAP reply lost its tag: %q", a.Reply)
			}
			assertNoSecrets(t, a, "")
		})
	}
}

func TestTranscriptRedaction(t *testing.T) {
	cases := []struct {
		m    mode
		mech Mechanism
		want []string // lines that must appear verbatim
	}{
		{modes[0], Basic, []string{"C: T2 LOGIN \"" + canaryUser + "\" ****"}},
		{modes[0], XOAUTH2, []string{"C: T2 AUTHENTICATE XOAUTH2 ****"}},
		{modes[2], Basic, []string{"C: USER " + canaryUser, "C: PASS ****"}},
		{modes[2], XOAUTH2, []string{"C: AUTH XOAUTH2", "S: + ", "C: ****"}},
		{modes[4], Basic, []string{"C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: ****", "S: 334 UGFzc3dvcmQ6"}},
		{modes[4], XOAUTH2, []string{"C: AUTH XOAUTH2 ****"}},
	}
	for _, tc := range cases {
		t.Run(tc.m.name+"/"+string(tc.mech), func(t *testing.T) {
			f := serve(t, tc.m, "", nil)
			defer f.Close()
			a := runWithin(t, 3*time.Second, Check{Target: target(tc.m, f.addr), Protocol: tc.m.p, Mechanism: tc.mech})
			if !a.OK {
				t.Fatalf("attempt failed: %s %s", a.Stage, a.Error)
			}
			for _, w := range tc.want {
				if !slices.Contains(a.Transcript, w) {
					t.Errorf("transcript lacks %q:\n%s", w, strings.Join(a.Transcript, "\n"))
				}
			}
			assertNoSecrets(t, a, "")
		})
	}
}

func TestTokenFailureEndsAtTokenStage(t *testing.T) {
	f := serve(t, modes[0], "", nil)
	defer f.Close()
	tg := target(modes[0], f.addr)
	tg.Token = failingSource{&TokenError{Flow: "client_credentials", Code: "invalid_client", ErrorCodes: []int{7000215}, Description: "AADSTS7000215: Invalid client secret provided."}}
	a := runWithin(t, 3*time.Second, Check{Target: tg, Protocol: IMAP, Mechanism: XOAUTH2})
	if a.OK || a.Stage != StageToken || a.ErrorKind != ErrToken || a.Token == nil || a.Token.Error != "invalid_client" || !slices.Equal(a.Token.ErrorCodes, []int{7000215}) {
		t.Fatalf("stage %s kind %q token %+v err %q", a.Stage, a.ErrorKind, a.Token, a.Error)
	}
	for _, l := range f.received() {
		if strings.Contains(l, "AUTHENTICATE") {
			t.Errorf("AUTH sent without a token: %q", l)
		}
	}
}

type failingSource struct{ err error }

func (f failingSource) Token(context.Context) (Token, error) { return Token{}, f.err }

func TestConfigErrors(t *testing.T) {
	a := Run(context.Background(), Check{Target: &Target{User: "u"}, Protocol: IMAP, Mechanism: Basic})
	if a.OK || a.ErrorKind != ErrConfig {
		t.Errorf("no password: %+v", a)
	}
	a = Run(context.Background(), Check{Target: &Target{User: "u"}, Protocol: "nntp", Mechanism: Basic})
	if a.ErrorKind != ErrConfig {
		t.Errorf("bad protocol: %+v", a)
	}
}

func TestConnectRefused(t *testing.T) {
	f := newFake(t, false, func(c *fconn) {})
	addr := f.addr
	f.Close()
	a := runWithin(t, 2*time.Second, Check{Target: testTarget(addr, SMTP), Protocol: SMTP, Mechanism: Basic})
	if a.ErrorKind != ErrConnect || a.Stage != StageConnect {
		t.Fatalf("stage %s kind %q err %q", a.Stage, a.ErrorKind, a.Error)
	}
}

// Dovecot (and Google) answer a refused XOAUTH2 with an error challenge and
// wait for an empty response before their NO. go-imap encodes an empty
// response as "="; the probe must send the empty line RFC 3501 asks for, or
// the real refusal is lost behind "BAD Invalid base64 data".
func TestIMAPXOAUTH2ErrorChallenge(t *testing.T) {
	const refusal = "NO [AUTHENTICATIONFAILED] Authentication failed."
	f := newFake(t, true, func(c *fconn) {
		c.send("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2] Dovecot ready.")
		for {
			l := c.recv()
			tg := tag(l)
			switch f := strings.Fields(strings.ToUpper(l)); {
			case len(f) >= 2 && f[1] == "CAPABILITY":
				c.send("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2", tg+" OK Pre-login capabilities listed.")
			case len(f) >= 2 && f[1] == "AUTHENTICATE":
				c.send("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=")
				if resp := c.recv(); resp != "" {
					c.send(tg + " BAD Invalid base64 data in continued response")
					continue
				}
				c.send(tg + " " + refusal)
			case len(f) >= 2 && f[1] == "LOGOUT":
				c.send("* BYE Logging out", tg+" OK Logout completed.")
				return
			default:
				c.send(tg + " BAD Error in IMAP command")
			}
		}
	})
	defer f.Close()
	a := runWithin(t, 3*time.Second, Check{Target: testTarget(f.addr, IMAP), Protocol: IMAP, Mechanism: XOAUTH2})
	if a.OK || a.Stage != StageAuth || !strings.HasSuffix(a.AuthReply, " "+refusal) {
		t.Fatalf("ok %v stage %s auth reply %q\n%s", a.OK, a.Stage, a.AuthReply, strings.Join(a.Transcript, "\n"))
	}
	// The empty line is what went on the wire (the transcript shows "C: ").
	if !slices.Contains(a.Transcript, "C: ") {
		t.Errorf("no empty continuation response in the transcript:\n%s", strings.Join(a.Transcript, "\n"))
	}
	assertNoSecrets(t, a, "")
}
