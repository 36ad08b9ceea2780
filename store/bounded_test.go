package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

func TestHistoryEncodingRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 59, 59, 123456789, time.UTC)
	for _, h := range []scheduler.HistoryEntry{
		{Time: at, OK: true, Cause: diagnose.CauseOK, Confidence: diagnose.Definitive, Stage: probe.StageDone, Duration: 42 * time.Millisecond},
		{Time: at, Cause: diagnose.CauseSMTPAuthDisabledTenant, Confidence: diagnose.Definitive, Stage: probe.StageAuth,
			Duration: 17 * time.Second, Reply: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. ✓", Confirm: true},
		{Time: at},
	} {
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, uint64(h.Time.UnixNano()))
		v := encodeHistory(nil, &h)
		got, err := decodeHistory(k, v)
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("round trip of %+v: %+v, %v", h, got, err)
		}
		if j, _ := json.Marshal(h); h.Reply == "" && len(v) >= len(j)/2 {
			t.Errorf("%d bytes encoded, JSON is %d: not compact", len(v), len(j))
		}
		for n := range len(v) - 1 {
			if _, err := decodeHistory(k, v[:n]); err == nil && n < len(v)-len(h.Reply) {
				t.Errorf("a truncated entry (%d of %d bytes) decoded without error", n, len(v))
			}
		}
	}
}

// TestHistoryReadsEarlierFormat: a store written by an earlier version
// (JSON values, 16-byte keys) is read, and new entries go after its.
func TestHistoryReadsEarlierFormat(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{})
	id := scheduler.CheckID("old/imap/basic")
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old := scheduler.HistoryEntry{Time: at, Cause: diagnose.CauseBasicAuthDisabled, Stage: probe.StageAuth, Reply: "a1 NO AUTHENTICATE failed."}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bHistory).CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		k := make([]byte, 16)
		binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
		binary.BigEndian.PutUint64(k[8:], 1)
		v, _ := json.Marshal(old)
		if err := b.Put(k, v); err != nil {
			return err
		}
		return tx.Bucket(bHCount).Put([]byte(id), putU64(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	next := scheduler.HistoryEntry{Time: at.Add(time.Minute), OK: true, Cause: diagnose.CauseOK}
	if err := db.Commit([]scheduler.Update{{ID: id, History: &next}}); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(id, 0)
	if err != nil || len(h) != 2 || !reflect.DeepEqual(h[0], next) || h[1].Reply != old.Reply || !h[1].Time.Equal(at) {
		t.Fatalf("history %+v, %v", h, err)
	}
}

// retention simulates checks at interval for the given time with history
// kept for age, committing as the scheduler does (history every attempt,
// the record hourly), and returns the file's size at each multiple of
// sample after the first age.
func retention(tb testing.TB, dir string, checks int, interval, age, sample, total, step time.Duration) []int64 {
	db, err := Open(dir, Options{MaxHistoryAge: age, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ids := make([]scheduler.CheckID, checks)
	for i := range ids {
		ids[i] = scheduler.MakeID(fmt.Sprintf("target-%05d", i/6), probe.Protocols[i%3], probe.Mechanisms[i/3%2])
	}
	reply := "a1 NO AUTHENTICATE failed."
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// One commit per step of attempts, as the group commit makes them
	// (every 100 ms in the daemon; tests take longer steps to run faster).
	perStep := max(1, int(int64(checks)*int64(step)/int64(interval)))
	var sizes []int64
	next := t0.Add(age)
	i := 0
	for now := t0; now.Before(t0.Add(total)); now = now.Add(step) {
		batch := make([]scheduler.Update, 0, perStep)
		for range perStep {
			id := ids[i%checks]
			i++
			h := &scheduler.HistoryEntry{Time: now, OK: true, Cause: diagnose.CauseOK, Confidence: diagnose.Definitive, Stage: probe.StageDone, Duration: 40 * time.Millisecond}
			if i%6 == 0 {
				h = &scheduler.HistoryEntry{Time: now, Cause: diagnose.CauseBasicAuthDisabled, Confidence: diagnose.Inferred, Stage: probe.StageAuth, Duration: 2 * time.Second, Reply: reply}
			}
			u := scheduler.Update{ID: id, History: h}
			if (i/checks)%int(time.Hour/interval) == 0 {
				u.Record = &scheduler.Record{Machine: scheduler.MachineState{Status: scheduler.StatusOK, Cause: h.Cause}, LastRun: now,
					LastAttempt: &probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Start: now, Stage: h.Stage, Reply: reply}}
			}
			batch = append(batch, u)
		}
		if err := db.Commit(batch); err != nil {
			tb.Fatal(err)
		}
		if !now.Before(next) {
			fi, _ := os.Stat(db.Path())
			sizes = append(sizes, fi.Size())
			next = next.Add(sample)
		}
	}
	return sizes
}

// TestFileStopsGrowingAfterRetention: once history is as old as the
// retention, deleted pages are reused and the file stays the same size.
func TestFileStopsGrowingAfterRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few hundred thousand entries")
	}
	sizes := retention(t, t.TempDir(), 300, time.Minute, 2*time.Hour, 2*time.Hour, 8*time.Hour+time.Second, 10*time.Second)
	if len(sizes) < 4 {
		t.Fatalf("sizes %v", sizes)
	}
	t.Logf("file size at each retention period: %v", sizes)
	for i := 1; i < len(sizes); i++ {
		if sizes[i] > sizes[0]+sizes[0]/10 {
			t.Errorf("the file grew from %d to %d bytes after retention started (%v)", sizes[0], sizes[i], sizes)
		}
	}
}

// BenchmarkRetention60k: 60,000 checks at 5 minutes with a 2-hour history
// for 8 simulated hours, committing every 5 simulated seconds; reports the
// file's size at 2, 4, 6 and 8 h and the file bytes per retained attempt.
// Run:
// go test -run XXX -bench Retention60k -benchtime 1x ./store
func BenchmarkRetention60k(b *testing.B) {
	for b.Loop() {
		sizes := retention(b, b.TempDir(), 60000, 5*time.Minute, 2*time.Hour, 2*time.Hour, 8*time.Hour+time.Second, 5*time.Second)
		for i, s := range sizes {
			b.ReportMetric(float64(s)/(1<<20), fmt.Sprintf("MiB_at_%dh", 2*(i+1)))
		}
		b.ReportMetric(float64(sizes[len(sizes)-1])/float64(60000*24), "file_B/retained_attempt")
	}
}

// BenchmarkRetention7Days: 300 checks (50 targets × 6) at 5 minutes
// with the default 7-day history, for 9 simulated days, committing every
// simulated minute; reports the file's size at 7, 8 and 9 days (after
// retention started it must stay flat) and the file bytes per retained
// attempt (2,016 a check), the figure that sizes a fleet's store.
// Run:
// go test -run XXX -bench Retention7Days -benchtime 1x ./store
func BenchmarkRetention7Days(b *testing.B) {
	const checks, days = 300, 7
	for b.Loop() {
		sizes := retention(b, b.TempDir(), checks, 5*time.Minute, days*24*time.Hour, 24*time.Hour, (days+2)*24*time.Hour+time.Second, time.Minute)
		b.Logf("file size at days %d…: %v", days, sizes)
		for i, s := range sizes {
			b.ReportMetric(float64(s)/(1<<20), fmt.Sprintf("MiB_at_day_%d", days+i))
		}
		b.ReportMetric(float64(sizes[len(sizes)-1])/float64(checks*days*288), "file_B/retained_attempt")
	}
}
