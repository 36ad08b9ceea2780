package demo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
)

func endpoints() sim.Endpoints {
	var ep sim.Endpoints
	ep.IMAP.TLS, ep.POP.TLS, ep.SMTP.StartTLS = "127.0.0.1:1993", "127.0.0.1:1995", "127.0.0.1:1587"
	ep.Authority = "https://127.0.0.1:1443/tid"
	ep.CAFile = "/tmp/ca.pem"
	ep.Demo = &sim.Demo{Tenant: "tid", User: "demo@contoso.com", Password: "pw-demo", ClientID: "cid",
		ClientSecret: "sec-demo", Scope: "https://outlook.office365.com/.default"}
	ep.Users = []sim.UserInfo{{UPN: "scanner@contoso.com", Password: "pw-scanner"}}
	return ep
}

func TestWriteConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	tm := DefaultTiming(1)
	path, err := WriteConfig(dir, endpoints(), tm)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the demo config does not load: %v", err)
	}
	b, _ := os.ReadFile(path)
	for _, secret := range []string{"pw-demo", "pw-scanner", "sec-demo"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("config holds the secret %q inline", secret)
		}
	}
	if got, _ := cfg.Targets[0].Password().Value(); got != "pw-demo" {
		t.Errorf("demo password file holds %q", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "client-secret")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("client secret file: %v %v", st, err)
	}
	want := map[string]string{"demo/smtp/basic": "ok", "demo/imap/basic": "fail", "demo/smtp/xoauth2": "ok", "scanner/smtp/basic": "ok"}
	got := map[string]string{}
	for _, tg := range cfg.Targets {
		for _, c := range tg.Checks {
			got[tg.Name+"/"+c.Protocol+"/"+c.Mechanism] = c.Expect
			if cfg.EffectiveInterval(&tg, &c) != tm.Interval {
				t.Errorf("%s/%s: interval %s", tg.Name, c.Protocol, cfg.EffectiveInterval(&tg, &c))
			}
		}
	}
	for id, e := range want {
		if got[id] != e {
			t.Errorf("%s expect %q, want %q", id, got[id], e)
		}
	}
	if cfg.Scheduler.ConfirmDelay.D() != tm.ConfirmDelay {
		t.Errorf("confirm delay %s", cfg.Scheduler.ConfirmDelay.D())
	}
	ac, err := alerts.ParseConfig(&cfg.Alerts)
	if err != nil {
		t.Fatalf("the demo's alerts section: %v", err)
	}
	if len(ac.Sinks) != 1 || ac.Sinks[0].Name != AlertSink || ac.Sinks[0].Type != "memory" {
		t.Errorf("demo alert sinks = %+v, want the built-in memory sink", ac.Sinks)
	}
	if time.Duration(ac.GroupWait) != tm.GroupWait || time.Duration(ac.GroupInterval) != tm.GroupInterval || tm.GroupWait > 5*time.Second {
		t.Errorf("demo alert timers: group_wait %v, group_interval %v; timing %+v", ac.GroupWait, ac.GroupInterval, tm)
	}
}

func TestDefaultTiming(t *testing.T) {
	if tm := DefaultTiming(1); tm.Interval != 6*time.Second || tm.ConfirmDelay != 2*time.Second || tm.Timeout > tm.Interval {
		t.Errorf("speed 1: %+v", tm)
	}
	if tm := DefaultTiming(100); tm.Interval != time.Second || tm.ConfirmDelay != 200*time.Millisecond {
		t.Errorf("speed 100 must stop at the floors: %+v", tm)
	}
}

func TestScenarioUsesTheRemedy(t *testing.T) {
	steps := Scenario("demo@contoso.com")
	fix := diagnose.RemedyFor(diagnose.CauseSMTPAuthDisabledTenant, "en", diagnose.Vars{}).Fix
	if len(fix) == 0 || strings.Join(steps[1].Cmdlets, "\n") != strings.Join(fix, "\n") {
		t.Errorf("step 2 runs %q, the remedy says %q", steps[1].Cmdlets, fix)
	}
	kinds := map[scheduler.EventKind]bool{}
	for _, s := range steps {
		if len(s.Expect) == 0 || len(s.Cmdlets) == 0 {
			t.Errorf("step %q has no cmdlet or no expected event", s.Say)
		}
		for _, e := range s.Expect {
			kinds[e.Kind] = true
		}
	}
	for _, k := range []scheduler.EventKind{scheduler.EventRegressed, scheduler.EventRecovered, scheduler.EventUnexpectedlyOK} {
		if !kinds[k] {
			t.Errorf("the scenario never shows %s", k)
		}
	}
}

func TestPlayer(t *testing.T) {
	steps := []Step{
		{Say: "one", Cmdlets: []string{"A"}, Expect: []Expect{{"t/smtp/basic", scheduler.EventRegressed, diagnose.CauseSecurityDefaults}}},
		{Say: "two", Cmdlets: []string{"B"}, Expect: []Expect{{"t/smtp/basic", scheduler.EventRecovered, diagnose.CauseOK}}},
	}
	run := func(respond bool, execErr error) (string, []string, error) {
		events := make(chan scheduler.Event, 4)
		var ran []string
		var out strings.Builder
		p := &Player{Steps: steps, Events: events, Out: &out, StepTimeout: 300 * time.Millisecond, Pause: time.Millisecond,
			Exec: func(ctx context.Context, line string) (string, error) {
				ran = append(ran, line)
				if execErr != nil {
					return "", execErr
				}
				if respond {
					// A stray event of another check first: it must not count.
					events <- scheduler.Event{CheckID: "x/imap/basic", Kind: scheduler.EventRegressed, Cause: diagnose.CauseSecurityDefaults}
					for _, e := range steps[len(ran)-1].Expect {
						events <- scheduler.Event{CheckID: e.Check, Kind: e.Kind, Cause: e.Cause}
					}
				}
				return "", nil
			}}
		err := p.Run(context.Background())
		return out.String(), ran, err
	}
	out, ran, err := run(true, nil)
	if err != nil || len(ran) != 2 || !strings.Contains(out, "step 2/2: two") || !strings.Contains(out, "event: recovered t/smtp/basic cause=ok") {
		t.Errorf("happy path: %v %v\n%s", err, ran, out)
	}
	out, _, err = run(false, nil)
	if !errors.Is(err, ErrStepTimeout) || !strings.Contains(out, "not seen within") {
		t.Errorf("silent daemon: %v\n%s", err, out)
	}
	_, ran, err = run(true, errors.New("unknown cmdlet"))
	if err == nil || !strings.Contains(err.Error(), "unknown cmdlet") || len(ran) != 1 {
		t.Errorf("cmdlet error: %v %v", err, ran)
	}
	// Ctrl-C ends a looping play without error.
	ctx, cancel := context.WithCancel(context.Background())
	p := &Player{Steps: steps, Events: make(chan scheduler.Event), Out: &strings.Builder{}, Loop: true,
		Exec: func(context.Context, string) (string, error) { cancel(); return "", nil }}
	if err := p.Run(ctx); err != nil {
		t.Errorf("cancelled loop: %v", err)
	}
}
