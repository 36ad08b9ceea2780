package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// TestSIGHUPReload is the operator's reload: `kill -HUP` with a broken file
// keeps the old configuration running and says so in the log and on
// /metrics; a fixed file then takes effect.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the daemon")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	// Every host is a port nothing listens on: the checks fail at once with
	// a connection refused, which is all a reload test needs of them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("not-a-real-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(targets ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "defaults:\n  interval: 1s\n  timeout: 1s\n  hosts: {imap: %q, pop: %q, smtp: %q}\ntargets:\n", closed, closed, closed)
		for _, tg := range targets {
			fmt.Fprintf(&b, "  - name: %s\n    user: %s@contoso.com\n    password_file: %q\n    checks:\n      - {protocol: imap, mechanism: basic}\n", tg, tg, pw)
		}
		return b.String()
	}
	cfgPath := filepath.Join(dir, "exoprobe.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg("old"))
	d := startDaemon(t, bin, cfgPath, filepath.Join(dir, "data"), filepath.Join(dir, "daemon.log"))
	hup := func() {
		t.Helper()
		if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	oldID := scheduler.MakeID("old", probe.IMAP, probe.Basic)
	waitMetrics(t, d, "the first load", map[string]float64{
		"exoprobe_config_last_reload_successful": 1,
	})

	// A broken file: an unknown key under a new target.
	bad := cfg("old", "new") + "    bogus_key: 1\n"
	badLine := strings.Count(bad[:strings.Index(bad, "bogus_key")], "\n") + 1
	write(bad)
	hup()
	waitMetrics(t, d, "the failed reload on /metrics", map[string]float64{
		"exoprobe_config_last_reload_successful":          0,
		`exoprobe_config_reloads_total{result="failure"}`: 1,
		`exoprobe_config_reloads_total{result="success"}`: 0,
	})
	logWant := regexp.MustCompile(`level=ERROR msg="config reload failed; the previous configuration stays in force".*line ` +
		fmt.Sprint(badLine) + `: field bogus_key not found`)
	waitUntil(t, time.Now().Add(5*time.Second), "the failed reload in the log", func() (bool, string) {
		return logWant.Match(d.Log(t)), string(d.Log(t))
	})
	// The old configuration is still the one running: its check keeps
	// being probed, the rejected file's target is not there.
	first := d.apiCheck(t, oldID).LastRun
	waitUntil(t, time.Now().Add(5*time.Second), "the old check probed after the failed reload", func() (bool, string) {
		st := d.apiCheck(t, oldID)
		return st.LastRun.After(first), fmt.Sprintf("last run %v", st.LastRun)
	})
	if ids := d.checkIDs(t); len(ids) != 1 || ids[0] != oldID {
		t.Fatalf("checks after the failed reload: %v, want only %s", ids, oldID)
	}

	// The file fixed: the reload takes, the new target runs.
	write(cfg("old", "new"))
	hup()
	waitMetrics(t, d, "the good reload on /metrics", map[string]float64{
		"exoprobe_config_last_reload_successful":          1,
		`exoprobe_config_reloads_total{result="failure"}`: 1,
		`exoprobe_config_reloads_total{result="success"}`: 1,
	})
	newID := scheduler.MakeID("new", probe.IMAP, probe.Basic)
	waitUntil(t, time.Now().Add(5*time.Second), "the new target's check", func() (bool, string) {
		ids := d.checkIDs(t)
		return len(ids) == 2 && ids[0] == newID && ids[1] == oldID, fmt.Sprint(ids)
	})
	d.Term(t)
}

// waitMetrics polls /metrics until every series has its value.
func waitMetrics(t *testing.T, d *daemon, what string, want map[string]float64) {
	t.Helper()
	waitUntil(t, time.Now().Add(10*time.Second), what, func() (bool, string) {
		resp, err := http.Get("http://" + d.Addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got := map[string]float64{}
		for _, l := range strings.Split(string(b), "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			i := strings.LastIndexByte(l, ' ')
			var v float64
			if _, err := fmt.Sscan(l[i+1:], &v); err == nil {
				got[l[:i]] = v
			}
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				return false, fmt.Sprintf("%s = %v (present %v), want %v", k, g, ok, v)
			}
		}
		return true, ""
	})
}

// checkIDs lists the checks in /api/v1/status, sorted.
func (d *daemon) checkIDs(t *testing.T) []scheduler.CheckID {
	t.Helper()
	var ids []scheduler.CheckID
	for _, c := range d.apiChecks(t) {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}
