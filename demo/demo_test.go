package demo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	if time.Duration(ac.GroupWait) != tm.GroupWait || time.Duration(ac.GroupInterval) != tm.GroupInterval {
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
	// The checks a step breaks see it up to one interval apart (their
	// phases): a group wait of at least an interval and two seconds of
	// slack puts them in one alert; much more would make alerts slow.
	for _, speed := range []float64{0.5, 1, 3, 10, 100} {
		tm := DefaultTiming(speed)
		if tm.GroupWait < tm.Interval+2*time.Second || tm.GroupWait > 2*tm.Interval+2*time.Second {
			t.Errorf("speed %v: group wait %s for an interval of %s", speed, tm.GroupWait, tm.Interval)
		}
	}
}

func TestOnly(t *testing.T) {
	steps := Scenario("demo@contoso.com")
	all := Only(steps, func(scheduler.CheckID) bool { return true })
	noScanner := Only(steps, func(id scheduler.CheckID) bool { return id != ScannerSMTP })
	var withScanner int
	for i := range steps {
		if len(all[i].Expect) != len(steps[i].Expect) {
			t.Errorf("step %d lost expectations with every check present", i+1)
		}
		for _, e := range noScanner[i].Expect {
			if e.Check == ScannerSMTP {
				t.Errorf("step %d still waits for the missing scanner", i+1)
			}
		}
		for _, e := range steps[i].Expect {
			if e.Check == ScannerSMTP {
				withScanner++
			}
		}
	}
	// SMTP AUTH off/on and security defaults on/off hit the scanner too.
	if withScanner != 4 {
		t.Errorf("the scenario expects %d scanner events, want 4 (Only must not have changed the original)", withScanner)
	}
}

func TestSettled(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ok := func(id scheduler.CheckID) scheduler.CheckState {
		return scheduler.CheckState{ID: id, Status: scheduler.StatusOK, Cause: diagnose.CauseOK, LastRun: since.Add(time.Second)}
	}
	stale := ok(SMTPBasic)
	stale.LastRun = since.Add(-time.Second) // saved before the restart
	failing := ok(SMTPBasic)
	failing.Status, failing.Cause = scheduler.StatusFailing, diagnose.CauseSMTPAuthDisabledTenant
	confirming := ok(SMTPBasic)
	confirming.Pending = diagnose.CauseSMTPAuthDisabledTenant
	pending := scheduler.CheckState{ID: SMTPBasic, Status: scheduler.StatusPending}
	quiet := &alerts.Stats{Outbox: map[string]int{AlertSink: 0, "webhook-1": 7}}
	for _, c := range []struct {
		name   string
		checks []scheduler.CheckState
		st     *alerts.Stats
		want   bool
		why    string
	}{
		{"no checks", nil, nil, false, "no checks"},
		{"fresh and ok", []scheduler.CheckState{ok(SMTPBasic), ok(IMAPBasic)}, nil, true, ""},
		{"a real sink still retrying does not hold the demo", []scheduler.CheckState{ok(SMTPBasic)}, quiet, true, ""},
		{"first result missing", []scheduler.CheckState{ok(IMAPBasic), pending}, nil, false, "demo/smtp/basic (no result yet)"},
		{"ok before the baseline only", []scheduler.CheckState{stale}, nil, false, "no result yet"},
		{"saved failing state", []scheduler.CheckState{failing}, nil, false, "failing smtp_auth_disabled_tenant"},
		{"confirm re-probe due", []scheduler.CheckState{confirming}, nil, false, "confirming smtp_auth_disabled_tenant"},
		{"resolve still in its group wait", []scheduler.CheckState{ok(SMTPBasic)}, &alerts.Stats{Groups: 1}, false, "1 group(s) open"},
		{"resolve queued", []scheduler.CheckState{ok(SMTPBasic)}, &alerts.Stats{Outbox: map[string]int{AlertSink: 1}}, false, "1 notification(s) queued"},
	} {
		got, why := Settled(c.checks, since, c.st)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: Settled = %v %q, want %v %q", c.name, got, why, c.want, c.why)
		}
	}
}

// fakeAlerts stands in for the alerts manager: the groups it reports open
// close after a number of reads, and each step's cmdlet queues the
// delivery the step should cause.
type fakeAlerts struct {
	mu        sync.Mutex
	openReads int // Stats reads still reporting an open group
	next      *alerts.Delivery
	delivered []alerts.Delivery
}

func (f *fakeAlerts) Stats() alerts.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := alerts.Stats{Outbox: map[string]int{}}
	if f.openReads > 0 {
		f.openReads--
		st.Groups = 1
	}
	return st
}

func (f *fakeAlerts) Recent(int) []alerts.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next != nil {
		d := *f.next
		d.Time = time.Now() // delivered after the cmdlet returned
		f.delivered = append(f.delivered, d)
		f.next = nil
	}
	out := slices.Clone(f.delivered)
	slices.Reverse(out)
	return out
}

// TestPlayerWaitsForTheBaseline is the restart after kill -9: the saved
// state says failing and the recovery's resolve is still in its group
// wait. Step 1 must not run before the daemon saw the baseline and the
// resolve went out, and each step waits for its own alert.
func TestPlayerWaitsForTheBaseline(t *testing.T) {
	steps := []Step{
		{Say: "break", Cmdlets: []string{"A"}, Expect: []Expect{{SMTPBasic, scheduler.EventRegressed, diagnose.CauseSMTPAuthDisabledTenant}}},
		{Say: "fix", Cmdlets: []string{"B"}, Expect: []Expect{{SMTPBasic, scheduler.EventRecovered, diagnose.CauseOK}}},
	}
	since := time.Now()
	var mu sync.Mutex
	state := scheduler.CheckState{ID: SMTPBasic, Status: scheduler.StatusFailing, Cause: diagnose.CauseSMTPAuthDisabledTenant,
		LastRun: since.Add(-time.Minute)}
	reads := 0
	checks := func() []scheduler.CheckState {
		mu.Lock()
		defer mu.Unlock()
		reads++
		switch reads {
		case 3: // a probe after the baseline saw it work; the confirm is due
			state.LastRun, state.Pending = time.Now(), diagnose.CauseOK
		case 6: // confirmed: recovered
			state.Status, state.Cause, state.Pending = scheduler.StatusOK, diagnose.CauseOK, ""
		}
		return []scheduler.CheckState{state}
	}
	fa := &fakeAlerts{openReads: 4}
	events := make(chan scheduler.Event, 8)
	var out strings.Builder
	var ran []string
	p := &Player{Steps: steps, Events: events, Out: &out, StepTimeout: 2 * time.Second, Pause: time.Millisecond,
		Poll: time.Millisecond, Checks: checks, Since: since, Alerts: fa,
		Exec: func(ctx context.Context, line string) (string, error) {
			mu.Lock()
			settled, why := Settled([]scheduler.CheckState{state}, since, nil)
			mu.Unlock()
			if !settled || fa.Stats().Groups > 0 {
				t.Errorf("cmdlet %s ran before the baseline was seen: %s", line, why)
			}
			ran = append(ran, line)
			e := steps[len(ran)-1].Expect[0]
			events <- scheduler.Event{CheckID: e.Check, Kind: e.Kind, Cause: e.Cause}
			st := alerts.StatusFiring
			if e.Kind == scheduler.EventRecovered {
				st = alerts.StatusResolved
			}
			fa.mu.Lock()
			fa.next = &alerts.Delivery{Sink: AlertSink, OK: true, Kind: e.Kind, Status: st, Title: "T-" + line, Checks: 1}
			fa.mu.Unlock()
			return "", nil
		}}
	// The recovery the baseline causes arrives while settling.
	events <- scheduler.Event{CheckID: SMTPBasic, Kind: scheduler.EventRecovered, Cause: diagnose.CauseOK,
		PrevCause: diagnose.CauseSMTPAuthDisabledTenant}
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	story := out.String()
	if len(ran) != 2 {
		t.Errorf("ran %v", ran)
	}
	for _, w := range []string{"waiting until every check shows the starting state",
		"event: recovered demo/smtp/basic cause=ok (was smtp_auth_disabled_tenant)", "starting state seen: 1 checks",
		"alert: T-A (firing, 1 check(s))", "alert: T-B (resolved, 1 check(s))"} {
		if !strings.Contains(story, w) {
			t.Errorf("story lacks %q:\n%s", w, story)
		}
	}
	if i, j := strings.Index(story, "starting state seen"), strings.Index(story, "step 1/2"); i < 0 || j < i {
		t.Errorf("step 1 began before the starting state was seen:\n%s", story)
	}

	// A step whose alert never reaches the built-in sink is reported, and
	// a single play then fails.
	out.Reset()
	ran = nil
	fa2 := &fakeAlerts{}
	p2 := &Player{Steps: steps[:1], Events: events, Out: &out, StepTimeout: 50 * time.Millisecond, Pause: time.Millisecond,
		Poll: time.Millisecond, Alerts: fa2, Exec: func(context.Context, string) (string, error) {
			e := steps[0].Expect[0]
			events <- scheduler.Event{CheckID: e.Check, Kind: e.Kind, Cause: e.Cause}
			return "", nil
		}}
	if err := p2.Run(context.Background()); !errors.Is(err, ErrStepTimeout) || !strings.Contains(out.String(), "no alert delivered to status-page") {
		t.Errorf("alert never delivered: %v\n%s", err, out.String())
	}
}

func TestScenarioUsesTheRemedy(t *testing.T) {
	steps := Scenario("demo@contoso.com")
	// The incident's remedy as the page and the alert render it for the
	// two affected mailboxes: their own exceptions, not the org switch.
	fix := diagnose.RemedyForMailboxes(diagnose.CauseSMTPAuthDisabledTenant, "en", diagnose.Vars{Protocol: "smtp"},
		[]string{"demo@contoso.com", "scanner@contoso.com", "demo@contoso.com"}).Fix
	if len(fix) != 2 || strings.Join(steps[1].Cmdlets, "\n") != strings.Join(fix, "\n") ||
		strings.Contains(strings.Join(fix, "\n"), "Set-TransportConfig") {
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
