package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	serveIfChild() // the test binary is the servers' child process too
	os.Exit(m.Run())
}

// A small fleet through the whole benchmark with the real binary: every
// figure the table prints was measured (none left at zero).
func TestBenchSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds exoprobe and runs it for about 6 s")
	}
	bin := filepath.Join(t.TempDir(), "exoprobe")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/exoprobe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r, err := bench(config{exoprobe: bin, server: "fake", targets: 20, interval: 4 * time.Second,
		maxInFlight: 16, maxPerHost: 16, log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if r.checks != 120 || r.probes < 100 {
		t.Errorf("%d checks, %.0f probes in one interval", r.checks, r.probes)
	}
	if r.cpuPerProbe <= 0 || r.hwm <= 0 || r.peakAnon <= 0 || r.peakFile <= 0 || r.fileAtEnd <= 0 || r.metricsBytes <= 0 || len(r.metricsTime) < 5 ||
		r.apiPage <= 0 || r.apiCheck <= 0 || r.apiFull <= 0 || r.page <= 0 || r.pageErr != "" {
		t.Errorf("figures missing: %+v", r)
	}
}
