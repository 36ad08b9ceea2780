package probe

import (
	"context"
	"strings"
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
			if a.OK || a.ErrorKind != ErrProtocol || a.Stage != tc.stage || !strings.Contains(a.Error, "(") {
				t.Fatalf("attempt: ok %v stage %s kind %q err %q\n%s", a.OK, a.Stage, a.ErrorKind, a.Error, strings.Join(a.Transcript, "\n"))
			}
		})
	}
}
