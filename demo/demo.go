// Package demo is exoprobe's self-contained demonstration: a configuration
// that watches the emulator's demo tenant, and a scenario played on the
// emulator through the same cmdlets exoprobe's remedies print — SMTP AUTH
// disabled for the tenant and fixed again, Basic IMAP re-enabled where it
// must stay off, security defaults switched on and off — each step waiting
// for the event the daemon must raise.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Timing of the demo daemon: short enough that a newcomer sees every step
// within a minute.
type Timing struct {
	Interval, Timeout, ConfirmDelay time.Duration
	// GroupWait and GroupInterval are the alerts' grouping timers
	// (production defaults 30s and 5m): alerts follow events in seconds.
	GroupWait, GroupInterval time.Duration
}

// DefaultTiming is 6 s between probes and a 2 s confirm re-probe, divided
// by speed (2 is twice as fast). Intervals stay at or above a second, the
// configuration's minimum.
func DefaultTiming(speed float64) Timing {
	if speed <= 0 {
		speed = 1
	}
	d := func(base time.Duration, floor time.Duration) time.Duration {
		return max(time.Duration(float64(base)/speed).Round(100*time.Millisecond), floor)
	}
	iv := d(6*time.Second, time.Second)
	confirm := d(2*time.Second, 200*time.Millisecond)
	// The emulator answers at once; the timeout only has to fit the
	// interval, which the configuration requires.
	// The checks a step breaks see the change at their next slot, and the
	// slots are spread over the interval by a hash of the check id: their
	// events can be up to one interval apart. A group wait of an interval
	// plus slack for probes slowed down on a loaded machine (2 s: a TLS
	// handshake under -race on a busy CI core) puts them all in one group,
	// so every sink gets exactly one alert and one resolve per step.
	return Timing{Interval: iv, Timeout: iv, ConfirmDelay: confirm,
		GroupWait: iv + max(confirm, 2*time.Second), GroupInterval: iv}
}

// The demo's targets and checks.
const (
	TargetDemo    = "demo"
	TargetScanner = "scanner"
	// PolicyName is the authentication policy the demo users have.
	PolicyName = tenant.DemoPolicy
)

// Check ids the scenario's events name.
var (
	SMTPBasic   = scheduler.MakeID(TargetDemo, probe.SMTP, probe.Basic)
	SMTPXOAUTH2 = scheduler.MakeID(TargetDemo, probe.SMTP, probe.XOAUTH2)
	IMAPBasic   = scheduler.MakeID(TargetDemo, probe.IMAP, probe.Basic)
	// ScannerSMTP is the scanner's Basic-only SMTP check: tenant-wide
	// changes break it too, and its event joins the same alert.
	ScannerSMTP = scheduler.MakeID(TargetScanner, probe.SMTP, probe.Basic)
)

// AlertSink is the demo's built-in alert sink (type memory): its
// deliveries are listed on the status page.
const AlertSink = "status-page"

// WriteConfig writes the demo configuration for the emulator's endpoints
// into dir — exoprobe.yaml plus the password and client secret files it
// references (0600) — and returns the configuration's path.
func WriteConfig(dir string, ep sim.Endpoints, t Timing) (string, error) {
	if ep.Demo == nil {
		return "", errors.New("demo: the emulator has no demo tenant")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	var scannerPW string
	for _, u := range ep.Users {
		if strings.EqualFold(u.UPN, "scanner@"+domainOf(ep.Demo.User)) {
			scannerPW = u.Password
		}
	}
	files := map[string]string{"demo-password": ep.Demo.Password, "client-secret": ep.Demo.ClientSecret}
	if scannerPW != "" {
		files["scanner-password"] = scannerPW
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by "exoprobe demo": the emulator's demo tenant, short intervals.
defaults:
  interval: %s
  timeout: %s
  hosts: {imap: %s, pop: %s, smtp: %s}
scheduler:
  confirm_delay: %s
  # The scenario makes Basic logins fail on purpose; none of them is a bad
  # password, so the lockout guard never needs to step in.
alerts:
  group_wait: %s
  group_interval: %s
  sinks:
    - {name: %s, type: memory}   # listed on the status page; exoprobe demo --webhook/--slack/--alertmanager add real ones
oauth_apps:
  demo-app:
    tenant: %s
    authority: %s
    client_id: %s
    client_secret_file: %s
    ca_file: %s
    scopes: [%s]
targets:
  - name: %s
    user: %s
    labels: {team: demo}
    ca_file: %s
    password_file: %s
    oauth: demo-app
    checks:
      - {protocol: smtp, mechanism: basic, expect: ok}
      - {protocol: smtp, mechanism: xoauth2, expect: ok}
      - {protocol: imap, mechanism: xoauth2, expect: ok}
      - {protocol: pop, mechanism: xoauth2, expect: ok}
      - {protocol: imap, mechanism: basic, expect: fail}   # posture: Basic IMAP must stay off
`,
		t.Interval, t.Timeout, q(ep.IMAP.TLS), q(ep.POP.TLS), q(ep.SMTP.StartTLS), t.ConfirmDelay,
		t.GroupWait, t.GroupInterval, AlertSink,
		q(ep.Demo.Tenant), q(ep.Authority), q(ep.Demo.ClientID),
		q(filepath.Join(dir, "client-secret")), q(ep.CAFile), q(ep.Demo.Scope),
		TargetDemo, q(ep.Demo.User), q(ep.CAFile), q(filepath.Join(dir, "demo-password")))
	if scannerPW != "" {
		fmt.Fprintf(&b, `  - name: %s
    user: %s
    labels: {team: facilities}
    ca_file: %s
    password_file: %s
    checks:
      - {protocol: smtp, mechanism: basic, expect: ok}       # a scanner: Basic only, no OAuth yet
`, TargetScanner, q("scanner@"+domainOf(ep.Demo.User)), q(ep.CAFile), q(filepath.Join(dir, "scanner-password")))
	}
	path := filepath.Join(dir, "exoprobe.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}

func domainOf(upn string) string {
	if i := strings.LastIndexByte(upn, '@'); i >= 0 {
		return upn[i+1:]
	}
	return upn
}

// Expect is an event a step must produce.
type Expect struct {
	Check scheduler.CheckID
	Kind  scheduler.EventKind
	Cause diagnose.Cause
}

func (e Expect) String() string { return fmt.Sprintf("%s %s (%s)", e.Kind, e.Check, e.Cause) }

// Matches reports whether ev is the expected event.
func (e Expect) Matches(ev scheduler.Event) bool {
	return ev.CheckID == e.Check && ev.Kind == e.Kind && ev.Cause == e.Cause
}

// Step is one change on the emulated tenant and what exoprobe must notice.
type Step struct {
	// Say is what the step does, in plain words.
	Say string
	// Cmdlets run on the emulator, in order.
	Cmdlets []string
	// Expect lists the events that show the step was noticed.
	Expect []Expect
	// Then is said once the events were seen.
	Then string
}

const stsNow = "$([System.DateTime]::UtcNow)"

// Baseline puts the tenant in the demo's starting state, whatever a
// previous run (same --data-dir) left behind.
func Baseline(user string) []string {
	return []string{
		"Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
		fmt.Sprintf("Set-CasMailbox %s -SmtpClientAuthenticationDisabled $null", user),
		fmt.Sprintf("Set-CasMailbox scanner@%s -SmtpClientAuthenticationDisabled $null", domainOf(user)),
		"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false",
		fmt.Sprintf("Set-AuthenticationPolicy -Identity %q -AllowBasicAuthImap:$false", PolicyName),
		"Set-SimTenant -BasicAuthRetiredImapPop:$true",
		fmt.Sprintf("Set-User -Identity %s -STSRefreshTokensValidFrom %s", user, stsNow),
	}
}

// Scenario is the demo's story for the demo user.
func Scenario(user string) []Step {
	// The fix the status page and the alert print for this incident: each
	// affected mailbox's own SMTP AUTH exception (the organization's switch
	// stays off, as the admin set it).
	fixSMTP := diagnose.RemedyForMailboxes(diagnose.CauseSMTPAuthDisabledTenant, "en", diagnose.Vars{Protocol: "smtp"},
		[]string{user, "scanner@" + domainOf(user)}).Fix
	return []Step{
		{
			// The mailboxes follow the organization (blank): on the second
			// round of the loop this removes the exceptions step 2 made.
			Say: "an admin disables SMTP AUTH for the whole tenant, no mailbox excepted",
			Cmdlets: []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $True",
				fmt.Sprintf("Set-CasMailbox %s -SmtpClientAuthenticationDisabled $null", user),
				fmt.Sprintf("Set-CasMailbox scanner@%s -SmtpClientAuthenticationDisabled $null", domainOf(user))},
			Expect: []Expect{
				{SMTPBasic, scheduler.EventRegressed, diagnose.CauseSMTPAuthDisabledTenant},
				{SMTPXOAUTH2, scheduler.EventRegressed, diagnose.CauseSMTPAuthDisabledTenant},
				{ScannerSMTP, scheduler.EventRegressed, diagnose.CauseSMTPAuthDisabledTenant},
			},
			Then: "SMTP logins regressed with cause smtp_auth_disabled_tenant; the status page shows the server's words and the remedy",
		},
		{
			Say:     "applying the remedy's fix command",
			Cmdlets: fixSMTP,
			Expect: []Expect{
				{SMTPBasic, scheduler.EventRecovered, diagnose.CauseOK},
				{SMTPXOAUTH2, scheduler.EventRecovered, diagnose.CauseOK},
				{ScannerSMTP, scheduler.EventRecovered, diagnose.CauseOK},
			},
			Then: "SMTP logins recovered",
		},
		{
			Say: "someone re-enables Basic authentication for IMAP, where it must stay off",
			Cmdlets: []string{
				"Set-SimTenant -BasicAuthRetiredImapPop:$false",
				fmt.Sprintf("Set-AuthenticationPolicy -Identity %q -AllowBasicAuthImap", PolicyName),
				fmt.Sprintf("Set-User -Identity %s -STSRefreshTokensValidFrom %s", user, stsNow),
			},
			Expect: []Expect{{IMAPBasic, scheduler.EventUnexpectedlyOK, diagnose.CauseOK}},
			Then:   "posture event: Basic IMAP logs in (unexpectedly_ok)",
		},
		{
			Say: "turning Basic IMAP back off",
			Cmdlets: []string{
				fmt.Sprintf("Set-AuthenticationPolicy -Identity %q -AllowBasicAuthImap:$false", PolicyName),
				fmt.Sprintf("Set-User -Identity %s -STSRefreshTokensValidFrom %s", user, stsNow),
				"Set-SimTenant -BasicAuthRetiredImapPop:$true",
			},
			Expect: []Expect{{IMAPBasic, scheduler.EventRecovered, diagnose.CauseBasicAuthDisabled}},
			Then:   "Basic IMAP is refused again, as expected",
		},
		{
			Say:     "an admin switches Entra security defaults on",
			Cmdlets: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true"},
			Expect: []Expect{
				{SMTPBasic, scheduler.EventRegressed, diagnose.CauseSecurityDefaults},
				{ScannerSMTP, scheduler.EventRegressed, diagnose.CauseSecurityDefaults},
			},
			Then: "Basic SMTP regressed with cause security_defaults; XOAUTH2 keeps working",
		},
		{
			Say:     "switching security defaults off again",
			Cmdlets: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false"},
			Expect: []Expect{
				{SMTPBasic, scheduler.EventRecovered, diagnose.CauseOK},
				{ScannerSMTP, scheduler.EventRecovered, diagnose.CauseOK},
			},
			Then: "Basic SMTP recovered",
		},
	}
}

// Only keeps the expected events of the checks that exist (the scanner
// target is written only when the emulator has the scanner user), so that
// a step never waits for a check nobody runs.
func Only(steps []Step, exists func(scheduler.CheckID) bool) []Step {
	out := make([]Step, len(steps))
	for i, s := range steps {
		s.Expect = slices.DeleteFunc(slices.Clone(s.Expect), func(e Expect) bool { return !exists(e.Check) })
		out[i] = s
	}
	return out
}

// Player plays a scenario.
type Player struct {
	Steps []Step
	// Exec runs one cmdlet line on the emulator.
	Exec func(ctx context.Context, line string) (string, error)
	// Events are the daemon's events (scheduler.Subscribe), subscribed
	// before the first step.
	Events <-chan scheduler.Event
	// Out receives the story in plain words.
	Out io.Writer
	// StepTimeout bounds the wait for a step's events (default 1 minute);
	// Pause is the time left to look at the page after a step (default 5s).
	StepTimeout, Pause time.Duration
	// Loop plays the scenario again until ctx is done.
	Loop bool
	// OnApplied, if set, is called once a step's cmdlets ran.
	OnApplied func(i int, s Step, at time.Time)
	// OnSeen, if set, is called once all of a step's expected events came
	// (with them, in the order expected), before the player waits for
	// the step's alert.
	OnSeen func(i int, s Step, evs []scheduler.Event)
	// ProbeNow, if set, asks the daemon to probe a check at once
	// (Scheduler.ProbeNow). After a step's cmdlets ran, the player then has
	// every check the step expects an event from probed at once, instead
	// of at its own slot (slots are spread over an interval, and a probe
	// in flight saw the tenant before the change): the step's events come
	// one probe and one confirm re-probe after the change, together,
	// whatever the load, and fall into one alert group.
	ProbeNow func(id scheduler.CheckID) (bool, error)

	// Checks, if set, returns the daemon's checks (Scheduler.Snapshot).
	// Before the first step the player waits until Settled: every check has
	// a result, from an attempt started at or after Since (when the
	// baseline was applied), that meets its expectation. Without that wait
	// step 1 could start from a state the daemon never saw: on a data dir
	// whose saved state says "failing" (a demo killed after step 1), step 1
	// would break again what the daemon never saw fixed, and nothing would
	// be raised; on a fresh one, before the first results, a regression
	// would have no previous cause.
	Checks func() []scheduler.CheckState
	Since  time.Time
	// Alerts, if set, is the daemon's alert manager. Before the first step
	// the player also waits until no alert group is open and the built-in
	// sink (AlertSink) has nothing queued, so the resolve of a recovery the
	// baseline caused goes out before step 1 reopens the same group; after
	// each step's events it waits for the built-in sink to receive the
	// step's alert, so the next step never cancels an alert still in its
	// group wait (every sink then gets one alert and one resolve).
	Alerts AlertView
	// Poll is how often Checks and Alerts are read (default 100ms).
	Poll time.Duration
}

// AlertView is what the player reads of the daemon's alerts; an
// *alerts.Manager is one.
type AlertView interface {
	Stats() alerts.Stats
	Recent(limit int) []alerts.Delivery
}

// Settled reports whether the daemon has seen the starting state: every
// check has an attempt started at or after since whose outcome meets its
// expectation, and none waits for a confirm re-probe. With st, also no
// alert group is open and the built-in sink's outbox is empty: the alerts
// of the recoveries went out. why says what is still missing.
func Settled(checks []scheduler.CheckState, since time.Time, st *alerts.Stats) (ok bool, why string) {
	if len(checks) == 0 {
		return false, "no checks yet"
	}
	var waiting []string
	for _, c := range checks {
		switch {
		case c.LastRun.IsZero() || c.LastRun.Before(since):
			waiting = append(waiting, fmt.Sprintf("%s (no result yet)", c.ID))
		case c.Status != scheduler.StatusOK || c.Pending != "":
			w := fmt.Sprintf("%s (%s %s)", c.ID, c.Status, c.Cause)
			if c.Pending != "" {
				w = fmt.Sprintf("%s (%s, confirming %s)", c.ID, c.Status, c.Pending)
			}
			waiting = append(waiting, w)
		}
	}
	if len(waiting) > 0 {
		return false, "waiting for " + strings.Join(waiting, ", ")
	}
	if st != nil && (st.Groups > 0 || st.Outbox[AlertSink] > 0) {
		return false, fmt.Sprintf("checks as expected; alerts: %d group(s) open, %d notification(s) queued for %s",
			st.Groups, st.Outbox[AlertSink], AlertSink)
	}
	return true, ""
}

// alertFor says which notification of the built-in sink shows that a
// step's events were alerted: a resolve when every expected event is a
// recovery, else an alert of one of the expected kinds.
func alertFor(s Step) (alerts.Status, map[scheduler.EventKind]bool) {
	kinds := map[scheduler.EventKind]bool{}
	st := alerts.StatusResolved
	for _, e := range s.Expect {
		kinds[e.Kind] = true
		if e.Kind != scheduler.EventRecovered {
			st = alerts.StatusFiring
		}
	}
	if st == alerts.StatusResolved {
		return st, map[scheduler.EventKind]bool{scheduler.EventRecovered: true}
	}
	delete(kinds, scheduler.EventRecovered)
	return st, kinds
}

// ErrStepTimeout reports a step whose events did not come in time.
var ErrStepTimeout = errors.New("demo: expected events did not come in time")

// Run plays the steps until ctx is done (or once, without Loop). A step
// whose events do not come within StepTimeout is reported and the story
// goes on; Run then returns ErrStepTimeout at the end of a single play.
func (p *Player) Run(ctx context.Context) error {
	if p.StepTimeout <= 0 {
		p.StepTimeout = time.Minute
	}
	if p.Pause <= 0 {
		p.Pause = 5 * time.Second
	}
	if p.Poll <= 0 {
		p.Poll = 100 * time.Millisecond
	}
	var missed bool
	if p.Checks != nil {
		fmt.Fprintln(p.Out, "waiting until every check shows the starting state")
		ok, err := p.settle(ctx)
		if err != nil {
			return nil // ctx done: Ctrl-C
		}
		missed = !ok
	}
	n := len(p.Steps)
	for round := 1; ; round++ {
		for i, s := range p.Steps {
			fmt.Fprintf(p.Out, "step %d/%d: %s\n", i+1, n, s.Say)
			for _, line := range s.Cmdlets {
				fmt.Fprintf(p.Out, "    PS> %s\n", line)
				if _, err := p.Exec(ctx, line); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("demo: step %d: %s: %w", i+1, line, err)
				}
			}
			applied := time.Now()
			if p.OnApplied != nil {
				p.OnApplied(i, s, applied)
			}
			fmt.Fprintf(p.Out, "    waiting for: %s\n", joinExpect(s.Expect))
			if p.ProbeNow != nil {
				if err := p.probeNow(ctx, s, applied); err != nil {
					return nil // ctx done: Ctrl-C
				}
			}
			evs, ok, err := p.await(ctx, s.Expect)
			if err != nil {
				return nil // ctx done: Ctrl-C
			}
			if ok && p.OnSeen != nil {
				p.OnSeen(i, s, evs)
			}
			if !ok {
				missed = true
				fmt.Fprintf(p.Out, "    not seen within %s; going on\n", p.StepTimeout)
			} else if s.Then != "" {
				fmt.Fprintf(p.Out, "    seen: %s\n", s.Then)
			}
			if ok && p.Alerts != nil {
				d, ok, err := p.awaitAlert(ctx, s, applied)
				if err != nil {
					return nil
				}
				if !ok {
					missed = true
					fmt.Fprintf(p.Out, "    no alert delivered to %s within %s; going on\n", AlertSink, p.StepTimeout)
				} else {
					fmt.Fprintf(p.Out, "    alert: %s (%s, %d check(s))\n", d.Title, d.Status, d.Checks)
				}
			}
			if !sleep(ctx, p.Pause) {
				return nil
			}
		}
		if !p.Loop {
			if missed {
				return ErrStepTimeout
			}
			return nil
		}
		missed = false
		fmt.Fprintf(p.Out, "scenario played %d time(s); starting again (Ctrl-C to stop)\n", round)
	}
}

func joinExpect(es []Expect) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, ", ")
}

// await waits for every expected event and returns them in the order
// expected; err is ctx's.
func (p *Player) await(ctx context.Context, want []Expect) ([]scheduler.Event, bool, error) {
	got := make([]scheduler.Event, len(want))
	seen := make([]bool, len(want))
	left := len(want)
	timer := time.NewTimer(p.StepTimeout)
	defer timer.Stop()
	for left > 0 {
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-timer.C:
			return nil, false, nil
		case ev, ok := <-p.Events:
			if !ok {
				return nil, false, context.Canceled
			}
			for i, e := range want {
				if !seen[i] && e.Matches(ev) {
					printEvent(p.Out, ev)
					got[i], seen[i] = ev, true
					left--
					break
				}
			}
		}
	}
	return got, true, nil
}

// probeNow has every check the step expects an event from probed by an
// attempt that starts after applied: ProbeNow moves a queued check's next
// attempt to now; a check running an attempt that started before the
// change is asked again once that attempt is over. Bounded by StepTimeout
// (the checks then run at their own slots); err is ctx's.
func (p *Player) probeNow(ctx context.Context, s Step, applied time.Time) error {
	left := map[scheduler.CheckID]bool{}
	for _, e := range s.Expect {
		left[e.Check] = true
	}
	deadline := time.Now().Add(p.StepTimeout)
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for {
		for id := range left {
			if started, err := p.ProbeNow(id); err != nil || started {
				delete(left, id)
			}
		}
		if p.Checks != nil && len(left) > 0 {
			for _, c := range p.Checks() {
				if left[c.ID] && !c.LastRun.Before(applied) {
					delete(left, c.ID) // already probed since the change
				}
			}
		}
		if len(left) == 0 || p.Checks == nil || time.Now().After(deadline) {
			return nil
		}
		// A check's attempt ending is not an event the player can wait
		// on: look again at the next poll.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// settle waits until Settled, printing the events that come meanwhile
// (the recoveries the baseline causes); err is ctx's. It reports false
// when the checks did not settle within StepTimeout. Alerts still queued
// then are only reported: a group left open by an alerts sink that is no
// longer configured must not stop the demo.
func (p *Player) settle(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(p.StepTimeout)
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for {
		checks := p.Checks()
		var st *alerts.Stats
		if p.Alerts != nil {
			s := p.Alerts.Stats()
			st = &s
		}
		ok, why := Settled(checks, p.Since, st)
		if ok {
			fmt.Fprintf(p.Out, "    starting state seen: %d checks as expected\n", len(checks))
			return true, nil
		}
		if time.Now().After(deadline) {
			checksOK, _ := Settled(checks, p.Since, nil)
			fmt.Fprintf(p.Out, "    not settled within %s: %s; going on\n", p.StepTimeout, why)
			return checksOK, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-p.Events:
			if !ok {
				return false, context.Canceled
			}
			printEvent(p.Out, ev)
		case <-tick.C:
		}
	}
}

// awaitAlert waits for the built-in sink to receive the step's alert (see
// alertFor) from a delivery at or after applied; err is ctx's.
func (p *Player) awaitAlert(ctx context.Context, s Step, applied time.Time) (alerts.Delivery, bool, error) {
	status, kinds := alertFor(s)
	deadline := time.Now().Add(p.StepTimeout)
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for {
		for _, d := range p.Alerts.Recent(0) {
			if d.Sink == AlertSink && d.OK && !d.Time.Before(applied) && d.Status == status && kinds[d.Kind] {
				return d, true, nil
			}
		}
		if time.Now().After(deadline) {
			return alerts.Delivery{}, false, nil
		}
		select {
		case <-ctx.Done():
			return alerts.Delivery{}, false, ctx.Err()
		case <-tick.C:
		}
	}
}

func printEvent(w io.Writer, ev scheduler.Event) {
	fmt.Fprintf(w, "    event: %s %s cause=%s", ev.Kind, ev.CheckID, ev.Cause)
	if ev.PrevCause != "" {
		fmt.Fprintf(w, " (was %s)", ev.PrevCause)
	}
	fmt.Fprintln(w)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
