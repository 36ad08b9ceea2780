package main

import (
	"os"
	"testing"
)

// TestMain keeps daemons started without --data-dir from writing the
// lockout guard's record into the real home directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exoprobe-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
