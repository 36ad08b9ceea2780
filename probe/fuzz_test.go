package probe

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/exoprobe/exoprobe/sasl"
)

// Fuzz targets for everything in the probe that reads a server's words or
// records a conversation. Each input is a server's byte stream (or a
// conversation); the targets check that nothing panics or loops, that what
// is returned is what the protocol allows, and that a seeded canary secret
// never reaches the transcript. Run one with e.g.
//
//	go test -run '^$' -fuzz FuzzPOPReplies -fuzztime 20s ./probe

// maxFuzzInput keeps executions fast: Go minimizes every new interesting
// input, and minimizing a huge one stalls a 20-second run. Lines over the
// 64 KiB bound are covered by TestLongLines instead.
const maxFuzzInput = 8 << 10

// fuzzCanary is the seeded secret: the password and (inside a JWT) the
// token of every fuzzed session.
const fuzzCanary = "fz-Canary-Secret-91c4"

// scriptConn is a net.Conn whose peer is a fixed byte stream: reads come
// from it (then io.EOF), writes are kept.
type scriptConn struct {
	r    io.Reader
	sent bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)        { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)       { return c.sent.Write(b) }
func (c *scriptConn) Close() error                      { return nil }
func (c *scriptConn) LocalAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *scriptConn) SetDeadline(t time.Time) error     { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error {
	return nil
}

// fuzzSession is a session over a scripted server whose password is the
// canary.
func fuzzSession(t *testing.T, p Protocol, m Mechanism, server []byte) (*session, *lineConn) {
	t.Helper()
	tg := &Target{
		Name: "fuzz", User: "fuzz@contoso.com",
		Password: func(context.Context) (string, error) { return fuzzCanary, nil },
		Token:    StaticToken(fuzzToken()),
	}
	s := newSession(context.Background(), Check{Target: tg, Protocol: p, Mechanism: m})
	s.tlsOn = true
	return s, s.lines(s.wrap(&scriptConn{r: bytes.NewReader(server)}, ""))
}

func fuzzToken() string {
	return testJWT(map[string]any{"aud": "https://outlook.office365.com", "roles": []string{"POP.AccessAsApp"}, "canary": fuzzCanary})
}

// assertNoCanary checks a transcript and an attempt's text fields for the
// secrets the session used: the password (Basic) or the token (XOAUTH2).
// A secret the session never fetched cannot have been sent, and a server
// that says it anyway (a greeting that happens to be the password) is
// quoted as it is: the probe only knows what it was given.
func assertNoCanary(t *testing.T, s *session) {
	t.Helper()
	fetched := len(s.tr.secrets) > 0
	a := s.finish()
	if !fetched {
		return
	}
	all := strings.Join(append(a.Transcript, a.Reply, a.AuthReply, a.Error), "\n")
	secrets := []string{fuzzCanary, base64.StdEncoding.EncodeToString([]byte(fuzzCanary))}
	if s.c.Mechanism == XOAUTH2 {
		secrets = []string{fuzzToken(), base64.StdEncoding.EncodeToString(sasl.XOAUTH2Response("fuzz@contoso.com", fuzzToken()))}
	}
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %.10q... in the attempt:\n%s", secret, all)
		}
	}
}

func isPOPStatus(l string) bool {
	return l == "+OK" || l == "-ERR" || l == "+" ||
		strings.HasPrefix(l, "+OK ") || strings.HasPrefix(l, "-ERR ") || strings.HasPrefix(l, "+ ")
}

// FuzzPOPReplies drives the POP3 client's whole exchange — greeting, CAPA
// (multi-line), USER/PASS, AUTH XOAUTH2 in both forms with error
// challenges, STAT — against an arbitrary server stream.
func FuzzPOPReplies(f *testing.F) {
	f.Add([]byte("+OK ready\r\n+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\n..STLS\r\n.\r\n+OK\r\n-ERR Logon failure: unknown user name or bad password.\r\n"))
	f.Add([]byte("+OK\r\n-ERR no CAPA\r\n+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR Authentication failure: unknown user name or bad password.\r\n+OK 0 0\r\n"))
	f.Add([]byte("+OK\r\n+OK\r\n.\r\n+\r\n+\r\n+\r\n+\r\n+\r\n+OK 1 2\r\n"))
	f.Add([]byte("+OK\n+OK caps\nUSER\n"))                                // EOF inside CAPA
	f.Add([]byte("-ERR Server Unavailable. 21\r\n"))                      // refused greeting
	f.Add([]byte("+OK\r\n+OK\r\n.\r\n+OK " + fuzzCanary + "\r\n+OK\r\n")) // a server echoing the secret
	f.Add([]byte("+OK\r\n+OK\r\n.\r\n+ \r\n-ERR " + fuzzToken() + "\r\n"))
	f.Add([]byte("220 smtp\r\n"))
	f.Fuzz(func(t *testing.T, server []byte) {
		if len(server) > maxFuzzInput {
			return
		}
		for _, form := range []struct {
			mech              Mechanism
			oneLine, authPlan bool
		}{{Basic, false, false}, {Basic, true, true}, {XOAUTH2, false, false}, {XOAUTH2, true, false}} {
			s, l := fuzzSession(t, POP, form.mech, server)
			s.t.POPXOAUTH2OneLine, s.t.POPAuthPlain = form.oneLine, form.authPlan
			func() {
				if l.popGreeting() != nil {
					return
				}
				caps, err := l.popCapa()
				if err != nil {
					return
				}
				for _, c := range caps {
					if strings.ContainsAny(c, "\n") {
						t.Fatalf("capability with a newline: %q", c)
					}
				}
				var reply string
				switch {
				case form.mech == XOAUTH2:
					tok, terr := s.token(s.ctx)
					if terr != nil {
						t.Fatalf("static token: %v", terr)
					}
					blob := sasl.XOAUTH2Response(s.t.User, tok)
					s.tr.addSecretBlob(blob)
					reply, err = l.popSASL("XOAUTH2", blob, form.oneLine)
				case form.authPlan:
					pw, _ := s.password(s.ctx)
					blob := []byte("\x00" + s.t.User + "\x00" + pw)
					s.tr.addSecretBlob(blob)
					reply, err = l.popSASL("PLAIN", blob, true)
				default:
					pw, _ := s.password(s.ctx)
					if reply, err = l.popCommand("USER " + s.t.User); err == nil && strings.HasPrefix(reply, "+OK") {
						s.tr.secretMode(true, 1)
						reply, err = l.popCommand("PASS " + pw)
						s.tr.secretMode(false, 0)
					}
				}
				if err != nil {
					return
				}
				// popSASL never hands back a continuation as the verdict.
				if !isPOPStatus(reply) || (form.mech == XOAUTH2 && (reply == "+" || strings.HasPrefix(reply, "+ "))) {
					t.Fatalf("verdict %q is not a POP status line", reply)
				}
				if st, err := l.popCommand("STAT"); err == nil && !isPOPStatus(st) {
					t.Fatalf("STAT reply %q", st)
				}
			}()
			assertNoCanary(t, s)
		}
	})
}

// FuzzIMAPTagged feeds an arbitrary conversation (lines starting with "C"
// are the client's) to the transcript and extracts tagged replies as the
// probe does for LOGIN, AUTHENTICATE and EXAMINE.
func FuzzIMAPTagged(f *testing.F) {
	f.Add("S* OK ready\nCT1 CAPABILITY\nS* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\nST1 OK done\nCT2 AUTHENTICATE XOAUTH2 dXNlcj0=\nST2 NO AUTHENTICATE failed.\n")
	f.Add("CT3 LOGIN user pass\nS* BYE Session invalidated - AccessTokenExpired\n")
	f.Add("CT4 EXAMINE INBOX\nST4 BAD User is authenticated but not connected.\nST4 OK late\n")
	f.Add("C\nC \nS \nCT5\nST5\nCT6 \nST6 x\n")
	f.Add("CA LOGIN\nSA  OK\nSAB NO\nCa login x\nSa OK\n")
	f.Fuzz(func(t *testing.T, conv string) {
		if len(conv) > maxFuzzInput {
			return
		}
		tr := &transcript{}
		var client, server []string
		for _, line := range strings.Split(conv, "\n") {
			if rest, ok := strings.CutPrefix(line, "C"); ok {
				tr.write(dirClient, []byte(rest+"\r\n"))
				client = append(client, rest)
			} else {
				rest := strings.TrimPrefix(line, "S")
				tr.write(dirServer, []byte(rest+"\r\n"))
				server = append(server, rest)
			}
		}
		s := &session{tr: tr}
		for _, verb := range []string{"", "LOGIN", "AUTHENTICATE", "EXAMINE", "CAPABILITY"} {
			got := s.imapTagged(0, verb)
			if got == "" {
				continue
			}
			if !slices.Contains(server, got) {
				t.Fatalf("%s: %q is not a server line", verb, got)
			}
			// The tag is the first client line's with this verb.
			tag := ""
			for _, c := range client {
				if f := strings.Fields(c); len(f) >= 2 && (verb == "" || strings.EqualFold(f[1], verb)) {
					tag = f[0]
					break
				}
			}
			if tag == "" || !strings.HasPrefix(got, tag+" ") {
				t.Fatalf("%s: %q does not answer tag %q", verb, got, tag)
			}
		}
		caps := imapCapsLine(s.tr.serverLines(0), imap.CapSet{})
		for _, c := range caps {
			if c == "" || strings.ContainsAny(c, " \n") {
				t.Fatalf("capability %q", c)
			}
		}
	})
}

// FuzzIMAPCommand runs the hand-written IMAP exchange used before STARTTLS
// (greeting, CAPABILITY, STARTTLS) against an arbitrary server stream.
func FuzzIMAPCommand(f *testing.F) {
	f.Add([]byte("* OK ready\r\n* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nx1 OK done\r\nx2 OK Begin TLS\r\n"))
	f.Add([]byte("* OK\r\nx1 NO\r\n"))
	f.Add([]byte("* OK\r\n* CAPABILITY\r\ngarbage\r\n"))
	f.Add([]byte("* OK\r\nx1"))
	f.Fuzz(func(t *testing.T, server []byte) {
		if len(server) > maxFuzzInput {
			return
		}
		s, l := fuzzSession(t, IMAP, Basic, server)
		if _, err := l.readLine(); err != nil {
			return
		}
		for _, cmd := range []string{"x1 CAPABILITY", "x2 STARTTLS"} {
			tag, _, _ := strings.Cut(cmd, " ")
			reply, err := l.imapCommand(cmd, func(line string) {
				if !strings.HasPrefix(line, "* ") {
					t.Fatalf("untagged callback got %q", line)
				}
			})
			if err != nil {
				break
			}
			if !strings.HasPrefix(reply, tag+" ") {
				t.Fatalf("%s: reply %q", cmd, reply)
			}
		}
		assertNoCanary(t, s)
	})
}

// FuzzSMTPReplies reads replies (multi-line ones joined) from an arbitrary
// server stream, and extracts the first reply from the transcript as the
// probe does after AUTH (skipping 334 continuations).
func FuzzSMTPReplies(f *testing.F) {
	f.Add([]byte("220 mx ESMTP\r\n250-mx\r\n250-AUTH LOGIN XOAUTH2\r\n250 SIZE 1\r\n334 VXNlcm5hbWU6\r\n535 5.7.3 Authentication unsuccessful\r\n"))
	f.Add([]byte("535-5.7.139 first\r\n535 5.7.139 second\r\n501 5.5.2 stray\r\n"))
	f.Add([]byte("250\r\n25O bad\r\n"))
	f.Add([]byte("334 \r\n334\r\n235 2.7.0 Authentication successful\r\n"))
	f.Add([]byte("250-a\r\n250-b"))
	f.Add([]byte("220-\r\n\r\n220 x\r\n"))
	f.Fuzz(func(t *testing.T, server []byte) {
		if len(server) > maxFuzzInput {
			return
		}
		s, l := fuzzSession(t, SMTP, Basic, server)
		for i := 0; i < 50; i++ {
			reply, err := l.smtpReply()
			if err != nil {
				break
			}
			lines := strings.Split(reply, "\n")
			if len(lines) > 1001 {
				t.Fatalf("%d lines", len(lines))
			}
			for j, ln := range lines {
				if !validSMTPLine(ln) {
					t.Fatalf("line %q of reply %q", ln, reply)
				}
				last := len(ln) == 3 || ln[3] == ' '
				if last != (j == len(lines)-1) {
					t.Fatalf("reply %q: line %d %q ends it wrongly", reply, j, ln)
				}
			}
			if c := smtpCode(reply); c < 0 || c > 999 {
				t.Fatalf("code %d", c)
			}
			_ = ehloCaps(reply)
		}
		// The verdict of AUTH never is a continuation.
		for _, skip := range []bool{false, true} {
			r := s.smtpFirstReply(0, skip)
			if r == "" {
				continue
			}
			lines := strings.Split(r, "\n")
			last := lines[len(lines)-1]
			if !validSMTPLine(last) || !(len(last) == 3 || last[3] == ' ') {
				t.Fatalf("first reply %q does not end with a final line", r)
			}
			if skip && strings.HasPrefix(last, "334") {
				t.Fatalf("skip334 returned a continuation %q", r)
			}
		}
		assertNoCanary(t, s)
	})
}

// FuzzTranscript writes arbitrary chunks in both directions, switching
// credential mode on and off, with the canary (marked \xff) and its base64
// (\xfe) spliced in anywhere: no line may show either.
func FuzzTranscript(f *testing.F) {
	f.Add([]byte("C a1 LOGIN user \xff\n|S a1 NO LOGIN failed.\r\n"), uint16(0b1), uint8(3))
	f.Add([]byte("C AUTH LOGIN\r\n|S 334 VXNlcm5hbWU6\r\n|C \xfe\r\n|C *\r\n|S 535 \xff\r\n"), uint16(0b110), uint8(2))
	f.Add([]byte("C PASS \xff|C \r\n|S +OK\r|S \n"), uint16(0b11), uint8(1))
	f.Add([]byte("S \xff\xff\xfe\n|C \xff"), uint16(0xffff), uint8(9))
	canaryB64 := base64.StdEncoding.EncodeToString([]byte(fuzzCanary))
	f.Fuzz(func(t *testing.T, data []byte, secretBits uint16, keep uint8) {
		if len(data) > maxFuzzInput {
			return
		}
		tr := &transcript{}
		tr.addSecret(fuzzCanary)
		for i, chunk := range bytes.Split(data, []byte("|")) {
			if len(chunk) == 0 {
				continue
			}
			tr.secretMode(secretBits&(1<<(i%16)) != 0, int(keep%8))
			dir := dirServer
			if chunk[0] == 'C' {
				dir = dirClient
			}
			chunk = bytes.ReplaceAll(chunk[1:], []byte{0xff}, []byte(fuzzCanary))
			chunk = bytes.ReplaceAll(chunk, []byte{0xfe}, []byte(canaryB64))
			tr.write(dir, chunk)
		}
		for _, l := range tr.finish() {
			if strings.Contains(l, fuzzCanary) || strings.Contains(l, canaryB64) {
				t.Fatalf("canary in transcript line %.200q", l)
			}
			if !strings.HasPrefix(l, "C: ") && !strings.HasPrefix(l, "S: ") {
				t.Fatalf("line without direction: %.80q", l)
			}
		}
	})
}

// TestLongLines: a server line past the 64 KiB bound ends the attempt as a
// malformed reply; the transcript cuts a line that arrives in pieces at
// that bound and keeps at most maxTranscript bytes of an endless stream;
// the canary stays out either way.
func TestLongLines(t *testing.T) {
	s, l := fuzzSession(t, POP, Basic, append([]byte("+OK "), bytes.Repeat([]byte("x"), 70<<10)...))
	if err := l.popGreeting(); err == nil || s.a.ErrorKind != ErrProtocol || s.a.Limit == nil || s.a.Limit.Name != LimitLineBytes || !strings.Contains(s.a.Error, "line_bytes") {
		t.Fatalf("err %v kind %q %q", err, s.a.ErrorKind, s.a.Error)
	}
	tr := &transcript{}
	tr.addSecret(fuzzCanary)
	tr.secretMode(true, 1)
	tr.write(dirClient, []byte("PASS "+fuzzCanary+strings.Repeat("y", 70<<10)+"\n"))
	tr.secretMode(false, 0)
	chunk := []byte(strings.Repeat("z", 4096))
	for range 3 * maxTranscript / len(chunk) {
		tr.write(dirServer, chunk)
	}
	lines := tr.finish()
	size := 0
	for _, ln := range lines {
		size += len(ln)
		if len(ln) > 64<<10+len(chunk)+8 || strings.Contains(ln, fuzzCanary) {
			t.Fatalf("line of %d bytes, canary %v", len(ln), strings.Contains(ln, fuzzCanary))
		}
	}
	if size > maxTranscript+200 || !strings.Contains(lines[len(lines)-1], "more lines not kept") {
		t.Fatalf("%d lines, %d bytes, last %.80q", len(lines), size, lines[len(lines)-1])
	}
}

// After the server's tagged reply to AUTHENTICATE, the client's next
// command is shown in clear even when it goes out before the probe ends
// secret mode (go-imap sends CAPABILITY from its own goroutine); the
// credential line before it stays redacted.
func TestTranscriptSecretModeEndsAtTaggedReply(t *testing.T) {
	tr := &transcript{}
	blob := "dXNlcj1zY2FubmVyQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIGNhbmFyeQEB"
	tr.secretMode(true, 3)
	tr.write(dirClient, []byte("T2 AUTHENTICATE XOAUTH2 "+blob+"\r\n"))
	tr.write(dirServer, []byte("T2 OK AUTHENTICATE completed.\r\n"))
	tr.write(dirClient, []byte("T3 CAPABILITY\r\n"))
	tr.secretMode(false, 0)
	got := strings.Join(tr.finish(), "\n")
	want := "C: T2 AUTHENTICATE XOAUTH2 " + redacted + "\nS: T2 OK AUTHENTICATE completed.\nC: T3 CAPABILITY"
	if got != want {
		t.Fatalf("transcript\n%s\nwant\n%s", got, want)
	}
	// Untagged and continuation lines do not end the exchange: the SASL
	// response that follows a challenge stays hidden.
	tr = &transcript{}
	tr.secretMode(true, 2)
	tr.write(dirClient, []byte("T2 AUTHENTICATE PLAIN\r\n"))
	tr.write(dirServer, []byte("+ \r\n* OK still here\r\n"))
	tr.write(dirClient, []byte(blob+"\r\n"))
	if lines := tr.finish(); lines[len(lines)-1] != "C: "+redacted {
		t.Fatalf("SASL response after a continuation: %q", lines)
	}
}
