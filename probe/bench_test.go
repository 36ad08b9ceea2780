package probe_test

import (
	"context"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/sim"
)

// BenchmarkProbe measures one full probe (connect, TLS, greeting,
// capabilities, auth, mailbox command, logout) against the in-process
// emulator over loopback TLS. Basic IMAP/POP are re-enabled in the emulated
// tenant so that every case measures a successful login; XOAUTH2 uses the
// cached token, as probes do in production.
func BenchmarkProbe(b *testing.B) {
	s, tg := simTarget(b)
	if out, err := s.Exec(context.Background(), "Set-SimTenant -PropagationDelay 0"); err != nil {
		b.Logf("no propagation-delay knob (%v %s); waiting for the default", err, out)
	}
	for _, l := range []string{
		"Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false",
		"Set-AuthenticationPolicy -Identity 'Allow SMTP Basic' -AllowBasicAuthImap -AllowBasicAuthPop",
		"Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
	} {
		if out, err := s.Exec(context.Background(), l); err != nil {
			b.Fatalf("%s: %v %s", l, err, out)
		}
	}
	waitBasic(b, s, tg)
	for _, p := range probe.Protocols {
		for _, m := range probe.Mechanisms {
			b.Run(string(p)+"/"+string(m), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					a := probe.Run(cctx, probe.Check{Target: tg, Protocol: p, Mechanism: m})
					cancel()
					if !a.OK {
						b.Fatalf("%s/%s: stage %s %q %q", p, m, a.Stage, a.Reply, a.Error)
					}
				}
			})
		}
	}
}

// waitBasic waits until the policy change reached the emulated user (the
// emulator models Exchange's propagation delay).
func waitBasic(b *testing.B, s *sim.Sim, tg *probe.Target) {
	deadline := time.Now().Add(60 * time.Second)
	var last probe.Attempt
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a := probe.Run(ctx, probe.Check{Target: tg, Protocol: probe.IMAP, Mechanism: probe.Basic})
		cancel()
		if a.OK {
			return
		}
		last = a
		time.Sleep(200 * time.Millisecond) // polling an external state, not synchronising goroutines
	}
	b.Fatalf("Basic IMAP never became available in the emulator: %s %q %q", last.Stage, last.Reply, last.Error)
}
