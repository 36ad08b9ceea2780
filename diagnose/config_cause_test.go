package diagnose

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// The catalog test's hand-written list gets the cause of config_cause.go
// here, so that the files grow without touching each other.
func init() {
	allCauses = slices.Insert(allCauses, slices.Index(allCauses, CauseUnknown), CauseConfigInvalid)
}

// Issue 8 item 2: a check that cannot run as configured (probe.ErrConfig)
// is a local cause with a local remedy — never unknown, never tenant
// PowerShell — and proves no posture.
func TestConfigErrorIsLocalCause(t *testing.T) {
	attempts := []probe.Attempt{
		probe.Run(context.Background(), probe.Check{Target: &probe.Target{User: "u@contoso.com"}, Protocol: probe.IMAP, Mechanism: probe.Basic}),
		probe.Run(context.Background(), probe.Check{Target: &probe.Target{User: "u@contoso.com"}, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2}),
		probe.Run(context.Background(), probe.Check{Target: &probe.Target{User: "u@contoso.com"}, Protocol: "nntp", Mechanism: probe.Basic}),
	}
	for i, f := range Classify(attempts) {
		a := attempts[i]
		if a.ErrorKind != probe.ErrConfig {
			t.Fatalf("attempt %d: the probe says %s, not a config error: %+v", i, a.ErrorKind, a)
		}
		if f.Cause != CauseConfigInvalid || f.Confidence != Definitive {
			t.Errorf("%s/%s: cause %s %s, want config_invalid definitive", a.Protocol, a.Mechanism, f.Cause, f.Confidence)
		}
		if !strings.Contains(strings.Join(f.Evidence, "\n"), a.Error) {
			t.Errorf("%s/%s: evidence %q does not quote the local error %q", a.Protocol, a.Mechanism, f.Evidence, a.Error)
		}
		if ProvesPosture(f.Cause) {
			t.Errorf("config_invalid proves a posture")
		}
	}
	for _, lang := range []string{"en", "ja"} {
		r := RemedyFor(CauseConfigInvalid, lang, Vars{Mailbox: "u@contoso.com"})
		if len(r.Fix) != 0 || len(r.Inspect) != 0 {
			t.Errorf("%s: a local cause has PowerShell: %q %q", lang, r.Inspect, r.Fix)
		}
		steps := strings.Join(r.Steps, "\n")
		for _, key := range []string{"password_file", "oauth_apps", "hosts:", "--imap-addr"} {
			if !strings.Contains(steps, key) {
				t.Errorf("%s: steps do not name %s:\n%s", lang, key, steps)
			}
		}
	}
	if !Generic(CauseConfigInvalid) {
		t.Error("config_invalid is about our side: any server")
	}
}
