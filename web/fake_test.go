package web

import (
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// fakeSource is a Source with fixed content.
type fakeSource struct {
	mu      sync.Mutex
	checks  []scheduler.CheckState
	events  []scheduler.Event // newest first
	history map[scheduler.CheckID][]scheduler.HistoryEntry
	stats   *scheduler.Stats
	err     error
}

func (f *fakeSource) Snapshot() []scheduler.CheckState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.checks)
}

func (f *fakeSource) Events(limit int) ([]scheduler.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return slices.Clone(f.events[:min(limit, len(f.events))]), nil
}

func (f *fakeSource) History(id scheduler.CheckID, limit int) ([]scheduler.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	h := f.history[id]
	return slices.Clone(h[:min(limit, len(h))]), nil
}

// statsSource adds Stats.
type statsSource struct{ *fakeSource }

func (s statsSource) Stats() scheduler.Stats { return *s.stats }

var errBoom = errors.New("boom")

// canary stands for a password or token that must never be published.
const canary = "CANARY-s3cr3t-7f1e"

var (
	t0  = time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC)
	now = t0.Add(5 * time.Minute)
)

const smtpDisabledReply = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [SN4PR0601CA0013.namprd06.prod.outlook.com 2026-12-31T09:00:00.000Z 08DE1234ABCD]"

func check(target, user string, p probe.Protocol, m probe.Mechanism, exp scheduler.Expectation, st scheduler.Status, cause diagnose.Cause) scheduler.CheckState {
	return scheduler.CheckState{
		ID: scheduler.MakeID(target, p, m), Target: target, User: user, Protocol: p, Mechanism: m,
		Expect: exp, Status: st, Cause: cause, Since: t0, LastRun: now.Add(-10 * time.Second),
		Interval: time.Minute, Timeout: 30 * time.Second,
	}
}

func fixture() *fakeSource {
	const user = "demo@contoso.com"
	smtpBasic := check("demo", user, probe.SMTP, probe.Basic, scheduler.ExpectOK, scheduler.StatusFailing, diagnose.CauseSMTPAuthDisabledTenant)
	smtpBasic.PrevCause = diagnose.CauseOK
	smtpBasic.Confidence = diagnose.Definitive
	// Shaped like a real Basic SMTP attempt against Exchange Online
	// (corpus §1a): EHLO before and after STARTTLS, so the capability
	// stage comes up twice in Timings, and AUTH LOGIN (Exchange offers
	// LOGIN, not PLAIN).
	smtpBasic.LastAttempt = &probe.Attempt{
		Target: "demo", User: user, Protocol: probe.SMTP, Mechanism: probe.Basic, Server: "smtp.office365.com:587",
		Start: now.Add(-10 * time.Second), Stage: probe.StageAuth, Reply: smtpDisabledReply, ErrorKind: probe.ErrRefused,
		AuthMethod: "AUTH LOGIN", AuthReply: smtpDisabledReply,
		Capabilities: []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"},
		Duration:     1500 * time.Millisecond,
		Timings: []probe.StageTiming{{Stage: probe.StageDNS, Duration: time.Millisecond},
			{Stage: probe.StageConnect, Duration: 2 * time.Millisecond}, {Stage: probe.StageGreeting, Duration: 172 * time.Millisecond},
			{Stage: probe.StageCapability, Duration: 20 * time.Millisecond}, {Stage: probe.StageStartTLS, Duration: 30 * time.Millisecond},
			{Stage: probe.StageCapability, Duration: 25 * time.Millisecond}, {Stage: probe.StageAuth, Duration: 1250 * time.Millisecond}},
		Transcript: []string{
			"S: 220 SN4PR0601CA0013.outlook.office365.com Microsoft ESMTP MAIL Service ready at Thu, 31 Dec 2026 08:59:50 +0000 [08DE1234ABCD5678]",
			"C: EHLO probe",
			"S: 250-SN4PR0601CA0013.outlook.office365.com Hello [192.0.2.10]",
			"S: 250-SIZE 157286400", "S: 250-PIPELINING", "S: 250-DSN", "S: 250-ENHANCEDSTATUSCODES", "S: 250-STARTTLS",
			"S: 250-8BITMIME", "S: 250-BINARYMIME", "S: 250-CHUNKING", "S: 250 SMTPUTF8",
			"C: STARTTLS",
			"S: 220 2.0.0 SMTP server ready",
			"C: EHLO probe",
			"S: 250-SN4PR0601CA0013.outlook.office365.com Hello [192.0.2.10]",
			"S: 250-SIZE 157286400", "S: 250-PIPELINING", "S: 250-DSN", "S: 250-ENHANCEDSTATUSCODES", "S: 250-AUTH LOGIN XOAUTH2",
			"S: 250-8BITMIME", "S: 250-BINARYMIME", "S: 250-CHUNKING", "S: 250 SMTPUTF8",
			// Unredacted lines, as a buggy probe might leave them: the web
			// layer must still never publish them.
			"C: AUTH LOGIN " + base64.StdEncoding.EncodeToString([]byte(user)),
			"S: 334 UGFzc3dvcmQ6",
			"C: " + base64.StdEncoding.EncodeToString([]byte(canary)),
			"S: " + smtpDisabledReply,
		},
		Error: "password=" + canary,
	}
	smtpBasic.LastFinding = &diagnose.Finding{Cause: diagnose.CauseSMTPAuthDisabledTenant, Confidence: diagnose.Definitive,
		Protocol: "smtp", Mechanism: "basic", Evidence: []string{"smtp basic: the server said " + smtpDisabledReply},
		EvidenceJA: []string{"smtp basic: サーバーの応答 " + smtpDisabledReply}}

	smtpOAuth := check("demo", user, probe.SMTP, probe.XOAUTH2, scheduler.ExpectOK, scheduler.StatusFailing, diagnose.CauseSMTPAuthDisabledTenant)
	smtpOAuth.LastAttempt = &probe.Attempt{Target: "demo", User: user, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2,
		Stage: probe.StageAuth, Reply: smtpDisabledReply, Duration: time.Second,
		Token:      &probe.TokenInfo{Flow: "client_credentials", ExpiresAt: t0.Add(time.Hour), AppID: "app-1", TenantID: "tid-1"},
		Transcript: []string{"C: AUTH XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user="+user+"\x01auth=Bearer "+canary+"\x01\x01"))},
		AuthReply:  "auth=Bearer " + canary}
	// Failing, and the latest attempt logged in: a confirm re-probe is
	// about to settle the recovery.
	smtpOAuth.Pending = diagnose.CauseOK

	imapOAuth := check("demo", user, probe.IMAP, probe.XOAUTH2, scheduler.ExpectOK, scheduler.StatusOK, diagnose.CauseOK)
	imapOAuth.LastAttempt = &probe.Attempt{OK: true, Stage: probe.StageDone, Duration: 200 * time.Millisecond,
		Transcript: []string{"C: a1 AUTHENTICATE XOAUTH2 ****", "S: a1 OK AUTHENTICATE completed."}}
	imapBasic := check("demo", user, probe.IMAP, probe.Basic, scheduler.ExpectFail, scheduler.StatusOK, diagnose.CauseBasicAuthDisabled)
	imapBasic.LastAttempt = &probe.Attempt{Stage: probe.StageAuth, Reply: "a1 NO AUTHENTICATE failed.",
		Transcript: []string{"C: a1 LOGIN " + user + " " + canary, "S: a1 NO AUTHENTICATE failed."}}
	popBasic := check("demo", user, probe.POP, probe.Basic, scheduler.ExpectOK, scheduler.StatusOK, diagnose.CauseOK)

	scanner := check("ops/scanner", "Scanner@contoso.com", probe.IMAP, probe.Basic, scheduler.ExpectFail, scheduler.StatusUnexpectedlyOK, diagnose.CauseOK)
	scanner.PrevCause = diagnose.CauseBasicAuthDisabled
	scanner.LastAttempt = &probe.Attempt{OK: true, Stage: probe.StageDone, Reply: "a2 OK LOGOUT completed."}
	scanner.Pending = diagnose.CauseBasicAuthDisabled
	locked := check("locked", "locked@contoso.com", probe.SMTP, probe.Basic, scheduler.ExpectOK, scheduler.StatusFailing, diagnose.CauseAccountLocked)
	locked.LockoutGuard = &scheduler.GuardState{Account: "locked@contoso.com", Active: true,
		Failures: []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}, Until: t0.Add(time.Hour), Limit: 3, Window: time.Hour}
	fresh := check("fresh", "fresh@contoso.com", probe.POP, probe.XOAUTH2, scheduler.ExpectOK, scheduler.StatusPending, "")
	fresh.Since, fresh.LastRun = time.Time{}, time.Time{}

	checks := []scheduler.CheckState{smtpBasic, smtpOAuth, imapOAuth, imapBasic, popBasic, scanner, locked, fresh}
	slices.SortFunc(checks, func(a, b scheduler.CheckState) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	ev := func(min int, kind scheduler.EventKind, st scheduler.CheckState, cause, prev diagnose.Cause) scheduler.Event {
		return scheduler.Event{ID: string(st.ID) + string(kind), Time: t0.Add(time.Duration(min) * time.Minute), Kind: kind, CheckID: st.ID,
			Target: st.Target, User: st.User, Protocol: st.Protocol, Mechanism: st.Mechanism, Expect: st.Expect,
			Cause: cause, PrevCause: prev, Reply: "auth=Bearer " + canary}
	}
	return &fakeSource{
		checks: checks,
		events: []scheduler.Event{
			ev(3, scheduler.EventUnexpectedlyOK, scanner, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled),
			ev(2, scheduler.EventRegressed, smtpBasic, diagnose.CauseSMTPAuthDisabledTenant, diagnose.CauseOK),
			ev(1, scheduler.EventRecovered, popBasic, diagnose.CauseOK, diagnose.CauseBadCredentials),
		},
		history: map[scheduler.CheckID][]scheduler.HistoryEntry{
			scanner.ID: {{Time: now, OK: true, Cause: diagnose.CauseOK, Stage: probe.StageDone, Duration: time.Second},
				{Time: t0, OK: false, Cause: diagnose.CauseBasicAuthDisabled, Stage: probe.StageAuth,
					Reply: "a1 NO AUTHENTICATE failed. auth=Bearer " + canary + " password=" + canary}},
		},
	}
}
