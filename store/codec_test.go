package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

func sampleRecord() scheduler.Record {
	t := time.Date(2026, 12, 3, 13, 24, 52, 450125152, time.UTC)
	return scheduler.Record{
		Machine: scheduler.MachineState{Expect: scheduler.ExpectFail, Status: scheduler.StatusOK, Cause: "basic_auth_disabled",
			Confidence: diagnose.Definitive, Since: t, ConsecutiveFailures: 1},
		LastAttempt: &probe.Attempt{Target: "printer-17", User: "printer-17@contoso.com", Protocol: probe.POP, Mechanism: probe.Basic,
			Server: "outlook.office365.com:995", Start: t, Stage: "auth", Reply: "-ERR Logon failure: unknown user name or bad password.",
			AuthReply: "-ERR Logon failure: unknown user name or bad password.", Error: "pop: server refused", ErrorKind: "refused",
			AuthMethod: "USER/PASS", Duration: 404820 * time.Nanosecond},
		LastRun: t,
	}
}

// Stored values round-trip through the compressed form, are smaller than
// their JSON, and values written as plain JSON by earlier versions still
// read.
func TestValueCodec(t *testing.T) {
	rec := sampleRecord()
	enc, err := encodeValue(rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(rec)
	if enc[0] != valZ1 || len(enc) >= len(raw)*2/3 {
		t.Errorf("encoded %d bytes (first byte %#x), JSON %d: want valZ1 and at most two thirds", len(enc), enc[0], len(raw))
	}
	for name, v := range map[string][]byte{"compressed": enc, "plain JSON": raw} {
		var got scheduler.Record
		if err := decodeValue(v, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, rec)
		}
	}
	var got scheduler.Record
	if err := decodeValue(append([]byte{valZ1}, 0xff, 0xff, 0xff), &got); err == nil {
		t.Error("a damaged value decoded without error")
	}
}

// The store writes and reads compressed records and details, and reads
// the JSON values of a store written before.
func TestRecordsCompressedAndOldJSONRead(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := sampleRecord()
	det := scheduler.Detail{Attempt: rec.LastAttempt, Finding: &diagnose.Finding{Cause: "basic_auth_disabled", Confidence: diagnose.Definitive}}
	if err := db.Commit([]scheduler.Update{{ID: "new/pop/basic", Record: &rec, Detail: &det}}); err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(rec)
	oldDet, _ := json.Marshal(det)
	if err := db.Update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bChecks).Get([]byte("new/pop/basic")); len(v) == 0 || v[0] != valZ1 {
			t.Errorf("record stored as %q, want the compressed form", v)
		}
		if err := tx.Bucket(bDetails).Put([]byte("old/pop/basic"), oldDet); err != nil {
			return err
		}
		return tx.Bucket(bChecks).Put([]byte("old/pop/basic"), old)
	}); err != nil {
		t.Fatal(err)
	}
	recs, err := db.LoadRecords()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []scheduler.CheckID{"new/pop/basic", "old/pop/basic"} {
		if !reflect.DeepEqual(recs[id], rec) {
			t.Errorf("%s: loaded %+v", id, recs[id])
		}
		d, ok, err := db.Detail(id)
		if err != nil || !ok || !reflect.DeepEqual(d, det) {
			t.Errorf("%s: detail %+v %v %v", id, d, ok, err)
		}
	}
	// Prune reads the compressed records' last run too.
	n, err := db.Prune(map[scheduler.CheckID]bool{}, rec.LastRun.Add(time.Second))
	if err != nil || n != 2 {
		t.Errorf("pruned %d, %v; want both records", n, err)
	}
	db.Close()
}

// A store written before the history count moved into the check's bucket
// (history_count) keeps its bound: the count moves at the next attempt.
func TestHistoryCountMovesIntoBucket(t *testing.T) {
	db, err := Open(t.TempDir(), Options{NoSync: true, MaxHistory: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := scheduler.CheckID("old/imap/basic")
	t0 := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	add := func(i int) {
		t.Helper()
		h := &scheduler.HistoryEntry{Time: t0.Add(time.Duration(i) * time.Minute), OK: true, Cause: "ok"}
		if err := db.Commit([]scheduler.Update{{ID: id, History: h}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		add(i)
	}
	// Rewind to the old layout: the count in history_count, none in the bucket.
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bHistory).Bucket([]byte(id)).SetSequence(0); err != nil {
			return err
		}
		return tx.Bucket(bHCount).Put([]byte(id), putU64(3))
	}); err != nil {
		t.Fatal(err)
	}
	add(3)
	h, err := db.History(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !h[0].Time.Equal(t0.Add(3*time.Minute)) || !h[2].Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("history %+v: want the 3 newest", h)
	}
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bHCount).Get([]byte(id)); v != nil {
			t.Errorf("history_count still holds %v", v)
		}
		if n := tx.Bucket(bHistory).Bucket([]byte(id)).Sequence(); n != 3 {
			t.Errorf("bucket count %d, want 3", n)
		}
		return nil
	})
}
