package store

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rssFile is this process's file-backed resident memory (bytes).
func rssFile(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// Pages read through bbolt's map stop counting in the process's RSS once
// released, and reading them again still gives the stored data.
func TestReleaseMapped(t *testing.T) {
	db, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte("x"), 3000)
	const n = 4000 // 12 MB of values
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("t"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(fmt.Appendf(nil, "k%05d", i), val); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	readAll := func() (sum int) {
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("t")).ForEach(func(k, v []byte) error {
				for _, c := range v {
					sum += int(c)
				}
				return nil
			})
		})
		return sum
	}
	want := readAll()
	touched := rssFile(t)
	releaseMapped(db.Bolt())
	released := rssFile(t)
	if touched-released < 8<<20 {
		t.Errorf("RssFile %d MiB after reading the file, %d MiB after releasing: want at least 8 MiB less", touched>>20, released>>20)
	}
	if got := readAll(); got != want {
		t.Errorf("after release the values sum to %d, want %d", got, want)
	}
}
