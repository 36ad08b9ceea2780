// Command cluster benchmarks exoprobe replicas (issue 11 item 6): three
// members of the real binary (`exoprobe run --cluster.*`, local processes on
// 127.0.0.1, Alertmanager's default gossip timings) share one config's
// checks against a counting SMTP server in this process. It reports what
// the server saw, not what the members say about themselves:
//
//   - probes per check per interval, with all three members up and after
//     one was killed (kill -9): each must be 1.0;
//   - failover time: from the kill to the first probe of each check the
//     dead member owned (worst and median), against the bound of one
//     interval plus failure detection;
//   - failed Basic logins per account in any lockout-guard window over the
//     whole run, failover included (the guard's limit is 3).
//
// Every target has an XOAUTH2 check (logs in) and a Basic check refused
// with Exchange's generic "535 5.7.3 Authentication unsuccessful", which
// the lockout guard counts as a possibly wrong password.
//
// Usage: go run ./bench/cluster [-targets 200 -interval 10s -window 60s]
// (builds ./cmd/exoprobe into a temporary directory unless -bin is given).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	targets := flag.Int("targets", 200, "targets (accounts); each has an SMTP XOAUTH2 and an SMTP Basic check")
	interval := flag.Duration("interval", 10*time.Second, "check interval")
	window := flag.Duration("window", time.Hour, "lockout guard window (limit 3; the config allows no less than 1h)")
	steady := flag.Int("intervals", 6, "intervals measured before and after the kill")
	bin := flag.String("bin", "", "exoprobe binary (default: go build ./cmd/exoprobe)")
	flag.Parse()
	if err := run(*targets, *interval, *window, *steady, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "cluster bench:", err)
		os.Exit(1)
	}
}

type login struct {
	user  string
	basic bool
	ok    bool
	at    time.Time
}

// server is a minimal SMTP AUTH server that records every login.
type server struct {
	ln     net.Listener
	mu     sync.Mutex
	logins []login
}

func (s *server) record(l login) {
	s.mu.Lock()
	s.logins = append(s.logins, l)
	s.mu.Unlock()
}

func (s *server) snapshot() []login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logins)
}

func (s *server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *server) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	send := func(l string) bool { w.WriteString(l + "\r\n"); return w.Flush() == nil }
	read := func() (string, bool) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err == nil
	}
	b64 := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
	if !send("220 bench ESMTP ready") {
		return
	}
	for {
		l, ok := read()
		if !ok {
			return
		}
		cmd, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(cmd) {
		case "EHLO", "HELO":
			ok = send("250-bench Hello") && send("250-AUTH LOGIN XOAUTH2") && send("250 ENHANCEDSTATUSCODES")
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if strings.EqualFold(mech, "LOGIN") {
				user := b64(ir)
				if ir == "" {
					if !send("334 VXNlcm5hbWU6") {
						return
					}
					u, ok := read()
					if !ok {
						return
					}
					user = b64(u)
				}
				if !send("334 UGFzc3dvcmQ6") {
					return
				}
				if _, ok := read(); !ok {
					return
				}
				s.record(login{user: strings.ToLower(user), basic: true, at: time.Now()})
				ok = send("535 5.7.3 Authentication unsuccessful [BENCH 2026-12-31T23:00:00.000Z]")
			} else {
				user := ""
				for _, kv := range strings.Split(b64(ir), "\x01") {
					if v, found := strings.CutPrefix(kv, "user="); found {
						user = v
					}
				}
				s.record(login{user: strings.ToLower(user), ok: true, at: time.Now()})
				ok = send("235 2.7.0 Authentication successful")
			}
		case "QUIT":
			send("221 2.0.0 Bye")
			return
		default:
			ok = send("501 5.5.4 Invalid arguments")
		}
		if !ok {
			return
		}
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type member struct {
	name, web, gossip string
	cmd               *exec.Cmd
	log               *os.File
}

type clusterStatus struct {
	Ready   bool `json:"ready"`
	Members []struct {
		Name string `json:"name"`
	} `json:"members"`
	Checks []struct {
		ID      string `json:"id"`
		Account string `json:"account"`
		Owner   string `json:"owner"`
	} `json:"checks"`
}

func getStatus(web string) (clusterStatus, error) {
	var st clusterStatus
	resp, err := http.Get("http://" + web + "/api/v1/cluster")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("%s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func run(targets int, interval, window time.Duration, intervals int, bin string) error {
	dir, err := os.MkdirTemp("", "exoprobe-cluster-bench-")
	if err != nil {
		return err
	}
	if os.Getenv("BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	}
	if bin == "" {
		bin = filepath.Join(dir, "exoprobe")
		b := exec.Command("go", "build", "-o", bin, "./cmd/exoprobe")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &server{ln: ln}
	go srv.serve()
	defer ln.Close()

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "defaults:\n  interval: %s\n  timeout: 5s\n  hosts: {smtp: %q}\n", interval, ln.Addr().String())
	fmt.Fprintf(&cfg, "scheduler:\n  no_confirm: true\n  max_per_host: 64\n  lockout_guard: {limit: 3, window: %s}\n", window)
	cfg.WriteString("targets:\n")
	for i := range targets {
		fmt.Fprintf(&cfg, "  - name: t%04d\n    user: t%04d@contoso.com\n    allow_plaintext: true\n    password_env: BENCH_PASSWORD\n    token_env: BENCH_TOKEN\n    checks:\n      - {protocol: smtp, mechanism: xoauth2}\n      - {protocol: smtp, mechanism: basic}\n", i, i)
	}
	cfgPath := filepath.Join(dir, "exoprobe.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return err
	}

	var ms []*member
	for i := range 3 {
		web, err := freePort()
		if err != nil {
			return err
		}
		g, err := freePort()
		if err != nil {
			return err
		}
		ms = append(ms, &member{name: fmt.Sprintf("m%d", i), web: web, gossip: g})
	}
	start := func(m *member) error {
		args := []string{"run", "--config", cfgPath, "--data-dir", filepath.Join(dir, m.name), "--listen", m.web,
			"--cluster.listen-address", m.gossip, "--cluster.name", m.name}
		// Every member gets every member's address, itself included, as
		// the Helm chart's StatefulSet does.
		for _, o := range ms {
			args = append(args, "--cluster.peer", o.gossip)
		}
		f, err := os.Create(filepath.Join(dir, m.name+".log"))
		if err != nil {
			return err
		}
		m.log = f
		m.cmd = exec.Command(bin, args...)
		m.cmd.Env = append(os.Environ(), "BENCH_PASSWORD=wrong-password", "BENCH_TOKEN=bench-token")
		m.cmd.Stdout, m.cmd.Stderr = f, f
		return m.cmd.Start()
	}
	started := time.Now()
	for _, m := range ms {
		if err := start(m); err != nil {
			return err
		}
	}
	defer func() {
		for _, m := range ms {
			if m.cmd.ProcessState == nil {
				m.cmd.Process.Signal(syscall.SIGTERM)
				m.cmd.Wait()
			}
			m.log.Close()
		}
	}()
	// Wait until every member has settled with all three.
	deadline := time.Now().Add(40 * time.Second)
	for {
		all := true
		for _, m := range ms {
			st, err := getStatus(m.web)
			if err != nil || !st.Ready || len(st.Members) != 3 {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("members did not settle within 2 minutes (see their logs)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	settled := time.Now()
	// One interval for every check to come up on its owner, then measure.
	time.Sleep(interval)
	m1From := time.Now()
	time.Sleep(time.Duration(intervals) * interval)
	m1To := time.Now()

	st, err := getStatus(ms[0].web)
	if err != nil {
		return err
	}
	victim := ms[2]
	moved := map[string]bool{} // accounts the victim owned
	owned := map[string]int{}
	for _, c := range st.Checks {
		owned[c.Owner]++
		if c.Owner == victim.name {
			moved[c.Account] = true
		}
	}
	killAt := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		return err
	}
	victim.cmd.Wait()
	// Each survivor is polled from the kill on for when it drops the victim.
	detected := make([]time.Duration, 2)
	var dwg sync.WaitGroup
	for i, m := range ms[:2] {
		dwg.Go(func() { detected[i] = detectionTime(m.web, victim.name, killAt) })
	}
	// Failover: the first XOAUTH2 login of each moved account after the kill.
	var firsts []time.Duration
	deadline = time.Now().Add(interval + 2*time.Minute)
	for {
		seen := map[string]time.Time{}
		for _, l := range srv.snapshot() {
			if !l.basic && moved[l.user] && l.at.After(killAt) {
				if _, ok := seen[l.user]; !ok {
					seen[l.user] = l.at
				}
			}
		}
		if len(seen) == len(moved) {
			firsts = firsts[:0]
			for _, t := range seen {
				firsts = append(firsts, t.Sub(killAt))
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d moved accounts probed within %v of the kill", len(seen), len(moved), time.Since(killAt))
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(firsts)
	dwg.Wait()
	slices.Sort(detected)
	// After the move has settled: one more interval, then measure again.
	time.Sleep(interval)
	m2From := time.Now()
	time.Sleep(time.Duration(intervals) * interval)
	m2To := time.Now()
	// Let the guard's window pass over the failover before counting.
	all := srv.snapshot()

	fmt.Printf("exoprobe cluster benchmark: 3 members (real binary, local processes), %d targets × 2 SMTP checks, interval %v, guard 3 per %v\n",
		targets, interval, window)
	fmt.Printf("  settled after start: %v; ownership before the kill: %v\n", settled.Sub(started).Round(time.Millisecond), owned)
	p1, g1 := perInterval(all, m1From, m1To, interval, targets)
	p2, g2 := perInterval(all, m2From, m2To, interval, targets)
	fmt.Printf("  XOAUTH2 probes per check per interval, 3 members:        min %.2f mean %.3f max %.2f (closest two probes of one check: %v)\n",
		p1.min, p1.mean, p1.max, g1.Round(time.Millisecond))
	fmt.Printf("  XOAUTH2 probes per check per interval, after the kill:   min %.2f mean %.3f max %.2f (closest two probes of one check: %v)\n",
		p2.min, p2.mean, p2.max, g2.Round(time.Millisecond))
	fmt.Printf("  failover (kill -9 of %s, %d accounts moved): survivors saw it dead after %v and %v; first probe of a moved check after the kill: median %v, worst %v (bound: interval %v + detection)\n",
		victim.name, len(moved), detected[0], detected[1], firsts[len(firsts)/2].Round(time.Millisecond), firsts[len(firsts)-1].Round(time.Millisecond), interval)
	worst, worstUser := maxFailuresInWindow(all, window)
	fmt.Printf("  failed Basic logins per account in any %v window, whole run incl. failover: max %d (%s); moved accounts: max %d\n",
		window, worst, worstUser, maxMoved(all, window, moved))
	return nil
}

// detectionTime polls a survivor until the victim is gone from its
// members; it is called right after the kill.
func detectionTime(web, victim string, killAt time.Time) time.Duration {
	for time.Since(killAt) < 2*time.Minute {
		st, err := getStatus(web)
		if err == nil {
			found := false
			for _, m := range st.Members {
				found = found || m.Name == victim
			}
			if !found {
				return time.Since(killAt).Round(100 * time.Millisecond)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return -1
}

type stats struct{ min, mean, max float64 }

// perInterval counts XOAUTH2 logins per account between from and to, in
// probes per interval. Each account's window is moved to start halfway
// between two of its slots (its phase is read from its first login in the
// window), so that a probe that starts or logs in a little late on a loaded
// machine is not counted in two windows: only a second probe in one slot
// raises the figure. minGap is the closest two logins of one account came,
// over the whole window: a second prober shows as a gap well below the
// interval.
func perInterval(ls []login, from, to time.Time, interval time.Duration, targets int) (s stats, minGap time.Duration) {
	by := map[string][]time.Time{}
	for _, l := range ls {
		if !l.basic && !l.at.Before(from) && l.at.Before(to) {
			by[l.user] = append(by[l.user], l.at)
		}
	}
	slots := int((to.Sub(from) / interval)) - 1
	if slots < 1 {
		slots = 1
	}
	s = stats{min: 1e9}
	minGap = -1
	for i := range targets {
		ts := by[fmt.Sprintf("t%04d@contoso.com", i)]
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		n := 0
		if len(ts) > 0 {
			ws := from.Add(ts[0].Sub(from)%interval - interval/2)
			if ws.Before(from) {
				ws = ws.Add(interval)
			}
			we := ws.Add(time.Duration(slots) * interval)
			for _, t := range ts {
				if !t.Before(ws) && t.Before(we) {
					n++
				}
			}
		}
		for k := 1; k < len(ts); k++ {
			if g := ts[k].Sub(ts[k-1]); minGap < 0 || g < minGap {
				minGap = g
			}
		}
		v := float64(n) / float64(slots)
		s.min, s.max = min(s.min, v), max(s.max, v)
		s.mean += v / float64(targets)
	}
	return s, minGap
}

func maxFailuresInWindow(ls []login, window time.Duration) (int, string) {
	by := map[string][]time.Time{}
	for _, l := range ls {
		if l.basic {
			by[l.user] = append(by[l.user], l.at)
		}
	}
	worst, who := 0, ""
	for u, ts := range by {
		if n := windowMax(ts, window); n > worst {
			worst, who = n, u
		}
	}
	return worst, who
}

func maxMoved(ls []login, window time.Duration, moved map[string]bool) int {
	by := map[string][]time.Time{}
	for _, l := range ls {
		if l.basic && moved[l.user] {
			by[l.user] = append(by[l.user], l.at)
		}
	}
	worst := 0
	for _, ts := range by {
		worst = max(worst, windowMax(ts, window))
	}
	return worst
}

func windowMax(ts []time.Time, window time.Duration) int {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range ts {
		n := 0
		for _, u := range ts[i:] {
			if u.Sub(ts[i]) < window {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}
