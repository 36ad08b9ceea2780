package diagnose

import (
	"reflect"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// TestClassifyAtAgreesWithClassify: for every attempt of every comparison
// set, ClassifyAt gives Classify's finding, remedy aside.
func TestClassifyAtAgreesWithClassify(t *testing.T) {
	cc := &probe.TokenInfo{Flow: "client_credentials", Audience: "https://outlook.office365.com", Roles: []string{"IMAP.AccessAsApp"}}
	sets := [][]probe.Attempt{
		{basic(probe.IMAP, i2), ok(probe.IMAP, probe.XOAUTH2)},
		{basic(probe.POP, p3), ok(probe.SMTP, probe.Basic)},
		{basic(probe.IMAP, i2), basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator.")},
		{basic(probe.IMAP, i2), {Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken, Token: &probe.TokenInfo{Flow: "password", Error: "invalid_grant", ErrorCodes: []int{50126}}}},
		{basic(probe.IMAP, i2), xo(probe.IMAP, i5, nil), xo(probe.POP, p6, cc)},
		{xo(probe.IMAP, i6, cc), xo(probe.POP, p6, cc), ok(probe.SMTP, probe.XOAUTH2)},
		{ok(probe.SMTP, probe.Basic), basic(probe.IMAP, "a1 NO Basic authentication is disabled."), ok(probe.IMAP, probe.XOAUTH2)},
		{{Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageConnect, ErrorKind: probe.ErrConnect, Error: "connection refused"}},
	}
	n := 0
	for si, as := range sets {
		all := Classify(as)
		for i := range as {
			got, want := ClassifyAt(as, i), all[i]
			want.Remedy = Remedy{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("set %d attempt %d: ClassifyAt %+v\nClassify %+v", si, i, got, want)
			}
			n++
		}
	}
	if n < 15 {
		t.Fatalf("only %d attempts compared", n)
	}
}
