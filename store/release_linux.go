package store

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops this process's mapping of the file's pages
// (madvise MADV_DONTNEED), keeping the file and the kernel's page cache
// as they are. bbolt reads the file through a read-only shared memory
// map, and every page a commit reads (branch pages, the leaf it changes,
// every value it copies) stays mapped, counted in the daemon's RSS: at
// 60,000 checks, after one interval, that was the whole file (100 MiB
// with compressed records, 233 MiB before). The pages are clean copies
// of the file, so dropping the mapping loses nothing; the next read of
// a page maps it again from the page cache (a minor fault), or from disk
// if the kernel evicted it meanwhile.
//
// It runs inside a read transaction: bbolt remaps the file only under a
// write lock that a read transaction excludes, so the range stays this
// mapping's for the call.
func releaseMapped(db *bolt.DB) {
	db.View(func(tx *bolt.Tx) error {
		if info := db.Info(); info.Data != 0 && tx.Size() > 0 {
			syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
		}
		return nil
	})
}
