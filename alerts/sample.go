package alerts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Sample is the notification `exoprobe alerts test` sends: a made-up
// tenant-wide SMTP AUTH regression, marked as a test in its title.
func Sample(sink, statusURL string, now time.Time) Notification {
	since := now.Add(-3 * time.Minute).UTC().Truncate(time.Second)
	m := Member{CheckID: "scanner/smtp/basic", Target: "scanner", User: "scanner@contoso.com", Protocol: "smtp",
		Mechanism: "basic", Expect: scheduler.ExpectOK, Kind: scheduler.EventRegressed,
		Cause: diagnose.CauseSMTPAuthDisabledTenant, Since: since, New: true,
		Reply:      "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
		Confidence: diagnose.Definitive}
	return Notification{ID: fmt.Sprintf("test-%d-%08x", now.Unix(), rand.Uint32()), Sink: sink,
		GroupKey: "test/contoso.com", Kind: KindTest, Status: StatusFiring, Problem: string(m.Cause),
		Scope: "contoso.com", Time: now, StartsAt: since, Firing: []Member{m}, Resolved: []Member{},
		StatusURL: statusURL}
}

// SendTest sends the sample to one sink, retrying temporary failures with
// the same backoff as the outbox for up to tries tries.
func SendTest(ctx context.Context, s Sink, statusURL string, tries int, b Backoff) error {
	n := Sample(s.Name, statusURL, time.Now())
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var err error
	for i := 1; i <= max(tries, 1); i++ {
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
