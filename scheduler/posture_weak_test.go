package scheduler

import (
	"slices"
	"testing"
)

// Issue 8 item 1: a posture (expect: fail) check refused with a cause that
// could prove it, but only weakly inferred (Basic refused while XOAUTH2
// works: a wrong password looks the same), is unverified, not OK; the same
// cause with proving evidence holds, and moving between them is a change
// of state like any other.
func TestWeakPostureIsUnverified(t *testing.T) {
	confirm := Thresholds{Confirm: true}
	cases := []struct {
		name string
		seq  []string
		want []string
	}{
		{"weak from the start",
			[]string{"basic_auth_disabled~", "+basic_auth_disabled~", "basic_auth_disabled~"},
			[]string{"C", "posture_unverified:basic_auth_disabled", "-"}},
		{"proved, then only weakly",
			[]string{"basic_auth_disabled", "basic_auth_disabled~", "+basic_auth_disabled~"},
			[]string{"-", "C", "posture_unverified:basic_auth_disabled"}},
		{"weak, then proved again",
			[]string{"basic_auth_disabled~", "+basic_auth_disabled~", "basic_auth_disabled", "+basic_auth_disabled"},
			[]string{"C", "posture_unverified:basic_auth_disabled", "C", "recovered:basic_auth_disabled"}},
		{"a weak blip the re-probe contradicts is no event",
			[]string{"basic_auth_disabled", "basic_auth_disabled~", "+basic_auth_disabled", "basic_auth_disabled"},
			[]string{"-", "C", "-", "-"}},
	}
	for _, tc := range cases {
		got := runSeq(t, ExpectFail, confirm, tc.seq)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// An expect: ok check is failing with the cause either way.
	if got := runSeq(t, ExpectOK, confirm, []string{"basic_auth_disabled~", "+basic_auth_disabled~"}); !slices.Equal(got, []string{"C", "regressed:basic_auth_disabled"}) {
		t.Errorf("expect ok: %v", got)
	}
}
