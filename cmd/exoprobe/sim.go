package main

import (
	"context"
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

	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

func init() {
	register("sim", "run the Exchange Online emulator (sim exec: run cmdlets against it)", func(args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 && args[0] == "exec" {
			return simExec(args[1:], stdout, stderr)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runSim(ctx, args, stdout, stderr, nil)
	})
}

// defaultSimDataDir is where the emulator keeps its CA, state and
// endpoints.json when --data-dir is not given: the user cache directory
// ($XDG_CACHE_HOME/exoprobe/sim, ~/.cache/exoprobe/sim on Linux), or
// ./exoprobe-sim where there is none. The CA is kept there across runs, so
// that trust set up once keeps working.
func defaultSimDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "exoprobe", "sim")
	}
	return "exoprobe-sim"
}

// runSim runs the emulator until ctx ends. started, when not nil, receives
// the running emulator (tests use it).
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer, started chan<- *sim.Sim) int {
	fs := flag.NewFlagSet("exoprobe sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultSimDataDir(), "directory for ca.pem, admin-token, endpoints.json and state.json")
	portBase := fs.Int("port-base", 0, "first of 7 consecutive ports: imap tls, imap starttls, pop tls, pop stls, smtp starttls, token https, admin http (0: free ports)")
	listenHost := fs.String("listen", "127.0.0.1", "address the mail and token servers listen on (the admin endpoint stays on 127.0.0.1)")
	stateFile := fs.String("state", "", "tenant state to start from (default: DATA-DIR/state.json if present, else the demo tenant); saved to DATA-DIR/state.json on exit")
	reset := fs.Bool("reset", false, "start from the default demo tenant, overwriting DATA-DIR/state.json (which a restart otherwise resumes)")
	era := fs.String("era", "", "reply era: 2023 or 2026 (default: the state's, 2026 for a new tenant)")
	propagation := fs.String("propagation-delay", "", "authentication-policy propagation delay, e.g. 30s or 0 (default: the state's, 30s for a new tenant)")
	verbose := fs.Bool("v", false, "log every login decision")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: exoprobe sim [flags]")
		fmt.Fprintln(stderr, "       exoprobe sim exec --endpoints DIR/endpoints.json 'CMDLET LINE' ['CMDLET LINE'...]")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exoprobe sim: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	level := slog.LevelInfo
	if !*verbose {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The state a previous run saved is resumed by default, so that
	// cmdlets survive restarts; --reset is the way back to the demo tenant,
	// and the banner says which one is running.
	var state *tenant.State
	var resumedFrom string
	switch {
	case *reset && *stateFile != "":
		fmt.Fprintln(stderr, "exoprobe sim: --reset and --state exclude each other")
		return exitUsage
	case *reset:
		state = tenant.Demo()
	default:
		path := *stateFile
		if path == "" {
			path = filepath.Join(*dataDir, sim.StateFile)
		} else if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "exoprobe sim: --state: %v\n", err)
			return exitUsage
		}
		if _, err := os.Stat(path); err == nil {
			resumedFrom = path
		}
		var err error
		state, err = sim.LoadState(path)
		if err != nil {
			fmt.Fprintf(stderr, "exoprobe sim: %v\n", err)
			return exitUsage
		}
	}
	switch tenant.Era(*era) {
	case "":
	case tenant.Era2023, tenant.Era2026:
		state.Era = tenant.Era(*era)
	default:
		fmt.Fprintf(stderr, "exoprobe sim: --era must be 2023 or 2026, not %q\n", *era)
		return exitUsage
	}
	opts := sim.Options{DataDir: *dataDir, PortBase: *portBase, ListenHost: *listenHost, State: state, Logger: logger}
	if *propagation != "" {
		d, err := time.ParseDuration(*propagation)
		if err != nil || d < 0 {
			fmt.Fprintf(stderr, "exoprobe sim: --propagation-delay: want a duration like 30s, got %q\n", *propagation)
			return exitUsage
		}
		opts.PropagationDelay = &d
	}
	s, err := sim.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe sim: %v\n", err)
		return exitFail
	}
	if *reset {
		// Overwrite now, not only at exit: a run that is killed must not
		// leave the old state for the next start to resume.
		if err := s.SaveState(); err != nil {
			s.Close()
			fmt.Fprintf(stderr, "exoprobe sim: --reset: %v\n", err)
			return exitFail
		}
	}
	if resumedFrom != "" {
		fmt.Fprintf(stdout, "exoprobe sim: resumed tenant state from %s (--reset for a fresh demo tenant)\n", resumedFrom)
	}
	printEndpoints(stdout, s.Endpoints(), filepath.Join(opts.DataDir, sim.EndpointsFile))
	if started != nil {
		started <- s
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "exoprobe sim: shutting down")
	if err := s.Close(); err != nil {
		fmt.Fprintf(stderr, "exoprobe sim: %v\n", err)
		return exitFail
	}
	return exitOK
}

// printEndpoints shows what endpoints.json holds, for people. The demo
// password and client secret are the emulator's own test credentials and
// are meant to be shown; the admin token stays in its file.
func printEndpoints(w io.Writer, e sim.Endpoints, file string) {
	var b strings.Builder
	fmt.Fprintf(&b, "exoprobe sim: Exchange Online emulator running (era %s, tenant %s, %s)\n", e.Era, e.Domain, e.TenantID)
	fmt.Fprintf(&b, "  IMAP   implicit TLS %-22s STARTTLS %s\n", e.IMAP.TLS, e.IMAP.StartTLS)
	fmt.Fprintf(&b, "  POP3   implicit TLS %-22s STLS     %s\n", e.POP.TLS, e.POP.StartTLS)
	fmt.Fprintf(&b, "  SMTP   STARTTLS     %s\n", e.SMTP.StartTLS)
	fmt.Fprintf(&b, "  token  %s\n", e.TokenURL)
	fmt.Fprintf(&b, "  authority %s\n", e.Authority)
	if e.GraphURL != "" {
		fmt.Fprintf(&b, "  graph  %s/v1.0 (token scope %s)\n", e.GraphURL, e.GraphScope)
		fmt.Fprintf(&b, "  exchange admin API  POST %s (token scope %s)\n", e.InvokeCommandURL, e.ExchangeScope)
	}
	fmt.Fprintf(&b, "  admin  %s (bearer token in %s)\n", e.AdminURL, e.AdminTokenFile)
	fmt.Fprintf(&b, "  CA     %s (certificate also valid for %s)\n", e.CAFile, strings.Join(e.ServerNames, ", "))
	if d := e.Demo; d != nil {
		fmt.Fprintf(&b, "demo credentials (emulator test values):\n")
		fmt.Fprintf(&b, "  user %s  password %s\n", d.User, d.Password)
		fmt.Fprintf(&b, "  app  client_id %s  client_secret %s  scope %s\n", d.ClientID, d.ClientSecret, d.Scope)
		if d.CertFile != "" {
			fmt.Fprintf(&b, "  app certificate %s  key %s\n", d.CertFile, d.KeyFile)
		}
	}
	if r := e.Reader; r != nil {
		fmt.Fprintf(&b, "  tenant reader app (read-only Graph + Exchange.ManageAsApp)  client_id %s  client_secret %s\n", r.ClientID, r.ClientSecret)
	}
	if len(e.Users) > 0 {
		fmt.Fprintf(&b, "users:\n")
		for _, u := range e.Users {
			fmt.Fprintf(&b, "  %-24s %s\n", u.UPN, u.Password)
		}
	}
	fmt.Fprintf(&b, "all of this as JSON: %s\n", file)
	if d := e.Demo; d != nil {
		fmt.Fprintf(&b, "try:  curl -v --cacert %s --ssl-reqd smtp://%s -u '%s:%s' --mail-from %s --mail-rcpt %s -T /dev/null\n",
			e.CAFile, e.SMTP.StartTLS, d.User, d.Password, d.User, d.User)
	}
	fmt.Fprintf(&b, "      exoprobe sim exec --endpoints %s 'Set-TransportConfig -SmtpClientAuthenticationDisabled $True'\n", file)
	fmt.Fprintf(&b, "stop with Ctrl-C (the tenant is saved to %s and resumed by the next start; --reset for a fresh demo tenant)\n", e.StateFile)
	io.WriteString(w, b.String())
}
