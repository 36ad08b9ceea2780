package main

import (
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	serveIfChild() // the test binary is the servers' child process too
	os.Exit(m.Run())
}

// A small fleet through the whole benchmark: every check runs, and every
// figure the table prints was measured (none left at zero).
func TestBenchSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scheduler for 4 s")
	}
	r, err := bench(config{server: "fake", targets: 20, interval: 3 * time.Second, real: 5 * time.Minute,
		maxInFlight: 16, maxPerHost: 16})
	if err != nil {
		t.Fatal(err)
	}
	if r.checks != 120 || r.probes < 100 {
		t.Errorf("%d checks, %d probes in one interval", r.checks, r.probes)
	}
	if r.cpuPerProbe <= 0 || r.hwm <= 0 || r.histBytesPerAttempt <= 0 || r.lagP99 <= 0 {
		t.Errorf("figures missing: cpu/probe %v, hwm %d, B/attempt %.0f, lag p99 %v", r.cpuPerProbe, r.hwm, r.histBytesPerAttempt, r.lagP99)
	}
	want := map[string]int{"imap/basic basic_auth_disabled": 0, "pop/basic basic_auth_disabled": 0,
		"imap/xoauth2 ok": 0, "pop/xoauth2 ok": 0, "smtp/basic ok": 0, "smtp/xoauth2 ok": 0}
	for k := range want {
		if r.outcomes[k] == 0 {
			t.Errorf("no %q outcome: %v", k, r.outcomes)
		}
	}
	if len(r.outcomes) != len(want) {
		t.Errorf("unexpected outcomes: %v", r.outcomes)
	}
}
