// Package amtest runs a real Alertmanager (Debian's prometheus-alertmanager)
// for tests: on 127.0.0.1, a free port, temporary storage and no cluster
// listener, stopped at the end of the test. Where the program is missing
// the test skips, or fails under EXOPROBE_INTEGRATION=require (testenv).
package amtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// Alertmanager is one running instance.
type Alertmanager struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	out *testenv.Buffer
}

// Alert is what GET /api/v2/alerts lists (the fields tests look at).
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// Start runs Alertmanager with a route to a receiver that does nothing,
// and waits until it is ready.
func Start(t testing.TB) *Alertmanager {
	t.Helper()
	bin := testenv.Require(t, "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port found free just before: Alertmanager takes no listener, and
	// nothing else on this machine's loopback races for it in practice.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	am := &Alertmanager{URL: "http://" + addr, out: &testenv.Buffer{}}
	cmd.Stdout, cmd.Stderr = am.out, am.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", am.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(am.URL + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return am
			}
		}
		select {
		case <-exited:
			t.Fatalf("alertmanager exited before it was ready:\n%s", am.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready within 20s:\n%s", am.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Alerts lists every alert Alertmanager holds that has not ended
// (active, silenced, inhibited or not yet processed). A resolved alert
// leaves this list.
func (a *Alertmanager) Alerts(t testing.TB) []Alert {
	t.Helper()
	as, err := a.list("active=true&silenced=true&inhibited=true&unprocessed=true")
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func (a *Alertmanager) list(query string) ([]Alert, error) {
	res, err := http.Get(a.URL + "/api/v2/alerts?" + query)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager: GET /api/v2/alerts: %s", res.Status)
	}
	var as []Alert
	if err := json.NewDecoder(res.Body).Decode(&as); err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	return as, nil
}

// Output is what Alertmanager wrote so far.
func (a *Alertmanager) Output() string { return a.out.String() }
