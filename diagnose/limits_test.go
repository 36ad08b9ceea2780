package diagnose

import (
	"slices"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// The catalog test's hand-written list gets the cause of limits.go here, so
// that the two files grow without touching each other.
func init() {
	allCauses = slices.Insert(allCauses, slices.Index(allCauses, CauseUnknown), CauseProtocolError)
}

func TestLimitIsProtocolError(t *testing.T) {
	for _, a := range []probe.Attempt{
		{Protocol: probe.POP, Mechanism: probe.Basic, Stage: probe.StageCapability, ErrorKind: probe.ErrProtocol,
			Limit: &probe.LimitError{Stage: probe.StageCapability, Name: probe.LimitStageLines, Max: probe.MaxStageLines}},
		{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrProtocol,
			Token: &probe.TokenInfo{Flow: "client_credentials"},
			Limit: &probe.LimitError{Stage: probe.StageToken, Name: probe.LimitHTTPBodyByte, Max: probe.MaxHTTPBodyBytes}},
		{Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageGreeting, ErrorKind: probe.ErrProtocol,
			Limit: &probe.LimitError{Stage: probe.StageGreeting, Name: probe.LimitIMAPCapabilitySyntax}},
	} {
		f := Classify([]probe.Attempt{a})[0]
		if f.Cause != CauseProtocolError || f.Confidence != Definitive {
			t.Fatalf("%s/%s: cause %s %s", a.Protocol, a.Stage, f.Cause, f.Confidence)
		}
		js := strings.Join(f.Evidence, " ")
		if !strings.Contains(js, a.Limit.Name) && !strings.Contains(js, `"("`) {
			t.Errorf("evidence %q does not name %s", js, a.Limit.Name)
		}
		r := RemedyFor(f.Cause, "ja", Vars{})
		if len(r.Fix) != 0 || len(r.Steps) == 0 || !Generic(f.Cause) {
			t.Errorf("remedy %+v generic %v", r, Generic(f.Cause))
		}
	}
	// Without a limit, a protocol error stays what it was.
	a := probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageGreeting, ErrorKind: probe.ErrProtocol, Reply: "+OK pop"}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause == CauseProtocolError {
		t.Fatalf("cause %s without a limit", f.Cause)
	}
}
