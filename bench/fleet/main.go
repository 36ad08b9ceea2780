// Command fleet benchmarks one exoprobe daemon with a fleet of targets
// (issue 4 item 9): 10,000 targets × 3 protocols × 2 mechanisms = 60,000
// checks at the production 5-minute interval, compressed in time. It wires
// the daemon's core exactly as `exoprobe run` does — scheduler, probe.Run,
// diagnose.Classify, the bbolt store with fsync — minus the HTTP surface,
// and reports the scheduler's start lag, CPU per probe, peak RSS and what
// the store grows by per day at the real interval.
//
// The servers run in a child process (this binary again), so
// that the daemon's CPU figures are its own:
//
//   - -server fake: package fakemail, plaintext and stateless. At 60,000
//     checks the emulator's TLS handshakes (both ends on the same two cores)
//     would dominate and the figure would be the handshake's, not exoprobe's.
//   - -server sim: the Exchange Online emulator, TLS on every login, for a
//     smaller fleet (e.g. 500 targets): the cost a real deployment pays.
//
// Usage: scripts/bench-daemon (builds this and prints both points), or
//
//	go run ./bench/fleet -server fake -targets 10000 -interval 30s
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exoprobe/exoprobe/bench/fakemail"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/store"
)

func main() {
	server := flag.String("server", "fake", "fake (package fakemail, plaintext) or sim (the emulator, TLS)")
	targets := flag.Int("targets", 10000, "targets; each has 3 protocols × 2 mechanisms")
	interval := flag.Duration("interval", 30*time.Second, "compressed check interval")
	real := flag.Duration("real-interval", 5*time.Minute, "the production interval, for the per-day store figure")
	maxInFlight := flag.Int("max-in-flight", 256, "scheduler max_in_flight")
	maxPerHost := flag.Int("max-per-host", 256, "scheduler max_per_host (every target shares the same three host:ports)")
	header := flag.Bool("header", false, "print the table's header first")
	keep := flag.String("data-dir", "", "store directory (default: a temporary one, removed)")
	cpuProfile := flag.String("cpuprofile", "", "write the daemon side's CPU profile of the measured interval here")
	memProfile := flag.String("memprofile", "", "write the daemon side's heap profile at the end of the measured interval here")
	flag.Parse()
	serveIfChild()
	r, err := bench(config{server: *server, targets: *targets, interval: *interval, real: *real,
		maxInFlight: *maxInFlight, maxPerHost: *maxPerHost, dataDir: *keep, cpuProfile: *cpuProfile, memProfile: *memProfile})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	if *header {
		printHeader(os.Stdout)
	}
	r.print(os.Stdout)
}

type config struct {
	server                  string
	targets                 int
	interval, real          time.Duration
	maxInFlight, maxPerHost int
	dataDir, cpuProfile     string
	memProfile              string
}

// servers is what the child prints: where to connect.
type servers struct {
	IMAP, POP, SMTP string
	Endpoints       string // sim only
}

// The child process is this binary again with these set in its
// environment (an environment variable rather than a flag, so that a test
// binary can be the child too).
const (
	envServe    = "EXOPROBE_FLEET_SERVE"
	envServeDir = "EXOPROBE_FLEET_SERVE_DIR"
)

// serveIfChild runs the servers and exits when this process is the child.
func serveIfChild() {
	kind := os.Getenv(envServe)
	if kind == "" {
		return
	}
	if err := runServers(kind, os.Getenv(envServeDir)); err != nil {
		fmt.Fprintln(os.Stderr, "fleet servers:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runServers is the child: it serves until its stdin closes (the parent
// exited or is done).
func runServers(kind, dir string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out servers
	switch kind {
	case "fake":
		s, err := fakemail.Start(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		out = servers{IMAP: s.IMAP, POP: s.POP, SMTP: s.SMTP}
	case "sim":
		s, err := sim.Start(ctx, sim.Options{DataDir: dir})
		if err != nil {
			return err
		}
		defer s.Close()
		ep := s.Endpoints()
		out = servers{IMAP: ep.IMAP.TLS, POP: ep.POP.TLS, SMTP: ep.SMTP.StartTLS, Endpoints: filepath.Join(dir, "endpoints.json")}
	default:
		return fmt.Errorf("unknown server %q", kind)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

type result struct {
	cfg                   config
	checks                int
	setChecks             time.Duration
	probes                uint64
	window                time.Duration
	lagP50, lagP99        time.Duration
	lagMax                time.Duration
	statsP50, statsP99    time.Duration
	cpuPerProbe           time.Duration
	serverCPUPerProbe     time.Duration
	hwm, rss              int64
	histBytesPerAttempt   float64
	fileBytesPerAttempt   float64
	fileBytes             int64
	outcomes              map[string]int
	shutdown              time.Duration
	inFlightMax, hostWait int
	heapInuse             uint64
	commits               int64
	cpuCores, gomaxprocs  int
}

func bench(c config) (*result, error) {
	tmp, err := os.MkdirTemp("", "exoprobe-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dataDir := c.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}

	// The servers, in a child process of their own.
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), envServe+"="+c.server, envServeDir+"="+filepath.Join(tmp, "sim"))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := child.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		child.Process.Kill()
		child.Wait()
	}()
	var srv servers
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&srv); err != nil {
		return nil, fmt.Errorf("servers did not start: %w", err)
	}

	base := probe.Target{IMAPAddr: srv.IMAP, POPAddr: srv.POP, SMTPAddr: srv.SMTP}
	var password string
	var tok probe.TokenSource
	switch c.server {
	case "fake":
		base.IMAPStartTLS, base.POPStartTLS, base.AllowPlaintext = true, true, true
		password, tok = "fleet-password", probe.StaticToken("fleet-token")
	case "sim":
		ep, err := sim.ReadEndpoints(srv.Endpoints)
		if err != nil {
			return nil, err
		}
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		base.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		// One app token for every target, as the daemon's token registry
		// shares one per app: token requests are not part of a login.
		t, err := clientCredentials(ep, pool)
		if err != nil {
			return nil, err
		}
		password, tok = ep.Demo.Password, probe.StaticToken(t)
	}

	db, err := store.Open(dataDir, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()

	var (
		mu       sync.Mutex
		measure  bool
		lags     = make([]time.Duration, 0, c.targets*6*2)
		outcomes = map[string]int{}
	)
	sched, err := scheduler.New(scheduler.Options{
		Prober: scheduler.ProberFunc(probe.Run), ClassifyAt: diagnose.ClassifyAt, Store: db,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MaxInFlight: c.maxInFlight, MaxPerHost: c.maxPerHost, ConfirmDelay: c.interval / 10,
		OnAttempt: func(st scheduler.CheckState, a probe.Attempt, lag time.Duration) {
			mu.Lock()
			if measure {
				lags = append(lags, lag)
				k := string(st.Protocol) + "/" + string(st.Mechanism) + " " + string(st.Cause)
				if !a.OK && st.Cause == "" {
					k += a.Error
				}
				outcomes[k]++
			}
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	pw := func(context.Context) (string, error) { return password, nil }
	specs := make([]scheduler.CheckSpec, 0, c.targets*6)
	for i := range c.targets {
		t := base
		t.Name, t.User = fmt.Sprintf("t%05d", i), fmt.Sprintf("u%05d@contoso.example", i)
		if c.server == "sim" {
			t.User = "demo@contoso.com" // the one healthy mailbox of the demo tenant
		}
		t.Password, t.Token = pw, tok
		for _, p := range probe.Protocols {
			for _, m := range probe.Mechanisms {
				exp := scheduler.ExpectOK
				if m == probe.Basic && p != probe.SMTP {
					exp = scheduler.ExpectFail // Basic IMAP/POP is retired: posture checks
				}
				specs = append(specs, scheduler.CheckSpec{Target: &t, Protocol: p, Mechanism: m, Expect: exp,
					Interval: c.interval, Timeout: c.interval})
			}
		}
	}
	t0 := time.Now()
	if err := sched.SetChecks(specs); err != nil {
		return nil, err
	}
	r := &result{cfg: c, checks: len(specs), setChecks: time.Since(t0), cpuCores: runtime.NumCPU(), gomaxprocs: runtime.GOMAXPROCS(0)}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	stop := func() error {
		cancel()
		t := time.Now()
		err := <-done
		r.shutdown = time.Since(t)
		return err
	}

	// A third of an interval to settle (phases are spread evenly over the
	// interval from the start, so the first interval already runs at the
	// steady rate), then one measured interval.
	if !sleep(done, c.interval/3) {
		return nil, fmt.Errorf("scheduler stopped: %w", stop())
	}
	st0, db0 := sched.Stats(), db.Stats()
	cpu0, srv0 := selfCPU(), procCPU(child.Process.Pid)
	mu.Lock()
	measure = true
	mu.Unlock()
	w0 := time.Now()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	// Sample in-flight and queue during the window.
	tick := time.NewTicker(c.interval / 20)
	end := time.After(c.interval)
loop:
	for {
		select {
		case <-tick.C:
			s := sched.Stats()
			r.inFlightMax, r.hostWait = max(r.inFlightMax, s.InFlight), max(r.hostWait, s.HostWait)
		case <-end:
			break loop
		case err := <-done:
			return nil, fmt.Errorf("scheduler stopped: %v", err)
		}
	}
	tick.Stop()
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	mu.Lock()
	measure = false
	mu.Unlock()
	r.window = time.Since(w0)
	cpu1, srv1 := selfCPU(), procCPU(child.Process.Pid)
	if c.memProfile != "" {
		f, err := os.Create(c.memProfile)
		if err != nil {
			return nil, err
		}
		runtime.GC()
		err = pprof.WriteHeapProfile(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.heapInuse = ms.HeapInuse
	st1, db1 := sched.Stats(), db.Stats()
	if err := stop(); err != nil {
		return nil, err
	}

	r.probes = st1.Probes - st0.Probes
	if r.probes == 0 {
		return nil, errors.New("no probes ran in the measured interval")
	}
	r.statsP50, r.statsP99 = st1.LagP50, st1.LagP99
	mu.Lock()
	slices.Sort(lags)
	if n := len(lags); n > 0 {
		r.lagP50, r.lagP99, r.lagMax = lags[n/2], lags[n*99/100], lags[n-1]
	}
	r.outcomes = outcomes
	mu.Unlock()
	r.cpuPerProbe = (cpu1 - cpu0) / time.Duration(r.probes)
	r.serverCPUPerProbe = (srv1 - srv0) / time.Duration(r.probes)
	r.hwm, r.rss = procStatus("VmHWM"), procStatus("VmRSS")
	if n := db1.HistoryRecords - db0.HistoryRecords; n > 0 {
		r.histBytesPerAttempt = float64(db1.HistoryBytes-db0.HistoryBytes) / float64(n)
		r.fileBytesPerAttempt = float64(db1.FileBytes-db0.FileBytes) / float64(n)
	}
	r.fileBytes = db1.FileBytes
	r.commits = db1.Commits - db0.Commits
	return r, nil
}

func sleep(done <-chan error, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-done:
		return false
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system time from /proc (clock ticks of
// 10 ms: Linux's USER_HZ is 100 on every architecture Go supports).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is [0]; utime [11], stime [12].
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// procStatus reads a kB figure of /proc/self/status, in bytes.
func procStatus(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func clientCredentials(ep *sim.Endpoints, pool *x509.CertPool) (string, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.PostForm(ep.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {ep.Demo.ClientID},
		"client_secret": {ep.Demo.ClientSecret}, "scope": {ep.Demo.Scope}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("token from the emulator: %s %v", resp.Status, err)
	}
	return body.AccessToken, nil
}

func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%-6s %7s %7s %8s %9s %9s %9s %9s %10s %10s %8s %8s %10s %11s\n",
		"server", "targets", "checks", "interval", "probes/s", "lag p50", "lag p99", "lag max",
		"CPU/probe", "srv CPU/p", "max RSS", "B/attempt", "store/day", "retained 7d")
}

func (r *result) print(w io.Writer) {
	perDay := float64(r.checks) * float64(24*time.Hour/r.cfg.real)
	storeDay := perDay * r.histBytesPerAttempt
	fmt.Fprintf(w, "%-6s %7d %7d %8s %9.0f %9s %9s %9s %10s %10s %8s %8.0f %10s %11s\n",
		r.cfg.server, r.cfg.targets, r.checks, r.cfg.interval, float64(r.probes)/r.window.Seconds(),
		ms(r.lagP50), ms(r.lagP99), ms(r.lagMax), us(r.cpuPerProbe), us(r.serverCPUPerProbe),
		mib(float64(r.hwm)), r.histBytesPerAttempt, mib(storeDay), mib(7*storeDay))
	fmt.Fprintf(os.Stderr, "  %s: %d probes in %v (in flight ≤ %d, waiting for a host slot ≤ %d); scheduler.Stats lag p50 %s p99 %s (last 8192);"+
		" SetChecks %v; shutdown %v; RSS at end %s (Go heap in use %s; the rest is mostly the store's mmap); store file %s (%.0f file B/attempt in the window; %d commits, %.0f attempts each); GOMAXPROCS %d of %d CPUs\n",
		r.cfg.server, r.probes, r.window.Round(time.Millisecond), r.inFlightMax, r.hostWait, ms(r.statsP50), ms(r.statsP99),
		r.setChecks.Round(time.Millisecond), r.shutdown.Round(time.Millisecond), mib(float64(r.rss)), mib(float64(r.heapInuse)), mib(float64(r.fileBytes)),
		r.fileBytesPerAttempt, r.commits, float64(r.probes)/float64(max(r.commits, 1)), r.gomaxprocs, r.cpuCores)
	keys := make([]string, 0, len(r.outcomes))
	for k := range r.outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(os.Stderr, "    %-40s %d\n", k, r.outcomes[k])
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }
func mib(b float64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", b/(1<<30))
	}
	return fmt.Sprintf("%.0fMiB", b/(1<<20))
}
