package probe

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runBounded runs one probe with deadline d in its own goroutine and fails
// the test (instead of hanging it) when Run does not return by d plus a
// slack for a loaded -race run.
func runBounded(t *testing.T, d time.Duration, c Check) Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan Attempt, 1)
	start := time.Now()
	go func() { done <- Run(ctx, c) }()
	select {
	case a := <-done:
		if el := time.Since(start); el > d+time.Second {
			t.Errorf("Run took %v with a %v deadline", el, d)
		}
		return a
	case <-time.After(d + 3*time.Second):
		t.Fatalf("Run did not return %v after its %v deadline", 3*time.Second, d)
	}
	return Attempt{}
}

// TestIMAPCapabilityParen reproduces go-imap v2 beta.8's endless loop:
// capability data with "(" (in the greeting's response code or in a
// CAPABILITY reply) makes its decoder spin on "for dec.SP() {}". The probe
// must end by its deadline with a protocol error, not hang.
func TestIMAPCapabilityParen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage Stage
		srv   func(c *fconn)
	}{
		{"greeting-code", StageGreeting, func(c *fconn) {
			c.send("* OK [CAPABILITY IMAP4rev1 (AUTH=PLAIN] ready")
			c.hang()
		}},
		{"capability-reply", StageCapability, func(c *fconn) {
			c.send("* OK ready")
			l := c.recv()
			c.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN (x", tag(l)+" OK done")
			c.hang()
		}},
		{"tagged-code", StageCapability, func(c *fconn) {
			c.send("* OK ready")
			l := c.recv()
			c.send(tag(l) + " OK [CAPABILITY IMAP4rev1 ( ] done")
			c.hang()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, true, tc.srv)
			defer f.Close()
			a := runBounded(t, 2*time.Second, Check{Target: testTarget(f.addr, IMAP), Protocol: IMAP, Mechanism: Basic})
			if a.OK || a.ErrorKind != ErrProtocol || a.Stage != tc.stage || !strings.Contains(a.Error, "(") ||
				a.Limit == nil || a.Limit.Name != LimitIMAPCapabilitySyntax {
				t.Fatalf("attempt: ok %v stage %s kind %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, strings.Join(a.Transcript, "\n"))
			}
		})
	}
}

// blockingToken is a token source that ignores its context, as a library
// call that never returns would: Run must still end by its deadline.
type blockingToken struct{ release chan struct{} }

func (b blockingToken) Token(context.Context) (Token, error) {
	<-b.release
	return Token{}, &TokenError{Flow: "static", Err: context.Canceled}
}

func TestRunAbandonsAStuckLibraryCall(t *testing.T) {
	f := newFake(t, true, func(c *fconn) {
		c.send("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready")
		c.hang()
	})
	defer f.Close()
	tg := testTarget(f.addr, IMAP)
	release := make(chan struct{})
	defer close(release) // lets the abandoned goroutine end with the test
	tg.Token = blockingToken{release}
	before := Abandoned()
	const d = 500 * time.Millisecond
	start := time.Now()
	a := runBounded(t, d, Check{Target: tg, Protocol: IMAP, Mechanism: XOAUTH2})
	el := time.Since(start)
	if a.OK || a.ErrorKind != ErrTimeout || a.Stage != StageToken || !strings.Contains(a.Error, "abandoned") {
		t.Fatalf("attempt: ok %v stage %s kind %q err %q", a.OK, a.Stage, a.ErrorKind, a.Error)
	}
	if Abandoned() != before+1 {
		t.Errorf("Abandoned() = %d, want %d", Abandoned(), before+1)
	}
	if len(a.Transcript) == 0 || a.Target != "t" || a.Protocol != IMAP {
		t.Errorf("abandoned attempt lost its record: %+v", a)
	}
	t.Logf("returned after %v with a %v deadline", el, d)
}

// endless returns a script that runs lead (the normal conversation up to
// the hostile point) and then writes chunk until the client goes away,
// counting what it managed to write.
func endless(lead func(c *fconn), chunk string, wrote *atomic.Int64) func(*fconn) {
	return func(c *fconn) {
		lead(c)
		b := []byte(chunk)
		for {
			n, err := c.c.Write(b)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

type hostileCase struct {
	name     string
	p        Protocol
	implicit bool // implicit TLS (IMAP 993, POP 995); SMTP uses STARTTLS
	lead     func(c *fconn)
	chunk    string
	stage    Stage
	limit    string
}

var hostileCases = []hostileCase{
	{"imap-993-endless-greeting-line", IMAP, true, func(c *fconn) { c.c.Write([]byte("* OK ")) },
		strings.Repeat("x", 4096), StageGreeting, LimitLineBytes},
	{"imap-993-100MB-capability-line", IMAP, true, func(c *fconn) {
		c.send("* OK ready")
		c.recv()
		c.c.Write([]byte("* CAPABILITY IMAP4rev1"))
	}, strings.Repeat(" AUTH=PLAIN", 400), StageCapability, LimitLineBytes},
	{"imap-993-endless-untagged-lines", IMAP, true, func(c *fconn) {
		c.send("* OK ready")
		c.recv()
	}, strings.Repeat("* OK still thinking\r\n", 200), StageCapability, LimitStageLines},
	{"pop-995-endless-capa", POP, true, func(c *fconn) {
		c.send("+OK ready")
		c.recv()
		c.send("+OK")
	}, strings.Repeat("X-ENDLESS-CAPABILITY\r\n", 200), StageCapability, LimitStageLines},
	{"pop-995-long-capa-lines", POP, true, func(c *fconn) {
		c.send("+OK ready")
		c.recv()
		c.send("+OK")
	}, strings.Repeat("y", 2000) + "\r\n", StageCapability, LimitStageBytes},
	{"smtp-587-endless-ehlo-after-starttls", SMTP, false, func(c *fconn) {
		c.send("220 mx ready")
		c.recv()
		c.send("250-mx", "250 STARTTLS")
		c.recv()
		c.send("220 go ahead")
		c.startTLS()
		c.recv()
	}, strings.Repeat("250-AUTH LOGIN XOAUTH2\r\n", 200), StageCapability, LimitStageLines},
	{"smtp-587-endless-greeting", SMTP, false, func(c *fconn) { c.c.Write([]byte("220-")) },
		strings.Repeat("z", 4096), StageGreeting, LimitLineBytes},
}

// TestHostileServersBounded: servers that never stop talking end the
// attempt at the stage they did it in, as a protocol error naming the
// limit, long before the deadline, having cost the process a few MB.
func TestHostileServersBounded(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			var wrote atomic.Int64
			f := newFake(t, tc.implicit, endless(tc.lead, tc.chunk, &wrote))
			defer f.Close()
			const d = 10 * time.Second
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			a := runBounded(t, d, Check{Target: testTarget(f.addr, tc.p), Protocol: tc.p, Mechanism: Basic})
			el := time.Since(start)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			if a.OK || a.ErrorKind != ErrProtocol || a.Stage != tc.stage || a.Limit == nil || a.Limit.Name != tc.limit ||
				!strings.Contains(a.Error, tc.limit) {
				t.Fatalf("attempt: ok %v stage %s kind %q limit %+v err %q\n%.2000s", a.OK, a.Stage, a.ErrorKind, a.Limit, a.Error, strings.Join(a.Transcript, "\n"))
			}
			// The limit ends it, not the deadline.
			if el > d/2 {
				t.Errorf("took %v", el)
			}
			// Everything the process allocated meanwhile, the server's
			// side included: a few MB, where an unbounded reader grows
			// by the server's throughput (GB in seconds over loopback).
			if alloc > 8<<20 {
				t.Errorf("allocated %d KiB during the attempt", alloc>>10)
			}
			size := 0
			for _, l := range a.Transcript {
				size += len(l)
			}
			t.Logf("%s: %v, %d KiB allocated, server wrote %d KiB, transcript %d KiB, %s", tc.name, el.Round(time.Millisecond), alloc>>10, wrote.Load()>>10, size>>10, a.Error)
		})
	}
}

// BenchmarkHostileServer reports what one probe against each hostile
// server costs: time and bytes allocated per probe (B/op), the server's
// side included.
func BenchmarkHostileServer(b *testing.B) {
	for _, tc := range hostileCases {
		b.Run(tc.name, func(b *testing.B) {
			var wrote atomic.Int64
			f := newFake(b, tc.implicit, endless(tc.lead, tc.chunk, &wrote))
			defer f.Close()
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				a := Run(ctx, Check{Target: testTarget(f.addr, tc.p), Protocol: tc.p, Mechanism: Basic})
				cancel()
				if a.Limit == nil || a.Limit.Name != tc.limit {
					b.Fatalf("stage %s kind %q err %q", a.Stage, a.ErrorKind, a.Error)
				}
			}
			b.ReportMetric(float64(wrote.Load())/float64(b.N), "server-bytes/op")
		})
	}
}

// partial writes s without a line end.
func (c *fconn) partial(s string) {
	if _, err := c.c.Write([]byte(s)); err != nil {
		panic(err)
	}
}

// TestPartialLineIsNotAReply: a line the server leaves unfinished when the
// deadline comes or the connection closes is not a reply. A greeting cut
// off and followed by silence is a timeout at stage greeting; a "+OK" or
// "235" cut off by EOF after the credentials is no login.
func TestPartialLineIsNotAReply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        Protocol
		implicit bool
		startTLS bool
		script   func(c *fconn)
		stage    Stage
		kind     ErrorKind
	}{
		{"imap-993-greeting-timeout", IMAP, true, false, func(c *fconn) { c.partial("* OK ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"imap-143-greeting-timeout", IMAP, false, true, func(c *fconn) { c.partial("* OK ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"pop-995-greeting-timeout", POP, true, false, func(c *fconn) { c.partial("+OK ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"pop-110-greeting-timeout", POP, false, true, func(c *fconn) { c.partial("+OK ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"smtp-587-greeting-timeout", SMTP, false, false, func(c *fconn) { c.partial("220 mx ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"smtp-465-greeting-timeout", SMTP, true, false, func(c *fconn) { c.partial("220 mx ready"); c.hang() }, StageGreeting, ErrTimeout},
		{"pop-995-capa-timeout", POP, true, false, func(c *fconn) {
			c.send("+OK ready")
			c.recv()
			c.send("+OK", "USER")
			c.partial(".")
			c.hang()
		}, StageCapability, ErrTimeout},
		{"pop-995-pass-eof", POP, true, false, func(c *fconn) {
			c.send("+OK ready")
			c.recv()
			c.send("-ERR no CAPA")
			c.recv()
			c.send("+OK send PASS")
			c.recv()
			c.partial("+OK logged in")
		}, StageAuth, ErrConnect},
		{"smtp-465-auth-eof", SMTP, true, false, func(c *fconn) {
			c.send("220 mx ready")
			c.recv()
			c.send("250-mx", "250 AUTH LOGIN")
			c.recv()
			c.send("334 VXNlcm5hbWU6")
			c.recv()
			c.send("334 UGFzc3dvcmQ6")
			c.recv()
			c.partial("235 2.7.0 Authentication successful")
		}, StageAuth, ErrConnect},
		{"imap-993-login-eof", IMAP, true, false, func(c *fconn) {
			c.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")
			l := c.recv()
			c.partial(tag(l) + " OK LOGIN completed")
		}, StageAuth, ErrConnect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.implicit, tc.script)
			defer f.Close()
			tg := testTarget(f.addr, tc.p)
			tg.IMAPStartTLS = tc.p == IMAP && tc.startTLS
			tg.POPStartTLS = tc.p == POP && tc.startTLS
			tg.SMTPImplicitTLS = tc.p == SMTP && tc.implicit
			a := runBounded(t, time.Second, Check{Target: tg, Protocol: tc.p, Mechanism: Basic})
			if a.OK || a.Stage != tc.stage || a.ErrorKind != tc.kind {
				t.Fatalf("attempt: ok %v stage %s kind %q err %q reply %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, a.Reply, strings.Join(a.Transcript, "\n"))
			}
		})
	}
}

type limitToken struct{}

func (limitToken) Token(context.Context) (Token, error) {
	return Token{}, &TokenError{Flow: "client_credentials", Err: &LimitError{Stage: StageToken, Name: LimitHTTPBodyByte, Max: MaxHTTPBodyBytes}}
}

// A token endpoint whose body was cut at the limit (probe/token) ends the
// attempt at stage token as a protocol error naming the limit.
func TestTokenBodyLimit(t *testing.T) {
	f := newFake(t, true, func(c *fconn) {
		c.send("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready")
		c.hang()
	})
	defer f.Close()
	tg := testTarget(f.addr, IMAP)
	tg.Token = limitToken{}
	a := runBounded(t, 3*time.Second, Check{Target: tg, Protocol: IMAP, Mechanism: XOAUTH2})
	if a.Stage != StageToken || a.ErrorKind != ErrProtocol || a.Limit == nil || a.Limit.Name != LimitHTTPBodyByte || a.Token == nil || a.Token.Flow != "client_credentials" {
		t.Fatalf("stage %s kind %q limit %+v token %+v err %q", a.Stage, a.ErrorKind, a.Limit, a.Token, a.Error)
	}
}
