package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/demo"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
)

func init() {
	register("demo", "run the emulator and the daemon together and play a scenario (no tenant, no config)", demoCmd)
}

// demoOptions configure runDemo.
type demoOptions struct {
	Listen  string
	DataDir string // "": a temporary directory, removed on exit
	Speed   float64
	Once    bool // play the scenario once and return
	Logger  *slog.Logger
	// Pause after each step (0: the player's default); StepTimeout bounds
	// the wait for a step's events.
	Pause, StepTimeout time.Duration
	// Ready, if set, gets the status page's address once the daemon serves.
	Ready func(addr string)
	// OnApplied, if set, is told when a step's cmdlets ran; OnSeen when
	// all of its expected events came (demo.Player).
	OnApplied func(i int, s demo.Step, at time.Time)
	OnSeen    func(i int, s demo.Step, evs []scheduler.Event)
	// ProbeNow has the checks a step affects probed at once after it
	// (demo.Player.ProbeNow) instead of at their own slots.
	ProbeNow bool
	// Sinks are real receivers of the demo's alerts (--webhook, --slack,
	// --alertmanager), next to the built-in one the status page lists.
	Sinks []alerts.Sink
	// Timing overrides demo.DefaultTiming(Speed) when its Interval is set.
	Timing demo.Timing
}

func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9477", "HTTP listen address of the status page, metrics and API")
	dataDir := fs.String("data-dir", "", "directory for the emulator's and the daemon's state (default: a temporary directory)")
	speed := fs.Float64("speed", 1, "time compression: 2 probes twice as often")
	once := fs.Bool("once", false, "play the scenario once and exit (non-zero when a step was not seen)")
	logLevel := fs.String("log-level", "warn", "daemon log level on stderr: debug, info, warn or error")
	// URLs are checked after parsing: the flag package would echo a bad
	// value, and a webhook's URL may be its credential.
	var hooks, slacks, ams []string
	fs.Func("webhook", "also send the demo's alerts to this webhook URL (exoprobe's JSON schema; repeatable)",
		func(u string) error { hooks = append(hooks, u); return nil })
	fs.Func("slack", "also send the demo's alerts to this Slack incoming webhook URL (repeatable)",
		func(u string) error { slacks = append(slacks, u); return nil })
	fs.Func("alertmanager", "also send the demo's alerts to this Alertmanager (base URL, e.g. http://127.0.0.1:9093; repeatable)",
		func(u string) error { ams = append(ams, u); return nil })
	if err := parseFlags(fs, args, stderr); err != nil {
		return parseExit(err)
	}
	var sinks []alerts.Sink
	for _, f := range []struct {
		typ  string
		urls []string
	}{{"webhook", hooks}, {"slack", slacks}, {"alertmanager", ams}} {
		for i, u := range f.urls {
			s, err := alerts.SinkFromURL(f.typ, fmt.Sprintf("%s-%d", f.typ, i+1), u, "")
			if err != nil {
				fmt.Fprintf(stderr, "demo: --%s: %v\n", f.typ, err)
				return exitUsage
			}
			sinks = append(sinks, s)
		}
	}
	if fs.NArg() > 0 || *speed <= 0 {
		fmt.Fprintln(stderr, "demo: unexpected arguments or --speed ≤ 0")
		return exitUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "demo: --log-level: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runDemo(ctx, demoOptions{Listen: *listen, DataDir: *dataDir, Speed: *speed, Once: *once, Sinks: sinks,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))}, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// runDemo starts the emulator, writes a configuration for its demo tenant,
// runs the daemon exactly as `run` does (runDaemon) and plays the
// scenario until ctx is done (or once). Everything it started has stopped
// when it returns.
func runDemo(ctx context.Context, o demoOptions, stdout io.Writer) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := o.DataDir
	if dir == "" {
		dir, err = os.MkdirTemp("", "exoprobe-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s, err := sim.Start(ctx, sim.Options{DataDir: filepath.Join(dir, "sim"), Logger: log.With("component", "sim")})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ep := s.Endpoints()
	if ep.Demo == nil {
		return errors.New("the emulator's state has no demo tenant; use a fresh --data-dir")
	}
	// A --data-dir reused from an interrupted demo may hold a tenant
	// mid-scenario; the player waits until the daemon has seen the
	// baseline (probes started from now on) before the first step.
	baselineAt := time.Now()
	for _, line := range demo.Baseline(ep.Demo.User) {
		if _, err := s.Exec(ctx, line); err != nil {
			return fmt.Errorf("emulator baseline: %s: %w", line, err)
		}
	}
	timing := demo.DefaultTiming(o.Speed)
	if o.Timing.Interval > 0 {
		timing = o.Timing
	}
	cfgPath, err := demo.WriteConfig(filepath.Join(dir, "config"), ep, timing)
	if err != nil {
		return err
	}

	type ready struct {
		addr string
		rt   *Runtime
	}
	readyc := make(chan ready, 1)
	daemonErr := make(chan error, 1)
	go func() {
		daemonErr <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "state"), Listen: o.Listen,
			Logger: log, ExtraSinks: o.Sinks, Ready: func(addr string, rt *Runtime) { readyc <- ready{addr, rt} }})
	}()
	var r ready
	select {
	case r = <-readyc:
	case err := <-daemonErr:
		if err == nil {
			err = errors.New("daemon stopped before serving")
		}
		return err
	}
	events := r.rt.Scheduler.Subscribe(ctx)
	fmt.Fprintf(stdout, "status page: http://%s/\n", r.addr)
	fmt.Fprintf(stdout, "emulator: IMAP %s, POP %s, SMTP %s (data in %s)\n", ep.IMAP.TLS, ep.POP.TLS, ep.SMTP.StartTLS, dir)
	fmt.Fprintf(stdout, "checks run every %s; a change is confirmed %s later. Ctrl-C stops.\n", timing.Interval, timing.ConfirmDelay)
	fmt.Fprintf(stdout, "alerts: listed on the status page%s, %s after an event\n", receivers(o.Sinks), timing.GroupWait)
	if o.Ready != nil {
		o.Ready(r.addr)
	}

	sched := r.rt.Scheduler
	exists := func(id scheduler.CheckID) bool { _, ok := sched.Check(id); return ok }
	p := &demo.Player{
		Steps: demo.Only(demo.Scenario(ep.Demo.User), exists), Exec: s.Exec, Events: events, Out: stdout,
		Loop: !o.Once, Pause: o.Pause, StepTimeout: o.StepTimeout, OnApplied: o.OnApplied, OnSeen: o.OnSeen,
		Checks: sched.Snapshot, Since: baselineAt,
	}
	if o.ProbeNow {
		p.ProbeNow = sched.ProbeNow
	}
	if r.rt.Alerts != nil { // never a typed nil in the interface
		p.Alerts = r.rt.Alerts
	}
	if p.StepTimeout == 0 {
		// A step is seen within one interval plus the confirm delay, its
		// alert a group wait after the first event; the slack covers a
		// probe in flight when the change was made.
		p.StepTimeout = 3*timing.Interval + timing.ConfirmDelay + timing.Timeout + timing.GroupWait
	}
	playErr := p.Run(ctx)
	cancel()
	if derr := <-daemonErr; derr != nil && playErr == nil {
		playErr = derr
	}
	if playErr == nil {
		fmt.Fprintln(stdout, "demo stopped")
	}
	return playErr
}

// receivers names the demo's real alert receivers (never their URLs: a
// webhook's URL may be its credential).
func receivers(ss []alerts.Sink) string {
	if len(ss) == 0 {
		return ""
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return " and sent to " + strings.Join(names, ", ")
}
