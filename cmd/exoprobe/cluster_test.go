package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/cluster"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

func TestClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		listen string
		peers  int
		none   bool
	}{
		{args: nil, none: true},
		{args: []string{"--cluster.listen-address", "127.0.0.1:9094"}, listen: "127.0.0.1:9094"},
		{args: []string{"--cluster.peer", "a:9094", "--cluster.peer", "b:9094"}, listen: cluster.DefaultListenAddress, peers: 2},
	} {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		c := addClusterFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := c.config()
		if err != nil {
			t.Fatal(err)
		}
		if tc.none {
			if cfg != nil {
				t.Errorf("%v: a cluster without --cluster.* flags", tc.args)
			}
			continue
		}
		if cfg == nil || cfg.ListenAddress != tc.listen || len(cfg.Peers) != tc.peers ||
			cfg.GossipInterval != cluster.DefaultGossipInterval {
			t.Errorf("%v: %+v", tc.args, cfg)
		}
	}
}

func TestClusterSecretKeyFile(t *testing.T) {
	dir := t.TempDir()
	raw := writeFile(t, dir, "raw", "\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e")
	b64 := writeFile(t, dir, "b64", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))+"\n")
	bad := writeFile(t, dir, "bad", "short")
	for _, tc := range []struct {
		args    []string
		keyLen  int
		wantErr string
	}{
		{args: []string{"--cluster.peer", "a:9094", "--cluster.secret-key-file", raw}, keyLen: 32},
		{args: []string{"--cluster.peer", "a:9094", "--cluster.secret-key-file", b64}, keyLen: 16},
		{args: []string{"--cluster.peer", "a:9094", "--cluster.secret-key-file", bad}, wantErr: "want the base64 of 16, 24 or 32"},
		{args: []string{"--cluster.secret-key-file", raw}, wantErr: "without --cluster.listen-address"},
	} {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		c := addClusterFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := c.config()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(cfg.SecretKey) != tc.keyLen {
			t.Errorf("%v: %v, key of %d bytes", tc.args, err, len(cfg.SecretKey))
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Two daemons with --cluster.* settings split the checks: each runs and
// exports only its own, and both answer /api/v1/cluster with the same
// ownership.
func TestRunDaemonsShareChecks(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("defaults:\n  interval: 1s\n  timeout: 1s\n  hosts: {smtp: 127.0.0.1:1587}\nscheduler:\n  no_confirm: true\ntargets:\n")
	for i := range 8 {
		fmt.Fprintf(&cfg, "  - name: t%d\n    user: t%d@contoso.example\n    password_env: EXOPROBE_RUN_TEST_PW\n    checks:\n      - {protocol: smtp, mechanism: basic}\n", i, i)
	}
	cfgPath := writeFile(t, dir, "exoprobe.yaml", cfg.String())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ran := make(chan string, 1000)
	gossip := []string{freeAddr(t), freeAddr(t)}
	var addrs []string
	for i := range 2 {
		cc := &cluster.Config{ListenAddress: gossip[i], Peers: []string{gossip[1-i]}, Name: fmt.Sprintf("m%d", i),
			GossipInterval: 20 * time.Millisecond, ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
			PushPullInterval: time.Second, ReconnectInterval: 200 * time.Millisecond, SettleTimeout: 10 * time.Second}
		name := cc.Name
		prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
			ran <- name + " " + c.Target.Name
			return probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
				Start: time.Now(), OK: true, Stage: probe.StageDone}
		})
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", Logger: log, Prober: prober,
				Cluster: cc, Ready: func(a string, r *Runtime) { addrs = append(addrs, a); close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("daemon %d did not start: %v", i, err)
		}
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		})
	}
	var sts [2]cluster.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for i, a := range addrs {
			resp, err := http.Get("http://" + a + "/api/v1/cluster")
			if err != nil {
				t.Fatal(err)
			}
			sts[i] = cluster.Status{}
			_ = json.NewDecoder(resp.Body).Decode(&sts[i])
			resp.Body.Close()
			ok = ok && sts[i].Ready && len(sts[i].Members) == 2
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %+v", sts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	owner := map[string]string{}
	for _, c := range sts[0].Checks {
		owner[strings.Split(string(c.ID), "/")[0]] = c.Owner
	}
	if len(owner) != 8 || sts[0].Owned["m0"]+sts[0].Owned["m1"] != 8 {
		t.Fatalf("ownership: %+v", sts[0])
	}
	for i, c := range sts[1].Checks {
		if sts[0].Checks[i] != c {
			t.Errorf("members disagree: %+v vs %+v", sts[0].Checks[i], c)
		}
	}
	// Every check runs, each only on its owner.
	seen := map[string]bool{}
	for len(seen) < 8 {
		select {
		case r := <-ran:
			m, tg, _ := strings.Cut(r, " ")
			if owner[tg] != m {
				t.Fatalf("%s ran on %s, owned by %s", tg, m, owner[tg])
			}
			seen[tg] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("only %v ran", seen)
		}
	}
	// /metrics of each member: its own checks only.
	for i, a := range addrs {
		resp, err := http.Get("http://" + a + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for tg, m := range owner {
			has := false
			for _, l := range strings.Split(string(body), "\n") {
				has = has || (strings.HasPrefix(l, "exoprobe_check_status{") && strings.Contains(l, `target="`+tg+`"}`))
			}
			if has != (m == fmt.Sprintf("m%d", i)) {
				t.Errorf("member m%d /metrics has %s: %v (owner %s)", i, tg, has, m)
			}
		}
		if !strings.Contains(string(body), "exoprobe_cluster_members 2") {
			t.Errorf("member m%d does not export exoprobe_cluster_members 2", i)
		}
	}
	// /api/v1/status of each member: the whole fleet, the other member's
	// checks with their owner and its status page.
	for i, a := range addrs {
		resp, err := http.Get("http://" + a + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Checks []scheduler.CheckState `json:"checks"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || len(st.Checks) != 8 {
			t.Fatalf("member m%d /api/v1/status: %d checks, %v", i, len(st.Checks), err)
		}
		self := fmt.Sprintf("m%d", i)
		for _, c := range st.Checks {
			m := owner[c.Target]
			switch {
			case m == self && (c.Status == scheduler.StatusElsewhere || c.Remote != nil):
				t.Errorf("member %s lists its own %s as %s (remote %+v)", self, c.ID, c.Status, c.Remote)
			case m != self && (c.Status != scheduler.StatusElsewhere || c.Remote == nil || c.Remote.Owner != m ||
				c.Remote.OwnerURL != "http://"+addrs[1-i]+"/"):
				t.Errorf("member %s lists %s (owned by %s) as %s, remote %+v", self, c.ID, m, c.Status, c.Remote)
			}
		}
	}
}

func TestMemberWebURL(t *testing.T) {
	for _, tc := range []struct{ listen, advertise, want string }{
		{"127.0.0.1:9465", "10.0.0.7:9094", "http://127.0.0.1:9465/"},
		{"[::]:9465", "10.0.0.7:9094", "http://10.0.0.7:9465/"},
		{"0.0.0.0:9465", "[fd00::7]:9094", "http://[fd00::7]:9465/"},
		{"0.0.0.0:9465", "", ""}, // statusURL's hostname
	} {
		got := memberWebURL(tc.listen, "", tc.advertise)
		if tc.want == "" {
			tc.want = statusURL(tc.listen, "")
		}
		if got != tc.want {
			t.Errorf("memberWebURL(%q, %q) = %q, want %q", tc.listen, tc.advertise, got, tc.want)
		}
	}
}
