package alerts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// TestAlertTTL bounds how long a sample alert can stay open in a receiver
// that resolves by time (Alertmanager's endsAt) should its resolve be lost.
const TestAlertTTL = 5 * time.Minute

// Sample is the notification `exoprobe alerts test` sends: a made-up
// tenant-wide SMTP AUTH regression, so every part of a real message (facts,
// server reply, remedy) is exercised, but unmistakable as a test wherever
// it lands: kind "test", a title starting "exoprobe test alert", a made-up
// target "exoprobe-test" labelled test="true" (Alertmanager and PagerDuty
// routes can drop it by that label), and Alertmanager's alertname
// ExoprobeTestAlert, not that of a real alert.
func Sample(sink, statusURL string, now time.Time) Notification {
	since := now.Add(-3 * time.Minute).UTC().Truncate(time.Second)
	m := Member{CheckID: "exoprobe-test/smtp/basic", Target: "exoprobe-test", User: "exoprobe-test@contoso.com",
		Labels: map[string]string{"test": "true"}, Protocol: "smtp", Mechanism: "basic", Expect: scheduler.ExpectOK,
		Kind: KindTest, Cause: diagnose.CauseSMTPAuthDisabledTenant, Since: since, New: true,
		Reply:      "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
		Confidence: diagnose.Definitive}
	return Notification{ID: fmt.Sprintf("test-%d-%08x", now.Unix(), rand.Uint32()), Sink: sink,
		GroupKey: "test/contoso.com", Kind: KindTest, Status: StatusFiring, Problem: string(m.Cause),
		Scope: "contoso.com", Time: now, StartsAt: since, Firing: []Member{m}, Resolved: []Member{},
		StatusURL: statusURL}
}

// SampleResolved is the resolve of a sample, sent right after it to sinks
// that keep incidents open until told (see Resolves).
func SampleResolved(firing Notification, now time.Time) Notification {
	n := firing
	n.ID, n.Status, n.Time, n.EndsAt = firing.ID+"-resolved", StatusResolved, now, now
	n.Resolved = make([]Member, len(firing.Firing))
	for i, m := range firing.Firing {
		m.New, m.ResolvedAt, m.NowCause = false, now, diagnose.CauseOK
		n.Resolved[i] = m
	}
	n.Firing = []Member{}
	return n
}

// Resolves reports whether a notifier's receiver keeps what it is sent open
// until it hears a resolve (a PagerDuty incident, an Alertmanager alert),
// as opposed to chat and mail, where a message is just read.
func Resolves(n Notifier) bool {
	switch n.(type) {
	case *PagerDuty, *Alertmanager:
		return true
	}
	return false
}

// SendTest sends the sample to one sink and, for a sink that Resolves,
// its resolve right after, so that the test leaves no incident open. Each
// is retried on temporary failures with the outbox's backoff, for up to
// tries tries. resolved reports whether a resolve was sent.
func SendTest(ctx context.Context, s Sink, statusURL string, tries int, b Backoff) (resolved bool, err error) {
	n := Sample(s.Name, statusURL, time.Now())
	if err := sendTries(ctx, s, n, tries, b); err != nil {
		return false, err
	}
	if !Resolves(s.Notifier) {
		return false, nil
	}
	if err := sendTries(ctx, s, SampleResolved(n, time.Now()), tries, b); err != nil {
		return false, fmt.Errorf("the sample was accepted but its resolve was not: %w", err)
	}
	return true, nil
}

func sendTries(ctx context.Context, s Sink, n Notification, tries int, b Backoff) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tries = max(tries, 1)
	var err error
	for i := 1; i <= tries; i++ {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		var retry bool
		retry, err = s.Notifier.Notify(tctx, []Notification{n})
		cancel()
		if err == nil || !retry || i == tries {
			return err
		}
		t := time.NewTimer(b.Delay(i, rand.Float64()))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}
