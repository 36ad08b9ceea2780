//go:build !unix

package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// dirLock, where there is no flock, is an exclusively created lock file. A
// crashed emulator leaves it behind; the error says how to clear it.
type dirLock struct{ path string }

func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("sim: data dir %s is in use by another emulator (%s exists; remove it if none is running): stop it or pass another --data-dir", dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("sim: data dir lock: %w", err)
	}
	f.Close()
	return &dirLock{path: path}, nil
}

func (l *dirLock) release() {
	if l == nil || l.path == "" {
		return
	}
	os.Remove(l.path)
	l.path = ""
}
