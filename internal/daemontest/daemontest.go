// Package daemontest runs the exoprobe binary as a real process for
// end-to-end tests: built once per test, started in its own process group
// on 127.0.0.1:0, killed with SIGKILL (no shutdown path runs) or stopped
// with SIGTERM, its log kept in a file.
package daemontest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// BuildBinary builds cmd/exoprobe into dir and returns its path.
func BuildBinary(t testing.TB, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build exoprobe: %v", err)
	}
	bin := filepath.Join(dir, "exoprobe")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/exoprobe/exoprobe/cmd/exoprobe")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Daemon is one `exoprobe run` (or `exoprobe demo`) process, in its own
// process group.
type Daemon struct {
	Cmd     *exec.Cmd
	LogPath string
	// Addr is the HTTP listener's address, from the log.
	Addr    string
	Started time.Time
	// Done is closed when the process has exited.
	Done chan struct{}
}

// listenRE finds the listener in the daemon's log, or in the demo's
// "status page: http://ADDR/" line.
var listenRE = regexp.MustCompile(`(?:msg="exoprobe running" listen=|status page: http://)([^\s/]+)`)

// Start runs `bin run --config cfg --data-dir dataDir --listen
// 127.0.0.1:0` with its output in logPath, and waits for its listener and
// /healthz. The process is killed at the end of the test if still running.
func Start(t testing.TB, bin, cfg, dataDir, logPath string) *Daemon {
	t.Helper()
	return StartArgs(t, bin, []string{"run", "--config", cfg, "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, logPath)
}

// StartArgs runs bin with args (a `run` or `demo` command listening on
// 127.0.0.1:0), its stdout and stderr in logPath, and waits for its
// listener and /healthz, as Start does.
func StartArgs(t testing.TB, bin string, args []string, logPath string) *Daemon {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d := &Daemon{Cmd: cmd, LogPath: logPath, Started: time.Now(), Done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(d.Done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-d.Done
	})
	WaitUntil(t, time.Now().Add(15*time.Second), "the daemon's listener", func() (bool, string) {
		select {
		case <-d.Done:
			t.Fatalf("the daemon exited: %s\n%s", cmd.ProcessState, d.Log(t))
		default:
		}
		m := listenRE.FindSubmatch(d.Log(t))
		if m == nil {
			return false, string(d.Log(t))
		}
		d.Addr = string(m[1])
		return true, ""
	})
	WaitUntil(t, time.Now().Add(5*time.Second), "/healthz", func() (bool, string) {
		resp, err := http.Get("http://" + d.Addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return d
}

// Log is what the daemon wrote so far.
func (d *Daemon) Log(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Kill9 kills the daemon's process group with SIGKILL: no shutdown path
// runs, whatever was not committed is lost.
func (d *Daemon) Kill9(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(-d.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.Done
}

// Term stops the daemon the ordinary way and expects a clean exit.
func (d *Daemon) Term(t testing.TB) {
	t.Helper()
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the daemon did not stop within 10s of SIGTERM\n%s", d.Log(t))
	}
	if !d.Cmd.ProcessState.Success() {
		t.Fatalf("the daemon exited with %s\n%s", d.Cmd.ProcessState, d.Log(t))
	}
}

// WaitUntil polls cond every 25 ms until it holds, and fails the test at
// the deadline with what cond last said.
func WaitUntil(t testing.TB, deadline time.Time, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within the deadline; %s", what, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
