package imapd

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// The §2 greeting, byte for byte, for the corpus's own backend name.
const wantGreeting = "* OK The Microsoft Exchange IMAP4 service is ready. [UwBJADIAUABSADAAMQBDAEEAMAAwADQAMgAuAGEAcABjAHAAcgBkADAAMQAuAHAAcgBvAGQALgBlAHgAYwBoAGEAbgBnAGUAbABhAGIAcwAuAGMAbwBtAA==]"

func xoauth2IR(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// TestFidelity replays conversations and asserts Exchange's exact words.
// Each row cites its exo-responses.md row ids. Steps: "> x" sends x, "< x"
// expects the line x, "EOF" expects the server to have closed.
func TestFidelity(t *testing.T) {
	ir := xoauth2IR("user@contoso.com", "eyJ0eXAi.token")
	tests := []struct {
		ids     string
		era     tenant.Era
		basic   tenant.Verdict
		bearer  tenant.Verdict
		starttl bool // connect to the STARTTLS port
		steps   []string
	}{
		{ids: "§2 greeting+I13 caps 2026", era: tenant.Era2026, steps: []string{
			"> a CAPABILITY",
			"< * CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
			"< a OK CAPABILITY completed.",
		}},
		{ids: "§2 caps 2023", era: tenant.Era2023, steps: []string{
			"> a CAPABILITY",
			"< * CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
			"< a OK CAPABILITY completed.",
		}},
		{ids: "I1 LOGIN ok + §2 post-auth caps + I15", era: tenant.Era2023, basic: tenant.VerdictOK, steps: []string{
			`> A1 LOGIN user@contoso.com "pass word"`,
			"< A1 OK LOGIN completed.",
			"> A2 CAPABILITY",
			"< * CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+",
			"< A2 OK CAPABILITY completed.",
			"> A3 LOGOUT",
			"< * BYE Microsoft Exchange Server IMAP4 server signing off.",
			"< A3 OK LOGOUT completed.",
			"EOF",
		}},
		{ids: "I2 LOGIN wrong password 2023", era: tenant.Era2023, basic: tenant.VerdictBadCredentials, steps: []string{
			"> 2 LOGIN user@contoso.com wrong",
			"< 2 NO LOGIN failed.",
		}},
		{ids: "I2 LOGIN Basic off 2023 (same words)", era: tenant.Era2023, basic: tenant.VerdictBasicDisabled, steps: []string{
			"> PEAA1 LOGIN user@contoso.com secret",
			"< PEAA1 NO LOGIN failed.",
		}},
		{ids: "I3 AUTHENTICATE PLAIN Basic off 2023", era: tenant.Era2023, basic: tenant.VerdictBasicDisabled, steps: []string{
			"> A00000001 AUTHENTICATE PLAIN " + plainIR("user@contoso.com", "secret"),
			"< A00000001 NO AUTHENTICATE failed.",
			"> A00000002 LOGIN user@contoso.com secret",
			"< A00000002 NO LOGIN failed.",
		}},
		{ids: "I3 AUTHENTICATE PLAIN ok without SASL-IR 2023", era: tenant.Era2023, basic: tenant.VerdictOK, steps: []string{
			"> p AUTHENTICATE PLAIN",
			"< + ",
			"> " + plainIR("user@contoso.com", "secret"),
			"< p OK AUTHENTICATE completed.",
		}},
		{ids: "I4 XOAUTH2 ok (SASL-IR)", era: tenant.Era2026, bearer: tenant.VerdictOK, steps: []string{
			"> A01 AUTHENTICATE XOAUTH2 " + ir,
			"< A01 OK AUTHENTICATE completed.",
			"> A02 EXAMINE INBOX",
			"< * 0 EXISTS",
			"< * 0 RECENT",
			`< * FLAGS (\Seen \Answered \Flagged \Deleted \Draft $MDNSent)`,
			`< * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $MDNSent)] Permanent flags`,
			"< * OK [UIDVALIDITY 14] UIDVALIDITY value",
			"< * OK [UIDNEXT 1] The next unique identifier value",
			"< A02 OK [READ-ONLY] EXAMINE completed.",
			"> A03 NAMESPACE",
			`< * NAMESPACE (("" "/")) NIL NIL`,
			"< A03 OK NAMESPACE completed.",
			`> A04 STATUS INBOX (MESSAGES UIDNEXT)`,
			"< * STATUS INBOX (MESSAGES 0 UIDNEXT 1)",
			"< A04 OK STATUS completed.",
		}},
		{ids: "I4 XOAUTH2 ok, empty continuation without SASL-IR (MS doc 'S: +')", era: tenant.Era2026, bearer: tenant.VerdictOK, steps: []string{
			"> A01 AUTHENTICATE XOAUTH2",
			"< + ",
			"> " + ir,
			"< A01 OK AUTHENTICATE completed.",
		}},
		{ids: "I5 XOAUTH2 token rejected", era: tenant.Era2026, bearer: tenant.VerdictTokenRejected, steps: []string{
			"> A01 AUTHENTICATE XOAUTH2 " + ir,
			"< A01 NO AUTHENTICATE failed.",
		}},
		{ids: "I5 XOAUTH2 malformed blob (inferred: same words)", era: tenant.Era2026, bearer: tenant.VerdictOK, steps: []string{
			"> A01 AUTHENTICATE XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("garbage")),
			"< A01 NO AUTHENTICATE failed.",
		}},
		{ids: "I6 then I7: authenticated but not connected", era: tenant.Era2026, bearer: tenant.VerdictNotConnected, steps: []string{
			"> A01 AUTHENTICATE XOAUTH2 " + ir,
			"< A01 OK AUTHENTICATE completed.",
			"> A02 NAMESPACE",
			"< A02 BAD User is authenticated but not connected.",
			"> A03 SELECT INBOX",
			"< A03 BAD User is authenticated but not connected.",
			"> A04 LIST \"\" *",
			"< * BYE Connection closed. 14",
			"EOF",
		}},
		{ids: "I6 after LOGIN (2023)", era: tenant.Era2023, basic: tenant.VerdictNotConnected, steps: []string{
			"> A1 LOGIN user@contoso.com secret",
			"< A1 OK LOGIN completed.",
			"> A2 EXAMINE INBOX",
			"< A2 BAD User is authenticated but not connected.",
		}},
		{ids: "I12 LOGIN 2026", era: tenant.Era2026, basic: tenant.VerdictOK, steps: []string{
			"> a1 LOGIN user@contoso.com secret",
			"< a1 NO Basic authentication is disabled.",
			"< * BYE Microsoft Exchange Server IMAP4 server signing off.",
			"EOF",
		}},
		{ids: "I12 AUTHENTICATE PLAIN 2026", era: tenant.Era2026, basic: tenant.VerdictOK, steps: []string{
			"> a1 AUTHENTICATE PLAIN " + plainIR("user@contoso.com", "secret"),
			"< a1 NO Basic authentication is disabled.",
			"< * BYE Microsoft Exchange Server IMAP4 server signing off.",
			"EOF",
		}},
		{ids: "I14 LOGIN with an unquoted password containing a space", era: tenant.Era2023, basic: tenant.VerdictOK, steps: []string{
			"> 0001 LOGIN user@contoso.com bad password",
			"< 0001 BAD Command Argument Error. 12",
		}},
		{ids: "I17 command in the wrong state", era: tenant.Era2026, steps: []string{
			"> a0002 SELECT INBOX",
			"< a0002 BAD Command received in Invalid state.",
		}},
		{ids: "I9 second login after success", era: tenant.Era2026, bearer: tenant.VerdictOK, steps: []string{
			"> 2959 AUTHENTICATE XOAUTH2 " + ir,
			"< 2959 OK AUTHENTICATE completed.",
			"> 2960 AUTHENTICATE XOAUTH2 " + ir,
			"< 2960 BAD Command received in Invalid state.",
		}},
		{ids: "§2 port 143 caps + I17 LOGIN before STARTTLS", era: tenant.Era2023, basic: tenant.VerdictOK, starttl: true, steps: []string{
			"> a CAPABILITY",
			"< * CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+",
			"< a OK CAPABILITY completed.",
			"> a0002 LOGIN user@contoso.com secret",
			"< a0002 BAD Command received in Invalid state.",
			"> a0003 AUTHENTICATE XOAUTH2 " + ir,
			"< a0003 BAD Command received in Invalid state.",
		}},
		{ids: "STARTTLS then I13 caps", era: tenant.Era2026, bearer: tenant.VerdictOK, starttl: true, steps: []string{
			"> s STARTTLS",
			"< s OK Begin TLS negotiation now.",
			"TLS",
			"> a CAPABILITY",
			"< * CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
			"< a OK CAPABILITY completed.",
			"> b AUTHENTICATE XOAUTH2 " + ir,
			"< b OK AUTHENTICATE completed.",
		}},
		{ids: "literal password (sync)", era: tenant.Era2023, basic: tenant.VerdictOK, steps: []string{
			"> L1 LOGIN user@contoso.com {6}",
			"< + Ready for additional command text.",
			"> secret",
			"< L1 OK LOGIN completed.",
			"> L2 LIST \"\" \"Sent*\"",
			`< * LIST (\HasNoChildren \Sent) "/" "Sent Items"`,
			"< L2 OK LIST completed.",
			"> L3 IDLE",
			"< + IDLE accepted, awaiting DONE command.",
			"> DONE",
			"< L3 OK IDLE completed.",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.ids, func(t *testing.T) {
			auth := &fakeAuth{era: tc.era, basic: tc.basic, bearer: tc.bearer}
			_, tlsAddr, plainAddr := startServer(t, auth)
			addr := tlsAddr
			if tc.starttl {
				addr = plainAddr
			}
			r := dialRaw(t, addr, !tc.starttl)
			r.expect(wantGreeting)
			for _, step := range tc.steps {
				switch {
				case step == "EOF":
					r.expectEOF()
				case step == "TLS":
					r.startTLS()
				case strings.HasPrefix(step, "> "):
					r.send(step[2:])
				case strings.HasPrefix(step, "< "):
					r.expect(step[2:])
				default:
					t.Fatalf("bad step %q", step)
				}
			}
		})
	}
}

// The 2026 refusal is given before any account lookup (I12): the tenant is
// not asked, so its lockout counters cannot move.
func TestBasic2026DoesNotAskTenant(t *testing.T) {
	auth := &fakeAuth{era: tenant.Era2026, basic: tenant.VerdictOK}
	_, addr, _ := startServer(t, auth)
	r := dialRaw(t, addr, true)
	r.expect(wantGreeting)
	r.send("a LOGIN u p")
	r.expect("a NO Basic authentication is disabled.")
	if calls := auth.Calls(); len(calls) != 0 {
		t.Fatalf("tenant asked: %v", calls)
	}
}

func TestBearerReachesTenant(t *testing.T) {
	auth := &fakeAuth{era: tenant.Era2026, bearer: tenant.VerdictOK}
	_, addr, _ := startServer(t, auth)
	r := dialRaw(t, addr, true)
	r.expect(wantGreeting)
	r.send("a AUTHENTICATE XOAUTH2 " + xoauth2IR("app@contoso.com", "tok.en"))
	r.expect("a OK AUTHENTICATE completed.")
	calls := auth.Calls()
	if len(calls) != 1 || calls[0] != "bearer:imap:app@contoso.com" || auth.lastTok != "tok.en" {
		t.Fatalf("calls %v token %q", calls, auth.lastTok)
	}
}

// With the emulator's retirement knob off (Set-SimTenant
// -BasicAuthRetiredImapPop:$false) the 2026 server lets the tenant decide
// Basic logins and offers AUTH=PLAIN again; a policy refusal keeps I12's
// words, a wrong password the generic I2.
func TestBasicUnretired2026(t *testing.T) {
	cases := []struct {
		name  string
		basic tenant.Verdict
		reply string
	}{
		{"allowed", tenant.VerdictOK, "a OK LOGIN completed."},
		{"policy refuses", tenant.VerdictBasicDisabled, "a NO Basic authentication is disabled."},
		{"wrong password", tenant.VerdictBadCredentials, "a NO LOGIN failed."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := &fakeAuth{era: tenant.Era2026, basic: tc.basic, basicUnretired: true}
			_, addr, _ := startServer(t, auth)
			r := dialRaw(t, addr, true)
			r.expect(wantGreeting)
			r.send("c CAPABILITY")
			r.expect("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+")
			r.expect("c OK CAPABILITY completed.")
			r.send("a LOGIN u@contoso.com p")
			r.expect(tc.reply)
			if calls := auth.Calls(); len(calls) != 1 {
				t.Fatalf("tenant not asked exactly once: %v", calls)
			}
		})
	}
}
