package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stopping a server under test is bounded whatever it does (the Dovecot
// cleanup used to wait on Wait for ever): a group that ignores SIGTERM is
// killed, and a helper that left the group with the output pipe open
// (Wait waits for the pipe as well as the process) does not keep stop
// waiting until the helper ends.
func TestStopGroupBounded(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	t.Run("ignores SIGTERM", func(t *testing.T) {
		// Ignored signals stay ignored across exec: the leader and its
		// child both ignore SIGTERM.
		g, err := startGroup(exec.Command(sh, "-c", `trap "" TERM; sleep 60 & echo ready; wait`))
		if err != nil {
			t.Fatal(err)
		}
		// SIGTERM before the trap would end it the ordinary way.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(g.out.String(), "ready"); {
			if time.Now().After(deadline) {
				t.Fatal("the shell did not start")
			}
			time.Sleep(10 * time.Millisecond) // no event for output appearing
		}
		const grace = time.Second
		start := time.Now()
		if err := g.stop(grace); err != nil {
			t.Errorf("stop: %v", err)
		}
		if el := time.Since(start); el < grace || el > 3*grace+pipeGrace {
			t.Errorf("stop took %v: want SIGTERM ignored, then SIGKILL after the %v grace", el, grace)
		}
		if ok, _ := g.exited(); !ok {
			t.Error("the leader is still running")
		}
	})
	t.Run("helper outside the group holds the pipe", func(t *testing.T) {
		setsid, err := exec.LookPath("setsid")
		if err != nil {
			t.Skip("no setsid (util-linux)")
		}
		pidFile := filepath.Join(t.TempDir(), "helper.pid")
		g, err := startGroup(exec.Command(sh, "-c",
			setsid+` sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 60' `+pidFile+` & exec sleep 60`))
		if err != nil {
			t.Fatal(err)
		}
		// The helper's pid, to end it ourselves: it left the group.
		var helper int
		for deadline := time.Now().Add(10 * time.Second); helper == 0; {
			if b, err := os.ReadFile(pidFile); err == nil {
				helper, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			} else if time.Now().After(deadline) {
				t.Fatal("the helper did not start")
			} else {
				time.Sleep(10 * time.Millisecond) // no event for a file appearing
			}
		}
		t.Cleanup(func() { _ = syscall.Kill(helper, syscall.SIGKILL) })

		const grace = time.Second
		start := time.Now()
		err = g.stop(grace)
		if el := time.Since(start); el > 3*grace+pipeGrace {
			t.Errorf("stop took %v: it waited for the helper", el)
		}
		if err != nil {
			t.Logf("stop: %v", err)
		}
		if ok, _ := g.exited(); !ok {
			t.Error("Wait has not returned")
		}
	})
}
