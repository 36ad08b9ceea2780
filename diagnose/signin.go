package diagnose

import (
	"fmt"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
)

// Sign-in correlation (issue 10 item 3): the Entra sign-in log's row for
// a failed Basic login carries status.errorCode, failureReason and the
// Conditional Access policies that failed. Rows arrive minutes late
// (tenant-api.md §5.8), so a row upgrades a finding when a later
// classification sees it; nothing ever waits for one.

// signInWindow: rows this long before an attempt (or a little after, for
// clock skew) are taken as the same device's failure.
const (
	signInBefore = time.Hour
	signInAfter  = 5 * time.Minute
)

// signInCauses maps sign-in error codes to causes (tenant-api.md §5.5).
var signInCauses = map[int]Cause{
	50126: CauseBadCredentials, 50056: CauseBadCredentials, 50034: CauseBadCredentials,
	50055: CauseBadCredentials, 50144: CauseBadCredentials,
	50053: CauseAccountLocked, 50057: CauseAccountDisabled,
	53003: CauseConditionalAccess, 530032: CauseConditionalAccess,
	530035: CauseSecurityDefaults,
	50076:  CauseMFARequired, 50079: CauseMFARequired, 50074: CauseMFARequired,
}

// matchSignIn returns the newest Basic sign-in row of the attempt's user
// and protocol near the attempt.
func matchSignIn(a *probe.Attempt, s *snapshot.Snapshot) (snapshot.SignIn, bool) {
	if s == nil || !s.SignInsRead || a.Mechanism != probe.Basic || a.Start.IsZero() {
		return snapshot.SignIn{}, false
	}
	var best snapshot.SignIn
	found := false
	for _, si := range s.SignIns {
		if !strings.EqualFold(si.UserPrincipalName, a.User) || si.Protocol() != string(a.Protocol) {
			continue
		}
		if si.CreatedDateTime.Before(a.Start.Add(-signInBefore)) || si.CreatedDateTime.After(a.Start.Add(signInAfter)) {
			continue
		}
		if !found || si.CreatedDateTime.After(best.CreatedDateTime) {
			best, found = si, true
		}
	}
	return best, found
}

// signInVerdict turns the matching row into a verdict; ok is false when
// no row matches or its code names no cause. A success row is evidence
// only: Entra accepted the password, so the refusal is Exchange's.
func signInVerdict(a *probe.Attempt, s *snapshot.Snapshot) (settingsVerdict, bool) {
	var v settingsVerdict
	si, ok := matchSignIn(a, s)
	if !ok {
		return v, false
	}
	line := fmt.Sprintf("sign-in log: %s %s at %s from %s: errorCode %d", si.ClientAppUsed, si.UserPrincipalName,
		si.CreatedDateTime.UTC().Format(time.RFC3339), firstNonEmpty(si.IPAddress, "?"), si.ErrorCode)
	if si.FailureReason != "" {
		line += fmt.Sprintf(" (%s)", clip(si.FailureReason, 160))
	}
	if len(si.FailedCAPolicies) > 0 {
		line += "; Conditional Access policies that failed: " + strings.Join(si.FailedCAPolicies, ", ")
	}
	v.ev.add(line, line)
	if si.ErrorCode == 0 {
		v.ev.add("Entra accepted the password for that sign-in: the refusal comes from Exchange (a policy or switch), not from the password or Entra's policies",
			"そのサインインで Entra はパスワードを受け入れています。拒否は Exchange 側 (ポリシーまたは設定) によるもので、パスワードや Entra のポリシーによるものではありません")
		return v, false
	}
	c, known := signInCauses[si.ErrorCode]
	if !known {
		return v, false
	}
	v.cause, v.conf = c, Definitive
	return v, true
}
