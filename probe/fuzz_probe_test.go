package probe

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Whole-probe fuzz targets: one per protocol. Each input scripts a server
// on 127.0.0.1 and Run drives a complete probe (connect, TLS, greeting,
// capabilities, STARTTLS, auth, mailbox command, logout) against it. The
// contract checked is the one a hostile server must not break: Run returns
// by its deadline plus 100 ms (plus however late the loaded machine ran a
// plain timer set for the same deadline) and never panics (Run turns a panic into an
// "internal error" attempt, which fails the target). CI runs each briefly
// (scripts/test); locally, e.g.
//
//	go test -run '^$' -fuzz '^FuzzIMAPProbe$' -fuzztime 60s ./probe
//
// Input format: the first byte holds the knobs (probeKnobs), the rest is the
// server's script, chunks separated by 0xFF. Chunk 0 is sent on connect;
// each later chunk answers one line from the client, with "$T" replaced by
// the tag of the last client command (so IMAP scripts can answer go-imap's
// tags, also after SASL continuation lines). After a
// client line STARTTLS or STLS the server starts TLS once the answer is
// sent. When the script runs out the server hangs or hangs up (knob).

// fuzzProbeDeadline is short so that a hanging script costs little.
const fuzzProbeDeadline = 300 * time.Millisecond

// probeKnobs decodes the first input byte.
type probeKnobs struct {
	implicitTLS    bool // IMAP 993 / POP 995 / SMTP 465, else STARTTLS
	xoauth2        bool
	hangAtEnd      bool // else close when the script runs out
	allowPlaintext bool
}

func knobs(b byte) probeKnobs {
	return probeKnobs{implicitTLS: b&1 != 0, xoauth2: b&2 != 0, hangAtEnd: b&4 != 0, allowPlaintext: b&8 != 0}
}

// scriptServer answers from chunks.
func scriptServer(chunks [][]byte, k probeKnobs) func(*fconn) {
	return func(c *fconn) {
		c.c.SetDeadline(time.Now().Add(5 * time.Second)) // a stuck test server ends anyway
		last, lastTag := "", ""
		for i, ch := range chunks {
			if i > 0 {
				last = c.recv()
				if tg := tag(last); tg != "" && strings.Contains(last, " ") {
					lastTag = tg
				}
			}
			ch = bytes.ReplaceAll(ch, []byte("$T"), []byte(lastTag))
			if _, err := c.c.Write(ch); err != nil {
				return
			}
			if v := strings.ToUpper(last); strings.HasSuffix(v, "STARTTLS") || v == "STLS" {
				c.startTLS()
			}
		}
		if k.hangAtEnd {
			c.hang()
		}
	}
}

func fuzzWholeProbe(t *testing.T, p Protocol, data []byte) {
	if len(data) == 0 || len(data) > maxFuzzInput {
		return
	}
	k := knobs(data[0])
	chunks := bytes.Split(data[1:], []byte{0xff})
	f := newFake(t, k.implicitTLS, scriptServer(chunks, k))
	defer f.Close()
	tg := testTarget(f.addr, p)
	tg.IMAPStartTLS = p == IMAP && !k.implicitTLS
	tg.POPStartTLS = p == POP && !k.implicitTLS
	tg.SMTPImplicitTLS = p == SMTP && k.implicitTLS
	tg.AllowPlaintext = k.allowPlaintext
	tg.SMTPSubmitCheck = true
	mech := Basic
	if k.xoauth2 {
		mech = XOAUTH2
	}
	ctx, cancel := context.WithTimeout(context.Background(), fuzzProbeDeadline)
	defer cancel()
	start := time.Now()
	// A reference timer set for the deadline measures how late this
	// process gets to run at all (2 shared cores, other jobs): that
	// lateness is the machine's, not the probe's, and is not held against
	// the 100 ms.
	var fired atomic.Int64
	ref := time.AfterFunc(fuzzProbeDeadline, func() { fired.Store(time.Now().UnixNano()) })
	defer ref.Stop()
	a := Run(ctx, Check{Target: tg, Protocol: p, Mechanism: mech})
	el := time.Since(start)
	late := el - fuzzProbeDeadline // the reference has not even fired yet
	if f := fired.Load(); f != 0 {
		late = time.Unix(0, f).Sub(start) - fuzzProbeDeadline
	}
	if el > fuzzProbeDeadline+100*time.Millisecond+max(late, 0) {
		t.Fatalf("Run took %v with a %v deadline; the process itself ran %v late (stage %s, %q)", el, fuzzProbeDeadline, late, a.Stage, a.Error)
	}
	if testing.Verbose() {
		t.Logf("ok %v stage %s kind %q limit %v err %.120q", a.OK, a.Stage, a.ErrorKind, a.Limit, a.Error)
	}
	if strings.Contains(a.Error, "internal error") {
		t.Fatalf("probe panicked: %s", a.Error)
	}
	if a.Limit != nil && a.ErrorKind != ErrProtocol {
		t.Fatalf("limit %+v with error kind %q", a.Limit, a.ErrorKind)
	}
	if a.OK && a.ErrorKind != ErrNone {
		t.Fatalf("ok attempt with error kind %q", a.ErrorKind)
	}
}

// seed builds an input from knobs and chunks.
func seed(k byte, chunks ...string) []byte {
	return append([]byte{k}, []byte(strings.Join(chunks, "\xff"))...)
}

func FuzzIMAPProbe(f *testing.F) {
	okLogin := []string{
		"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR] ready\r\n",
		"$T OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed.\r\n",
		"* 0 EXISTS\r\n* FLAGS (\\Seen)\r\n$T OK [READ-ONLY] EXAMINE completed.\r\n",
		"* BYE\r\n$T OK LOGOUT completed.\r\n",
	}
	f.Add(seed(1, okLogin...))
	f.Add(seed(3, okLogin...))
	f.Add(seed(1, "* OK [CAPABILITY IMAP4rev1 (AUTH=PLAIN] ready\r\n"))
	f.Add(seed(5, "* OK ready\r\n", "* CAPABILITY IMAP4rev1 (x\r\n$T OK done\r\n"))
	f.Add(seed(1, "* OK ready\r\n", "$T OK [CAPABILITY IMAP4rev1 ( ] done\r\n"))
	f.Add(seed(0, "* OK ready\r\n", "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n$T OK done\r\n", "$T OK Begin TLS\r\n",
		"* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2\r\n$T OK done\r\n", "$T NO AUTHENTICATE failed.\r\n"))
	f.Add(seed(8, "* OK ready\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$T OK done\r\n", "$T OK LOGIN completed.\r\n"))
	f.Add(seed(7, "* OK ready"))
	f.Add(seed(3, "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n", "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n", "$T NO AUTHENTICATE failed.\r\n"))
	f.Add(seed(1, "* PREAUTH ready\r\n"))
	f.Add(seed(1, "* OK ready\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n* 1 FETCH (BODY[] {5}\r\nab)\r\n$T OK\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWholeProbe(t, IMAP, data) })
}

func FuzzPOPProbe(f *testing.F) {
	f.Add(seed(1, "+OK ready\r\n", "+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\n.\r\n", "+OK\r\n", "+OK logged in\r\n", "+OK 0 0\r\n", "+OK bye\r\n"))
	f.Add(seed(3, "+OK ready\r\n", "+OK\r\nSASL XOAUTH2\r\n.\r\n", "+ \r\n", "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n", "-ERR Authentication failure\r\n"))
	f.Add(seed(0, "+OK ready\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK Begin TLS\r\n", "+OK\r\nUSER\r\n.\r\n", "+OK\r\n", "-ERR Logon failure: unknown user name or bad password.\r\n"))
	f.Add(seed(8, "+OK ready\r\n", "-ERR\r\n", "+OK\r\n", "+OK\r\n", "+OK 1 2\r\n"))
	f.Add(seed(5, "+OK ready\r\n", "+OK\r\n"+strings.Repeat("CAP\r\n", 200)))
	f.Add(seed(1, "+OK ready\r\n", "+OK\r\n.", ""))
	f.Add(seed(1, "-ERR Server Unavailable. 21\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWholeProbe(t, POP, data) })
}

func FuzzSMTPProbe(f *testing.F) {
	f.Add(seed(0, "220 mx ESMTP\r\n", "250-mx\r\n250-STARTTLS\r\n250 SIZE 1\r\n", "220 2.0.0 SMTP server ready\r\n",
		"250-mx\r\n250-AUTH LOGIN XOAUTH2\r\n250 SIZE 1\r\n", "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n",
		"235 2.7.0 Authentication successful\r\n", "250 2.1.0 Sender OK\r\n", "250 2.1.5 Recipient OK\r\n", "250 2.0.0 Resetting\r\n", "221 bye\r\n"))
	f.Add(seed(1, "220 mx ESMTP\r\n", "250-mx\r\n250 AUTH LOGIN XOAUTH2\r\n", "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n",
		"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.\r\n"))
	f.Add(seed(3, "220 mx ESMTP\r\n", "250-mx\r\n250 AUTH XOAUTH2\r\n", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n", "535 5.7.3 Authentication unsuccessful\r\n"))
	f.Add(seed(8, "220 mx\r\n", "250 mx\r\n", "250-mx\r\n250 AUTH PLAIN\r\n", "235 ok\r\n"))
	f.Add(seed(4, "220 mx ESMTP\r\n", "250-mx\r\n"+strings.Repeat("250-X\r\n", 300)))
	f.Add(seed(1, "220 mx ESMTP\r\n", "250-mx\r\n250 AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "235 2.7.0 ok"))
	f.Add(seed(5, "220-mx"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWholeProbe(t, SMTP, data) })
}
