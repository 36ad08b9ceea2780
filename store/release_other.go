//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// releaseMapped is Linux only (see release_linux.go).
func releaseMapped(*bolt.DB) {}
