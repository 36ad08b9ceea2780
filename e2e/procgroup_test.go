package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// groupProc is a server under test (Dovecot) in its own process group, so
// that stopping it reaches every child.
type groupProc struct {
	pgid int
	out  *testenv.Buffer
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, set before done is closed
}

// pipeGrace bounds how long Wait waits for the output pipe once the
// process itself is gone: a helper that left the group (setsid) keeps the
// pipe open for as long as it lives, and Wait would wait with it.
const pipeGrace = 2 * time.Second

// startGroup starts cmd in a process group of its own, its output into a
// buffer that tests may read while it runs.
func startGroup(cmd *exec.Cmd) (*groupProc, error) {
	g := &groupProc{out: &testenv.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = g.out, g.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeGrace
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g.pgid = cmd.Process.Pid
	go func() {
		g.err = cmd.Wait()
		close(g.done)
	}()
	return g, nil
}

// exited reports, without blocking, whether the process has ended.
func (g *groupProc) exited() (bool, error) {
	select {
	case <-g.done:
		return true, g.err
	default:
		return false, nil
	}
}

// wait waits for the process at most d.
func (g *groupProc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.done:
		return true
	case <-t.C:
		return false
	}
}

// stop ends the group whatever its members do, in bounded time (about
// 3 × grace + pipeGrace at worst): SIGTERM to the group, SIGKILL to the
// group if the leader is not gone within grace, then at most grace for
// the rest of the group. It returns what did not end as it should, for
// the test to report; nil when everything ended.
func (g *groupProc) stop(grace time.Duration) error {
	var problems []string
	_ = syscall.Kill(-g.pgid, syscall.SIGTERM)
	if !g.wait(grace) {
		_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
		if !g.wait(grace + pipeGrace) {
			problems = append(problems, fmt.Sprintf("process %d did not end within %v of SIGKILL", g.pgid, grace+pipeGrace))
		}
	}
	if ok, err := g.exited(); ok && errors.Is(err, exec.ErrWaitDelay) {
		problems = append(problems, "a process outside the group kept the output pipe open after the leader exited")
	}
	// The leader is gone; the rest of its group must follow. There is no
	// event for a group emptying: poll the kernel, bounded.
	deadline := time.Now().Add(grace)
	for groupAlive(g.pgid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
			problems = append(problems, fmt.Sprintf("processes of group %d outlived the leader", g.pgid))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// groupAlive reports whether a process of group pgid still runs. A zombie
// does not count: killed members whose parent died are reaped by PID 1,
// which in a container may take seconds, and kill(-pgid, 0) still finds
// them. Where /proc cannot be read, the kernel's answer is all there is.
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg == pgid {
			return true
		}
	}
	return false
}
