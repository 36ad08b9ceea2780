package store

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// BenchmarkCommitAttempts writes attempts of 6,000 checks in batches of 512
// (how the scheduler's persister batches them), with fsync, and reports
// bytes per history record, file bytes per attempt and attempts/s. Each
// update also rewrites the check's record with its last attempt, as the
// scheduler does. Run: go test -run XXX -bench CommitAttempts ./store
func BenchmarkCommitAttempts(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const checks = 6000
	ids := make([]scheduler.CheckID, checks)
	for i := range ids {
		ids[i] = scheduler.MakeID(fmt.Sprintf("t%05d", i/6), probe.Protocols[i%3], probe.Mechanisms[i/3%2])
	}
	reply := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com 2026-12-31T23:00:00.000Z 08DE00000000000]"
	t := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	batch := make([]scheduler.Update, 512)
	b.ResetTimer()
	n := 0
	for i := range b.N {
		for j := range batch {
			id := ids[(i*len(batch)+j)%checks]
			t = t.Add(50 * time.Millisecond)
			a := &probe.Attempt{Target: "t", Protocol: probe.SMTP, Mechanism: probe.Basic, Start: t, Stage: probe.StageAuth,
				Reply: reply, Duration: 900 * time.Millisecond, Transcript: []string{"S: 220 ready", "C: EHLO x", "S: 250 ok", "C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: <redacted>", "S: " + reply}}
			batch[j] = scheduler.Update{ID: id,
				Record:  &scheduler.Record{Machine: scheduler.MachineState{Status: scheduler.StatusFailing, Cause: diagnose.CauseSMTPAuthDisabledTenant}, LastAttempt: a, LastRun: t},
				History: &scheduler.HistoryEntry{Time: t, Cause: diagnose.CauseSMTPAuthDisabledTenant, Confidence: diagnose.Definitive, Stage: probe.StageAuth, Duration: a.Duration, Reply: reply[:min(len(reply), 300)]}}
			n++
		}
		if err := db.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := db.Stats()
	fi, _ := os.Stat(db.Path())
	b.ReportMetric(st.HistoryBytesPerRecord, "hist_B/attempt")
	b.ReportMetric(float64(fi.Size())/float64(n), "file_B/attempt")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "attempts/s")
}
