// Command fleet benchmarks the real exoprobe daemon (`exoprobe run`, HTTP
// surface included) with a fleet of targets (issue 11 item 6): by default
// 10,000 targets × 3 protocols × 2 mechanisms = 60,000 checks at the
// production 5-minute interval. It writes the daemon's configuration,
// starts the binary, lets it run for one measured interval while it scrapes
// /metrics and calls the API and the status page as users would, and
// reports what the issue asks: peak RSS, CPU per probe, start lag p50/p99,
// /metrics time and size, API and status page times, and the store's size
// once retention has started.
//
// The mail servers run in a child process (this binary again), so that
// the daemon's CPU figures are its own:
//
//   - -server fake: package fakemail, plaintext and stateless. At 60,000
//     checks the emulator's TLS handshakes (both ends on the same two cores)
//     would dominate and the figure would be the handshake's, not exoprobe's.
//   - -server sim: the Exchange Online emulator, TLS on every login, for a
//     smaller fleet (e.g. 500 targets): the cost a real deployment pays.
//
// Usage: scripts/bench-daemon (builds both binaries and prints both points), or
//
//	go build -o /tmp/exoprobe ./cmd/exoprobe
//	go run ./bench/fleet -exoprobe /tmp/exoprobe -server fake -targets 10000 -interval 5m
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/bench/fakemail"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/sim"
)

func main() {
	exoprobe := flag.String("exoprobe", "exoprobe", "the exoprobe binary to benchmark")
	server := flag.String("server", "fake", "fake (package fakemail, plaintext) or sim (the emulator, TLS)")
	targets := flag.Int("targets", 10000, "targets; each has 3 protocols × 2 mechanisms")
	interval := flag.Duration("interval", 5*time.Minute, "check interval (the production default is 5m)")
	retention := flag.Duration("history-max-age", 0, "store.history_max_age (default: half the interval, so that retention starts during the run)")
	maxInFlight := flag.Int("max-in-flight", 256, "scheduler max_in_flight")
	maxPerHost := flag.Int("max-per-host", 256, "scheduler max_per_host (every target shares the same three host:ports)")
	header := flag.Bool("header", false, "print the table's header first")
	keep := flag.String("data-dir", "", "store directory (default: a temporary one, removed)")
	flag.Parse()
	serveIfChild()
	r, err := bench(config{exoprobe: *exoprobe, server: *server, targets: *targets, interval: *interval, retention: *retention,
		maxInFlight: *maxInFlight, maxPerHost: *maxPerHost, dataDir: *keep, log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	if *header {
		printHeader(os.Stdout)
	}
	r.print(os.Stdout, os.Stderr)
}

type config struct {
	exoprobe                string
	server                  string
	targets                 int
	interval, retention     time.Duration
	maxInFlight, maxPerHost int
	dataDir                 string
	log                     io.Writer
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
	cfg               config
	checks            int
	probes            float64
	window            time.Duration
	lagP50, lagP99    time.Duration // of the scheduler's gauges over the window: median p50, highest p99
	lagMax            time.Duration
	cpuPerProbe       time.Duration
	serverCPUPerProbe time.Duration
	hwm, rssAnon      int64
	rssFile           int64
	// peakAnon and peakFile: the highest anonymous and file-backed RSS
	// sampled every 250 ms from start to the end of the window (VmHWM
	// is the peak of their sum, tracked by the kernel).
	peakAnon, peakFile  int64
	startup             time.Duration
	metricsTime         []time.Duration // each scrape, gzip as Prometheus asks
	metricsBytes        int64           // uncompressed
	metricsGzip         int64
	apiPage, apiFull    time.Duration
	apiFullBytes        int64
	apiCheck, apiHist   time.Duration
	page                time.Duration
	pageBytes           int64
	pageErr             string
	fileAtRetention     int64
	fileAtEnd           int64
	retainedAttempts    float64
	statuses            map[string]float64
	cpuCores            int
	loadBefore, loadEnd string
}

func bench(c config) (*result, error) {
	if c.retention <= 0 {
		c.retention = c.interval / 2
	}
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

	env := os.Environ()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  interval: %s\n  timeout: %s\n  hosts: {imap: %q, pop: %q, smtp: %q}\n",
		c.interval, min(c.interval, 30*time.Second), srv.IMAP, srv.POP, srv.SMTP)
	fmt.Fprintf(&b, "scheduler:\n  max_in_flight: %d\n  max_per_host: %d\n  confirm_delay: %s\n", c.maxInFlight, c.maxPerHost, max(c.interval/10, time.Second))
	fmt.Fprintf(&b, "store:\n  history_max_age: %s\n", c.retention)
	b.WriteString("targets:\n")
	var extra string
	switch c.server {
	case "fake":
		extra = "    allow_plaintext: true\n    imap_starttls: true\n    pop_starttls: true\n"
		env = append(env, "FLEET_PASSWORD=fleet-password", "FLEET_TOKEN=fleet-token")
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
		// One app token for every target, as the daemon's token registry
		// shares one per app: token requests are not part of a login.
		t, err := clientCredentials(ep, pool)
		if err != nil {
			return nil, err
		}
		extra = fmt.Sprintf("    ca_file: %q\n", ep.CAFile)
		env = append(env, "FLEET_PASSWORD="+ep.Demo.Password, "FLEET_TOKEN="+t)
	default:
		return nil, fmt.Errorf("unknown server %q", c.server)
	}
	checks := 0
	for i := range c.targets {
		user := fmt.Sprintf("u%05d@contoso.example", i)
		if c.server == "sim" {
			user = "demo@contoso.com" // the one healthy mailbox of the demo tenant
		}
		fmt.Fprintf(&b, "  - name: t%05d\n    user: %s\n    labels: {team: team%d}\n    password_env: FLEET_PASSWORD\n    token_env: FLEET_TOKEN\n%s    checks:\n",
			i, user, i%20, extra)
		for _, p := range probe.Protocols {
			for _, m := range probe.Mechanisms {
				exp := "ok"
				if m == probe.Basic && p != probe.SMTP {
					exp = "fail" // Basic IMAP/POP is retired: posture checks
				}
				fmt.Fprintf(&b, "      - {protocol: %s, mechanism: %s, expect: %s}\n", p, m, exp)
				checks++
			}
		}
	}
	cfgPath := filepath.Join(tmp, "exoprobe.yaml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &result{cfg: c, checks: checks, cpuCores: runtime.NumCPU(), loadBefore: loadavg(), statuses: map[string]float64{}}
	d := exec.Command(c.exoprobe, "run", "--config", cfgPath, "--data-dir", dataDir, "--listen", addr, "--log-level", "warn")
	d.Env = env
	d.Stderr = c.log
	t0 := time.Now()
	if err := d.Start(); err != nil {
		return nil, err
	}
	defer func() {
		d.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			d.Process.Kill()
			<-done
		}
	}()
	// Sample the daemon's memory split while it runs: the kernel keeps
	// only the peak of the total (VmHWM).
	sampled := make(chan [2]int64, 1)
	stopSampling := make(chan struct{})
	go func() {
		var peak [2]int64
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			peak[0] = max(peak[0], procStatus(d.Process.Pid, "RssAnon"))
			peak[1] = max(peak[1], procStatus(d.Process.Pid, "RssFile"))
			select {
			case <-stopSampling:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	defer func() {
		select {
		case <-stopSampling:
		default:
			close(stopSampling)
		}
	}()
	base := "http://" + addr
	// Generous: the unpaginated API at 120,000 checks on a loaded machine
	// takes a minute or more, and its time is a figure to report, not a
	// reason to abandon the run.
	hc := &http.Client{Timeout: 5 * time.Minute}
	for {
		if resp, err := hc.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(t0) > 2*time.Minute {
			return nil, errors.New("the daemon did not become ready within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.startup = time.Since(t0)
	dbPath := filepath.Join(dataDir, "exoprobe.db")

	// Phases are spread evenly over the interval from the start, so the
	// first interval already runs at the steady rate. Wait a fifth of an
	// interval, then measure one interval. Retention (history_max_age,
	// half an interval by default) has started by the window's middle.
	time.Sleep(c.interval / 5)
	m0, err := scrape(hc, base, false)
	if err != nil {
		return nil, err
	}
	cpu0, srv0 := procCPU(d.Process.Pid), procCPU(child.Process.Pid)
	w0 := time.Now()
	var p50s, p99s []float64
	var lagMax float64
	tick := time.NewTicker(c.interval / 10)
	defer tick.Stop()
	n := 0
	for time.Since(w0) < c.interval {
		<-tick.C
		n++
		t := time.Now()
		m, err := scrape(hc, base, true)
		if err != nil {
			return nil, err
		}
		r.metricsTime = append(r.metricsTime, time.Since(t))
		r.metricsGzip = m.gzipBytes
		p50s, p99s = append(p50s, m.vals[`exoprobe_scheduler_lag_seconds{stat="p50"}`]), append(p99s, m.vals[`exoprobe_scheduler_lag_seconds{stat="p99"}`])
		lagMax = max(lagMax, m.vals[`exoprobe_scheduler_lag_seconds{stat="max"}`])
		switch n {
		case 3:
			if fi, err := os.Stat(dbPath); err == nil {
				r.fileAtRetention = fi.Size()
			}
		case 5:
			r.apiPage, _, err = timedGet(hc, base+"/api/v1/status?status=failing&limit=50")
			if err != nil {
				return nil, err
			}
			r.apiCheck, _, err = timedGet(hc, base+"/api/v1/checks/t00007%2Fsmtp%2Fbasic")
			if err != nil {
				return nil, err
			}
			r.apiHist, _, err = timedGet(hc, base+"/api/v1/checks/t00007%2Fsmtp%2Fbasic/history?limit=100")
			if err != nil {
				return nil, err
			}
		case 6:
			r.apiFull, r.apiFullBytes, err = timedGet(hc, base+"/api/v1/status")
			if err != nil {
				return nil, err
			}
		case 7:
			r.page, r.pageBytes, err = timedGet(hc, base+"/")
			if err != nil {
				r.pageErr = err.Error()
			}
		}
	}
	r.window = time.Since(w0)
	cpu1, srv1 := procCPU(d.Process.Pid), procCPU(child.Process.Pid)
	m1, err := scrape(hc, base, false)
	if err != nil {
		return nil, err
	}
	r.metricsBytes = m1.bytes
	r.probes = m1.vals["exoprobe_probes_total"] - m0.vals["exoprobe_probes_total"]
	if r.probes <= 0 {
		return nil, errors.New("no probes ran in the measured interval")
	}
	slices.Sort(p50s)
	r.lagP50 = secs(p50s[len(p50s)/2])
	r.lagP99 = secs(slices.Max(p99s))
	r.lagMax = secs(lagMax)
	r.cpuPerProbe = time.Duration(float64(cpu1-cpu0) / r.probes)
	r.serverCPUPerProbe = time.Duration(float64(srv1-srv0) / r.probes)
	r.hwm, r.rssAnon, r.rssFile = procStatus(d.Process.Pid, "VmHWM"), procStatus(d.Process.Pid, "RssAnon"), procStatus(d.Process.Pid, "RssFile")
	close(stopSampling)
	peak := <-sampled
	r.peakAnon, r.peakFile = peak[0], peak[1]
	if fi, err := os.Stat(dbPath); err == nil {
		r.fileAtEnd = fi.Size()
	}
	r.retainedAttempts = float64(checks) * float64(c.retention) / float64(c.interval)
	r.loadEnd = loadavg()
	return r, nil
}

type scraped struct {
	vals             map[string]float64 // unlabelled and scheduler series
	bytes, gzipBytes int64
}

// scrape reads /metrics as Prometheus does (gzip) or plainly, keeping the
// daemon's own series.
func scrape(hc *http.Client, base string, gz bool) (*scraped, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	// A transport that does not decompress for us, to count gzip bytes.
	resp, err := (&http.Client{Timeout: hc.Timeout, Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	s := &scraped{vals: map[string]float64{}}
	body := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		s.gzipBytes = int64(len(raw))
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	s.bytes = int64(len(body))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "exoprobe_scheduler_") && !strings.HasPrefix(l, "exoprobe_probes_total") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			s.vals[l[:i]] = v
		}
	}
	return s, sc.Err()
}

func timedGet(hc *http.Client, u string) (time.Duration, int64, error) {
	t := time.Now()
	resp, err := hc.Get(u)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return time.Since(t), n, err
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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

// procStatus reads a kB figure of a process's /proc status, in bytes.
func procStatus(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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
	fmt.Fprintf(w, "%-6s %7s %8s %8s %17s %9s %9s %16s %13s %13s %9s %9s %13s\n",
		"server", "checks", "interval", "probes/s", "lag p50/p99/max", "CPU/probe", "peak RSS", "/metrics s/MiB", "API page/one", "API all", "page", "startup", "store")
}

func (r *result) print(w, detail io.Writer) {
	slices.Sort(r.metricsTime)
	mt := r.metricsTime[len(r.metricsTime)-1]
	page := fmt.Sprintf("%.1fs", r.page.Seconds())
	if r.pageErr != "" {
		page = "failed"
	}
	fmt.Fprintf(w, "%-6s %7d %8s %8.0f %17s %9s %9s %16s %13s %13s %9s %9s %13s\n",
		r.cfg.server, r.checks, r.cfg.interval, r.probes/r.window.Seconds(),
		ms(r.lagP50)+"/"+ms(r.lagP99)+"/"+ms(r.lagMax), us(r.cpuPerProbe), mib(float64(r.hwm)),
		fmt.Sprintf("%.2fs/%.1f", mt.Seconds(), float64(r.metricsBytes)/(1<<20)),
		ms(r.apiPage)+"/"+ms(r.apiCheck), fmt.Sprintf("%.1fs/%s", r.apiFull.Seconds(), mib(float64(r.apiFullBytes))),
		page, fmt.Sprintf("%.1fs", r.startup.Seconds()), mib(float64(r.fileAtEnd)))
	fmt.Fprintf(detail, "  %s: %.0f probes in %v; server CPU/probe %s; RSS at end: anonymous %s, file-backed (binary and the store's mmap) %s; "+
		"highest sampled (every 250 ms): anonymous %s, file-backed %s; "+
		"/metrics scrapes %v (gzip %s, plain %s); API history of one check %s; status page %s in %s %s; "+
		"store file %s when retention (history_max_age %s) had started, %s at the end, %.0f attempts retained = %.0f file B/retained attempt; "+
		"load average %s before, %s at the end; %d CPUs\n",
		r.cfg.server, r.probes, r.window.Round(time.Second), us(r.serverCPUPerProbe), mib(float64(r.rssAnon)), mib(float64(r.rssFile)),
		mib(float64(r.peakAnon)), mib(float64(r.peakFile)),
		r.metricsTime, mib(float64(r.metricsGzip)), mib(float64(r.metricsBytes)), ms(r.apiHist), mib(float64(r.pageBytes)), r.page.Round(time.Millisecond), r.pageErr,
		mib(float64(r.fileAtRetention)), r.cfg.retention, mib(float64(r.fileAtEnd)), r.retainedAttempts, float64(r.fileAtEnd)/max(r.retainedAttempts, 1),
		r.loadBefore, r.loadEnd, r.cpuCores)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }
func mib(b float64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", b/(1<<30))
	}
	return fmt.Sprintf("%.0fMiB", b/(1<<20))
}
