// Package testenv lets tests that need a real third-party program (Dovecot,
// Chromium, Alertmanager, curl, Python) skip where it is not installed, and
// fail instead when EXOPROBE_INTEGRATION=require, so CI never passes by
// skipping; and small pieces such tests share (a silent server, a
// goroutine-safe buffer).
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv("EXOPROBE_INTEGRATION") == "require" }

// Require returns the path of the program, found by name on PATH or at one
// of the given absolute paths; where none exists it skips the test, or fails
// it when integration tests are required.
func Require(t testing.TB, name string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if filepath.IsAbs(p) {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " is not installed (Debian package needed; .ci/run installs it)"
	if Required() {
		t.Fatalf("%s, and EXOPROBE_INTEGRATION=require", msg)
	}
	t.Skip(msg + "; set EXOPROBE_INTEGRATION=require to make this a failure")
	return ""
}

// SilentServer listens on 127.0.0.1, accepts connections and never says a
// word, until the test ends: a hung server or token endpoint. It returns
// the address.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Buffer collects what a server or daemon under test writes (its log, its
// stdout) from its own goroutines while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
