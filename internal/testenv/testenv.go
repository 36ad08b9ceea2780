// Package testenv lets tests that need a real third-party program (Dovecot,
// Chromium, Alertmanager, curl, Python) skip where it is not installed, and
// fail instead when EXOPROBE_INTEGRATION=require, so CI never passes by
// skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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
