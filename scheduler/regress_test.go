package scheduler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
)

// obs strings: "ok", a cause id ("bad_credentials"), with a "+" prefix for a
// confirm re-probe and a "~" suffix for a weakly inferred cause. Steps render as "-" (nothing), "C" (confirm asked), or
// the event kind with its cause ("regressed:bad_credentials").
func runSeq(t *testing.T, exp Expectation, th Thresholds, seq []string) []string {
	t.Helper()
	m := &MachineState{}
	m.Reset(exp)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out []string
	for i, s := range seq {
		o := observation{Time: t0.Add(time.Duration(i) * time.Minute)}
		if strings.HasPrefix(s, "+") {
			o.Confirm, s = true, s[1:]
		}
		if strings.HasSuffix(s, "~") {
			// A weak inference (diagnose.Finding.Weak).
			o.Weak, o.Confidence, s = true, diagnose.Inferred, s[:len(s)-1]
		}
		o.OK = s == "ok"
		o.Cause = diagnose.Cause(s)
		st := m.observe(th, o)
		switch {
		case st.Kind != "":
			out = append(out, fmt.Sprintf("%s:%s", st.Kind, m.Cause))
		case st.NeedConfirm:
			out = append(out, "C")
		default:
			out = append(out, "-")
		}
	}
	return out
}

func TestRegressionSequences(t *testing.T) {
	confirm := Thresholds{Confirm: true}
	none := Thresholds{}
	cases := []struct {
		name string
		exp  Expectation
		th   Thresholds
		seq  []string
		want []string
	}{
		{"baseline ok is silent", ExpectOK, confirm,
			[]string{"ok", "ok", "ok"}, []string{"-", "-", "-"}},
		{"first outcome failing is a regression once confirmed", ExpectOK, confirm,
			[]string{"bad_credentials", "+bad_credentials", "bad_credentials"},
			[]string{"C", "regressed:bad_credentials", "-"}},
		{"regression needs the confirm re-probe", ExpectOK, confirm,
			[]string{"ok", "smtp_auth_disabled_tenant", "+smtp_auth_disabled_tenant"},
			[]string{"-", "C", "regressed:smtp_auth_disabled_tenant"}},
		{"a blip the re-probe contradicts is no event", ExpectOK, confirm,
			[]string{"ok", "timeout", "+ok", "ok"},
			[]string{"-", "C", "-", "-"}},
		{"recovery is confirmed too", ExpectOK, confirm,
			[]string{"ok", "timeout", "+timeout", "ok", "+ok", "ok"},
			[]string{"-", "C", "regressed:timeout", "C", "recovered:ok", "-"}},
		{"cause change while failing", ExpectOK, confirm,
			[]string{"ok", "bad_credentials", "+bad_credentials", "account_locked", "+account_locked", "account_locked"},
			[]string{"-", "C", "regressed:bad_credentials", "C", "cause_changed:account_locked", "-"}},
		{"re-probe with a third outcome asks again", ExpectOK, confirm,
			[]string{"ok", "timeout", "+network_error", "+network_error"},
			[]string{"-", "C", "C", "regressed:network_error"}},
		{"same cause repeated is one event", ExpectOK, none,
			[]string{"ok", "throttled", "throttled", "throttled"},
			[]string{"-", "regressed:throttled", "-", "-"}},
		{"no confirm: immediate", ExpectOK, none,
			[]string{"ok", "timeout", "ok"},
			[]string{"-", "regressed:timeout", "recovered:ok"}},
		{"failure threshold 3", ExpectOK, Thresholds{Failure: 3, Confirm: true},
			[]string{"ok", "timeout", "+timeout", "timeout", "timeout"},
			[]string{"-", "C", "-", "-", "regressed:timeout"}},
		{"threshold resets on a good result", ExpectOK, Thresholds{Failure: 2},
			[]string{"ok", "timeout", "ok", "timeout", "timeout"},
			[]string{"-", "-", "-", "-", "regressed:timeout"}},
		{"success threshold 2", ExpectOK, Thresholds{Success: 2},
			[]string{"timeout", "ok", "ok"},
			[]string{"regressed:timeout", "-", "recovered:ok"}},
		{"posture: expect fail stays quiet while refused for a proving cause", ExpectFail, confirm,
			[]string{"basic_auth_disabled", "basic_auth_disabled", "security_defaults"},
			[]string{"-", "-", "-"}},
		// Issue 8: a refusal that proves nothing is not the posture holding.
		{"posture: a wrong password leaves it unverified", ExpectFail, confirm,
			[]string{"basic_auth_disabled", "bad_credentials", "+bad_credentials", "bad_credentials"},
			[]string{"-", "C", "posture_unverified:bad_credentials", "-"}},
		{"posture: first outcome a missing secret is unverified, not ok", ExpectFail, confirm,
			[]string{"secret_unreadable", "+secret_unreadable"},
			[]string{"C", "posture_unverified:secret_unreadable"}},
		{"posture: unverified is one state whatever the cause", ExpectFail, confirm,
			[]string{"timeout", "+timeout", "network_error", "timeout", "unknown"},
			[]string{"C", "posture_unverified:timeout", "-", "-", "-"}},
		{"posture: proof again is a recovery", ExpectFail, confirm,
			[]string{"basic_auth_disabled", "network_error", "+network_error", "basic_auth_disabled", "+basic_auth_disabled"},
			[]string{"-", "C", "posture_unverified:network_error", "C", "recovered:basic_auth_disabled"}},
		{"posture: a login while unverified is still a breach", ExpectFail, confirm,
			[]string{"timeout", "+timeout", "ok", "+ok"},
			[]string{"C", "posture_unverified:timeout", "C", "unexpectedly_ok:ok"}},
		{"posture: basic works again", ExpectFail, confirm,
			[]string{"basic_auth_disabled", "ok", "+ok", "ok"},
			[]string{"-", "C", "unexpectedly_ok:ok", "-"}},
		{"posture: first outcome ok", ExpectFail, confirm,
			[]string{"ok", "+ok"},
			[]string{"C", "unexpectedly_ok:ok"}},
		{"posture: back off again is a recovery", ExpectFail, confirm,
			[]string{"basic_auth_disabled", "ok", "+ok", "basic_auth_disabled", "+basic_auth_disabled"},
			[]string{"-", "C", "unexpectedly_ok:ok", "C", "recovered:basic_auth_disabled"}},
		{"flapping under confirm makes no events", ExpectOK, confirm,
			[]string{"ok", "timeout", "+ok", "timeout", "+ok", "timeout", "+ok"},
			[]string{"-", "C", "-", "C", "-", "C", "-"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runSeq(t, tc.exp, tc.th, tc.seq)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("seq %v\n got %v\nwant %v", tc.seq, got, tc.want)
			}
		})
	}
}

func TestRegressionSinceAndPrevCause(t *testing.T) {
	m := &MachineState{}
	m.Reset(ExpectOK)
	t0 := time.Unix(1_800_000_000, 0)
	th := Thresholds{Confirm: true}
	m.observe(th, observation{OK: true, Cause: diagnose.CauseOK, Time: t0})
	m.observe(th, observation{Cause: diagnose.CauseSMTPAuthDisabledTenant, Time: t0.Add(time.Minute)})
	st := m.observe(th, observation{Cause: diagnose.CauseSMTPAuthDisabledTenant, Time: t0.Add(90 * time.Second), Confirm: true})
	if st.Kind != EventRegressed || m.PrevCause != diagnose.CauseOK || m.Cause != diagnose.CauseSMTPAuthDisabledTenant {
		t.Fatalf("step %+v state %+v", st, m)
	}
	if !m.Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("since = %v, want the first sighting %v", m.Since, t0.Add(time.Minute))
	}
	if m.ConsecutiveFailures != 2 || m.ConsecutiveSuccesses != 0 {
		t.Fatalf("counts %d/%d", m.ConsecutiveFailures, m.ConsecutiveSuccesses)
	}
}
