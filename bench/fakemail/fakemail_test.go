package fakemail

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// The benchmark is only meaningful if probe.Run goes through every stage
// against the fake: each of the six checks reaches the stage and outcome it
// would against a 2026 tenant, and the classifier names the causes.
func TestProbeAgainstFake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg := &probe.Target{Name: "t", User: "u@contoso.example", IMAPAddr: s.IMAP, POPAddr: s.POP, SMTPAddr: s.SMTP,
		IMAPStartTLS: true, POPStartTLS: true, AllowPlaintext: true,
		Password: func(context.Context) (string, error) { return "pw", nil },
		Token:    probe.StaticToken("token")}
	cases := []struct {
		p      probe.Protocol
		m      probe.Mechanism
		ok     bool
		stage  probe.Stage
		reply  string
		cause  diagnose.Cause
		method string
	}{
		{probe.IMAP, probe.Basic, false, probe.StageAuth, "", diagnose.CauseBasicAuthDisabled, "LOGIN"},
		{probe.IMAP, probe.XOAUTH2, true, probe.StageDone, "OK [READ-ONLY] EXAMINE completed.", diagnose.CauseOK, "AUTHENTICATE XOAUTH2"},
		{probe.POP, probe.Basic, false, probe.StageAuth, POPBasicRefusal, diagnose.CauseBasicAuthDisabled, ""},
		{probe.POP, probe.XOAUTH2, true, probe.StageDone, "+OK 0 0", diagnose.CauseOK, ""},
		{probe.SMTP, probe.Basic, true, probe.StageDone, "235 2.7.0 Authentication successful", diagnose.CauseOK, ""},
		{probe.SMTP, probe.XOAUTH2, true, probe.StageDone, "235 2.7.0 Authentication successful", diagnose.CauseOK, ""},
	}
	var attempts []probe.Attempt
	for _, c := range cases {
		a := probe.Run(ctx, probe.Check{Target: tg, Protocol: c.p, Mechanism: c.m})
		if a.OK != c.ok || a.Stage != c.stage || !strings.HasSuffix(a.Reply, c.reply) || (c.method != "" && a.AuthMethod != c.method) {
			t.Errorf("%s/%s: ok=%v stage=%s reply=%q method=%q err=%q; want ok=%v stage=%s reply=%q method=%q",
				c.p, c.m, a.OK, a.Stage, a.Reply, a.AuthMethod, a.Error, c.ok, c.stage, c.reply, c.method)
		}
		attempts = append(attempts, a)
	}
	findings := diagnose.Classify(attempts)
	for _, c := range cases {
		got := diagnose.CauseOK
		for _, f := range findings {
			if f.Protocol == string(c.p) && f.Mechanism == string(c.m) {
				got = f.Cause
			}
		}
		if got != c.cause {
			t.Errorf("%s/%s: cause %s, want %s", c.p, c.m, got, c.cause)
		}
	}
}
