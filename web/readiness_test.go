package web

import (
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

func TestReadiness(t *testing.T) {
	const (
		B = probe.Basic
		X = probe.XOAUTH2
	)
	ok, fail := scheduler.ExpectOK, scheduler.ExpectFail
	c := func(target string, p probe.Protocol, m probe.Mechanism, e scheduler.Expectation, s scheduler.Status) scheduler.CheckState {
		cause := diagnose.CauseOK
		if s == scheduler.StatusFailing {
			cause = diagnose.CauseOAuthNotAuthorized
		}
		return check(target, target+"@contoso.com", p, m, e, s, cause)
	}
	type want struct {
		id      scheduler.CheckID
		verdict Verdict
		breaks  bool
	}
	tests := []struct {
		name   string
		checks []scheduler.CheckState
		ready  bool
		deps   int
		items  []want // in output order: breaking first
	}{
		{"no checks", nil, true, 0, nil},
		{"oauth only", []scheduler.CheckState{c("a", probe.IMAP, X, ok, scheduler.StatusOK)}, true, 0, nil},
		{"posture basic is no dependency",
			[]scheduler.CheckState{c("a", probe.IMAP, B, fail, scheduler.StatusOK)}, true, 0, nil},
		{"basic without oauth breaks",
			[]scheduler.CheckState{c("a", probe.SMTP, B, ok, scheduler.StatusOK)}, false, 1,
			[]want{{"a/smtp/basic", VerdictNoXOAUTH2, true}}},
		{"working oauth same protocol",
			[]scheduler.CheckState{c("a", probe.SMTP, B, ok, scheduler.StatusOK), c("a", probe.SMTP, X, ok, scheduler.StatusOK)}, true, 1,
			[]want{{"a/smtp/basic", VerdictReady, false}}},
		{"oauth for another protocol does not count",
			[]scheduler.CheckState{c("a", probe.SMTP, B, ok, scheduler.StatusOK), c("a", probe.IMAP, X, ok, scheduler.StatusOK)}, false, 1,
			[]want{{"a/smtp/basic", VerdictNoXOAUTH2, true}}},
		{"oauth on another target does not count",
			[]scheduler.CheckState{c("a", probe.SMTP, B, ok, scheduler.StatusOK), c("b", probe.SMTP, X, ok, scheduler.StatusOK)}, false, 1,
			[]want{{"a/smtp/basic", VerdictNoXOAUTH2, true}}},
		{"failing oauth",
			[]scheduler.CheckState{c("a", probe.POP, B, ok, scheduler.StatusOK), c("a", probe.POP, X, ok, scheduler.StatusFailing)}, false, 1,
			[]want{{"a/pop/basic", VerdictXOAUTH2Failing, true}}},
		{"pending oauth is not proof",
			[]scheduler.CheckState{c("a", probe.IMAP, B, ok, scheduler.StatusOK), c("a", probe.IMAP, X, ok, scheduler.StatusPending)}, false, 1,
			[]want{{"a/imap/basic", VerdictXOAUTH2Pending, true}}},
		{"posture oauth check is not a path",
			[]scheduler.CheckState{c("a", probe.IMAP, B, ok, scheduler.StatusOK), c("a", probe.IMAP, X, fail, scheduler.StatusOK)}, false, 1,
			[]want{{"a/imap/basic", VerdictNoXOAUTH2, true}}},
		{"basic already failing still depends",
			[]scheduler.CheckState{c("a", probe.SMTP, B, ok, scheduler.StatusFailing)}, false, 1,
			[]want{{"a/smtp/basic", VerdictNoXOAUTH2, true}}},
		{"breaking sorted first",
			[]scheduler.CheckState{
				c("a", probe.SMTP, B, ok, scheduler.StatusOK), c("a", probe.SMTP, X, ok, scheduler.StatusOK),
				c("z", probe.IMAP, B, ok, scheduler.StatusOK),
			}, false, 2,
			[]want{{"z/imap/basic", VerdictNoXOAUTH2, true}, {"a/smtp/basic", VerdictReady, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ComputeReadiness(tc.checks, now)
			if r.Ready != tc.ready || r.Dependencies != tc.deps || len(r.Items) != len(tc.items) {
				t.Fatalf("ready=%v deps=%d items=%d, want %v %d %d: %+v", r.Ready, r.Dependencies, len(r.Items),
					tc.ready, tc.deps, len(tc.items), r.Items)
			}
			breaking := 0
			for i, w := range tc.items {
				it := r.Items[i]
				if it.BasicCheck != w.id || it.Verdict != w.verdict || it.Breaks != w.breaks {
					t.Errorf("item %d = %s %s breaks=%v, want %s %s %v", i, it.BasicCheck, it.Verdict, it.Breaks, w.id, w.verdict, w.breaks)
				}
				if w.breaks {
					breaking++
				}
			}
			if r.Breaking != breaking || r.Items == nil {
				t.Errorf("breaking %d, want %d (items nil=%v)", r.Breaking, breaking, r.Items == nil)
			}
		})
	}
}

func TestReadinessEndpoint(t *testing.T) {
	_, _, body := get(t, newTestHandler(fixture(), Options{}), "/api/v1/readiness")
	r := decode[Readiness](t, body)
	// demo: smtp basic has a (failing) xoauth2 check, pop basic has none;
	// locked: smtp basic, no xoauth2. imap basic is posture.
	if r.Ready || r.Dependencies != 3 || r.Breaking != 3 || r.Targets != 4 {
		t.Fatalf("readiness = %+v", r)
	}
	verdicts := map[scheduler.CheckID]Verdict{}
	for _, it := range r.Items {
		verdicts[it.BasicCheck] = it.Verdict
	}
	if verdicts["demo/smtp/basic"] != VerdictXOAUTH2Failing || verdicts["demo/pop/basic"] != VerdictNoXOAUTH2 {
		t.Errorf("verdicts = %v", verdicts)
	}
}
