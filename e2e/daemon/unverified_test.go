package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
)

// A posture check (expect: fail) that fails for a reason that proves
// nothing — its server down, its password file missing — is unverified in
// the running daemon (issue 8): its own status in the API and on /metrics,
// and a confirmed posture_unverified event; never the green "ok" it used to
// get from any failure.
func TestDaemonPostureUnverified(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the daemon")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	// The missing password shows only where the server answers: the
	// emulator's POP.
	s, err := sim.Start(context.Background(), sim.Options{DataDir: filepath.Join(dir, "sim")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ep := s.Endpoints()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("not-a-real-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`defaults:
  interval: 1s
  timeout: 1s
  hosts: {imap: %q, pop: %q, smtp: %q}
scheduler:
  confirm_delay: 100ms
targets:
  - name: down
    user: down@contoso.com
    password_file: %q
    checks:
      - {protocol: imap, mechanism: basic, expect: fail}
  - name: nosecret
    user: nosecret@contoso.com
    password_file: %q
    ca_file: %q
    hosts: {pop: %q}
    checks:
      - {protocol: pop, mechanism: basic, expect: fail}
`, closed, closed, closed, pw, filepath.Join(dir, "no-such-password"), ep.CAFile, ep.POP.TLS)
	cfgPath := filepath.Join(dir, "exoprobe.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, cfgPath, filepath.Join(dir, "data"), filepath.Join(dir, "daemon.log"))
	defer d.Term(t)

	want := map[scheduler.CheckID]string{"down/imap/basic": "network_error", "nosecret/pop/basic": "secret_unreadable"}
	waitUntil(t, time.Now().Add(20*time.Second), "both posture checks unverified", func() (bool, string) {
		for id, cause := range want {
			st := d.apiCheck(t, id)
			if st == nil || st.Status != scheduler.StatusUnverified || string(st.Cause) != cause {
				return false, fmt.Sprintf("%s: %+v", id, st)
			}
		}
		return true, ""
	})
	waitMetrics(t, d, "unverified status and expected 0", map[string]float64{
		`exoprobe_check_status{mechanism="basic",protocol="imap",status="unverified",target="down"}`:    1,
		`exoprobe_check_status{mechanism="basic",protocol="imap",status="ok",target="down"}`:            0,
		`exoprobe_check_expected{mechanism="basic",protocol="imap",target="down"}`:                      0,
		`exoprobe_check_status{mechanism="basic",protocol="pop",status="unverified",target="nosecret"}`: 1,
		`exoprobe_check_expected{mechanism="basic",protocol="pop",target="nosecret"}`:                   0,
	})
	waitUntil(t, time.Now().Add(10*time.Second), "posture_unverified events", func() (bool, string) {
		evs, ok := d.apiEvents(t)
		if !ok {
			return false, "no events API"
		}
		for id := range want {
			if countEvents(evs, id, scheduler.EventPostureUnverified) != 1 {
				return false, fmt.Sprintf("%s: %d posture_unverified events in %d", id, countEvents(evs, id, scheduler.EventPostureUnverified), len(evs))
			}
		}
		return true, ""
	})
}
