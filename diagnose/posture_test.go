package diagnose

import (
	"os"
	"strings"
	"testing"
)

func TestPostureRemedy(t *testing.T) {
	cases := []struct {
		proto    string
		wantFix  string
		notInFix []string
	}{
		{"imap", "-AllowBasicAuthImap:$false", []string{"AllowBasicAuthSmtp", "SmtpClientAuthenticationDisabled"}},
		{"pop", "-AllowBasicAuthPop:$false", []string{"AllowBasicAuthImap"}},
		// Basic SMTP is turned off by policy, never with the tenant-wide
		// switch that would also stop XOAUTH2 submission.
		{"smtp", "-AllowBasicAuthSmtp:$false", []string{"SmtpClientAuthenticationDisabled", "AllowBasicAuthPop"}},
		{"", "-AllowBasicAuthImap:$false -AllowBasicAuthPop:$false -AllowBasicAuthSmtp:$false", nil},
	}
	for _, tc := range cases {
		for _, lang := range []string{"en", "ja"} {
			r := PostureRemedy(lang, Vars{Protocol: tc.proto, Mailbox: "scanner@contoso.com", Policy: "Allow SMTP Basic"})
			fix := strings.Join(r.Fix, "\n")
			if !strings.Contains(fix, "Set-AuthenticationPolicy -Identity 'Allow SMTP Basic' "+tc.wantFix) {
				t.Errorf("%s/%s: fix %q lacks %q", tc.proto, lang, fix, tc.wantFix)
			}
			if !strings.Contains(fix, "Set-User -Identity scanner@contoso.com -STSRefreshTokensValidFrom") {
				t.Errorf("%s/%s: fix %q does not revoke the user's tokens", tc.proto, lang, fix)
			}
			for _, bad := range tc.notInFix {
				if strings.Contains(fix, bad) {
					t.Errorf("%s/%s: fix %q touches %s", tc.proto, lang, fix, bad)
				}
			}
			if r.Summary == "" || len(r.Inspect) == 0 || len(r.Caveats) == 0 {
				t.Errorf("%s/%s: incomplete remedy %+v", tc.proto, lang, r)
			}
			if strings.Contains(strings.Join(r.Inspect, "\n")+fix, "<user>") {
				t.Errorf("%s/%s: <user> not filled from the mailbox", tc.proto, lang)
			}
		}
	}
	if PostureRemedy("ja", Vars{}).Summary == PostureRemedy("en", Vars{}).Summary {
		t.Error("Japanese summary is the English one")
	}
}

// Every catalog cause is decided in the posture table, so a cause added
// without deciding whether it proves a posture fails here.
func TestPostureProofCoversEveryCause(t *testing.T) {
	for _, c := range Causes() {
		if _, ok := postureProof[c]; !ok {
			t.Errorf("cause %s: not decided in postureProof (does a refusal with it prove an expect: fail check?)", c)
		}
	}
	for c := range postureProof {
		if _, ok := catalog[c]; !ok {
			t.Errorf("postureProof decides %s, which is not in the catalog", c)
		}
	}
	// The decisions the issue names, so that a flipped row fails.
	for _, c := range []Cause{CauseBasicAuthDisabled, CauseBasicAuthRetired, CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx,
		CauseSecurityDefaults, CauseConditionalAccess, CauseProtocolDisabled} {
		if !ProvesPosture(c) {
			t.Errorf("%s must prove the posture", c)
		}
	}
	for _, c := range []Cause{CauseOK, CauseBadCredentials, CauseTimeout, CauseTLSError, CauseNetworkError, CauseUnknown, CauseAccountLocked, Cause("not_a_cause")} {
		if ProvesPosture(c) {
			t.Errorf("%s must leave the posture unverified", c)
		}
	}
}

// README's cause table lists every catalog cause with the posture decision
// of postureProof, so the documentation cannot drift from the table.
func TestReadmeCauseTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("no README next to the package: %v", err)
	}
	rows := map[Cause]string{}
	for _, l := range strings.Split(string(b), "\n") {
		cells := strings.Split(l, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		c := Cause(strings.Trim(strings.TrimSpace(cells[1]), "`"))
		rows[c] = strings.TrimSpace(cells[4])
	}
	for _, c := range Causes() {
		col, ok := rows[c]
		switch {
		case !ok:
			t.Errorf("README's cause table lacks %s", c)
		case ProvesPosture(c) && col != "proves", !ProvesPosture(c) && c != CauseOK && col != "unverified":
			t.Errorf("README says %s is %q for posture; postureProof says proves=%v", c, col, ProvesPosture(c))
		}
	}
}
