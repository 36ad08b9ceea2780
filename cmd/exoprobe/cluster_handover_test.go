package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/cluster"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Issue 11: a failing check whose owner stops moves to the other member,
// which does not alert its incident again, and tells its recovery under
// the same incident (group key). Both members deliver to one receiver, as
// a team's webhook or PagerDuty service would be.
func TestClusterMovedCheckIsNotAlertedTwice(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "exoprobe.yaml", `defaults:
  interval: 1s
  timeout: 1s
  hosts: {smtp: 127.0.0.1:1587}
scheduler:
  no_confirm: true
alerts:
  group_wait: 100ms
  group_interval: 100ms
targets:
  - name: printer
    user: printer@contoso.example
    password_env: EXOPROBE_RUN_TEST_PW
    checks:
      - {protocol: smtp, mechanism: basic}
`)
	const refusal = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
	var failing atomic.Bool
	failing.Store(true)
	var mu sync.Mutex
	ran := map[string]int{}
	receiver := alerts.NewMemory("team", "en")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gossip := []string{freeAddr(t), freeAddr(t)}
	addrs := make([]string, 2)
	cancels := make([]context.CancelFunc, 2)
	dones := make([]chan error, 2)
	for i := range 2 {
		name := fmt.Sprintf("m%d", i)
		cc := &cluster.Config{ListenAddress: gossip[i], Peers: []string{gossip[1-i]}, Name: name,
			GossipInterval: 20 * time.Millisecond, ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
			PushPullInterval: time.Second, ReconnectInterval: 200 * time.Millisecond, SettleTimeout: 10 * time.Second}
		prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
			mu.Lock()
			ran[name]++
			mu.Unlock()
			a := probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
				Start: time.Now(), OK: true, Stage: probe.StageDone}
			if failing.Load() {
				a.OK, a.Stage, a.ErrorKind, a.Reply = false, probe.StageAuth, probe.ErrRefused, refusal
			}
			return a
		})
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: filepath.Join(dir, name), Listen: "127.0.0.1:0",
				Logger: log, Prober: prober, Cluster: cc, ExtraSinks: []alerts.Sink{{Name: "team", Type: "memory", Notifier: receiver}},
				Ready: func(a string, r *Runtime) { addrs[i] = a; close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("daemon %d did not start: %v", i, err)
		}
		cancels[i], dones[i] = cancel, done
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}
	getJSON := func(addr, path string, v any) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var owner string
	waitUntil("the cluster to settle", func() bool {
		var st cluster.Status
		getJSON(addrs[0], "/api/v1/cluster", &st)
		if !st.Ready || len(st.Members) != 2 || len(st.Checks) != 1 {
			return false
		}
		owner = st.Checks[0].Owner
		return true
	})
	waitUntil("the incident's first notification", func() bool { return len(receiver.Received()) >= 1 })
	first := receiver.Received()[0].Notification
	if first.Status != alerts.StatusFiring {
		t.Fatalf("first notification: %+v", first)
	}

	// The owner stops (it leaves the cluster); the other takes over.
	var o, s int
	if owner == "m1" {
		o, s = 1, 0
	} else {
		s = 1
	}
	survivor := fmt.Sprintf("m%d", s)
	cancels[o]()
	if err := <-dones[o]; err != nil {
		t.Fatalf("owner stopped with %v", err)
	}
	dones[o] <- nil // for the cleanup
	mu.Lock()
	base := ran[survivor]
	mu.Unlock()
	waitUntil("the survivor to record the take-over", func() bool {
		var evs struct {
			Events []scheduler.Event `json:"events"`
		}
		getJSON(addrs[s], "/api/v1/events", &evs)
		for _, ev := range evs.Events {
			if ev.Handover == scheduler.HandoverAdopted {
				return true
			}
		}
		return false
	})
	// Three more failing attempts on the survivor: each a chance to alert
	// again, ten group intervals apart.
	waitUntil("failing attempts on the survivor", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ran[survivor] >= base+4
	})
	if got := receiver.Received(); len(got) != 1 {
		t.Fatalf("the moved check was alerted again: %d notifications, the second %+v", len(got), got[1].Notification)
	}

	failing.Store(false)
	waitUntil("the recovery's notification", func() bool { return len(receiver.Received()) >= 2 })
	got := receiver.Received()
	res := got[1].Notification
	if res.Status != alerts.StatusResolved || res.GroupKey != first.GroupKey || len(res.Resolved) != 1 || len(got) != 2 {
		t.Errorf("recovery on the survivor: status %s group %q (first %q), %d resolved, %d notifications",
			res.Status, res.GroupKey, first.GroupKey, len(res.Resolved), len(got))
	}
}
