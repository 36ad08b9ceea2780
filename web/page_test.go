package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

func TestPickLang(t *testing.T) {
	tests := []struct{ query, accept, want string }{
		{"", "", "en"},
		{"", "ja", "ja"},
		{"", "ja-JP,ja;q=0.9,en;q=0.8", "ja"},
		{"", "en-US,en;q=0.9,ja;q=0.8", "en"},
		{"", "fr-FR,fr;q=0.9,ja;q=0.5", "ja"},
		{"", "fr", "en"},
		{"", "en;q=0.2, ja;q=0.7", "ja"},
		{"lang=ja", "en", "ja"},
		{"lang=en", "ja", "en"},
		{"lang=ja-JP", "", "ja"},
		{"lang=xx", "ja", "en"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if got := pickLang(r); got != tc.want {
			t.Errorf("query %q accept %q: %s, want %s", tc.query, tc.accept, got, tc.want)
		}
	}
}

func TestMessagesComplete(t *testing.T) {
	for k := range messages[langEN] {
		if _, ok := messages[langJA][k]; !ok {
			t.Errorf("Japanese lacks %q", k)
		}
	}
	for k := range messages[langJA] {
		if _, ok := messages[langEN][k]; !ok {
			t.Errorf("English lacks %q", k)
		}
	}
}

func TestStatusPage(t *testing.T) {
	h := newTestHandler(fixture(), Options{ConfigStatus: func() ConfigStatus {
		return ConfigStatus{Error: "line 3: unknown key"}
	}})
	tests := []struct {
		name, path, accept string
		want, notWant      []string
	}{
		{"english", "/", "", []string{
			`<html lang="en">`, "Mail login monitoring",
			// cause, title, server's words, remedy with the fix command
			"smtp_auth_disabled_tenant", "SMTP AUTH is disabled for the organization",
			"SmtpClientAuthentication is disabled for the Tenant",
			"Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
			"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
			// posture remedy for the unexpectedly working Basic IMAP
			"unexpectedly ok", "Set-AuthenticationPolicy -Identity &lt;policy&gt; -AllowBasicAuthImap:$false",
			// transcript in a details element, redacted
			`<details class="transcript" id="tr-demo/smtp/basic">`, "C: AUTH LOGIN ****",
			// events, readiness, config error, guard, refresh
			"Recent events", "regressed", "Basic authentication retirement readiness", "no XOAUTH2 check for this protocol",
			"line 3: unknown key", "lockout guard", `<noscript><meta http-equiv="refresh" content="10"></noscript>`, `<script src="static/live.js" defer></script>`,
			"5m ago", // since t0, rendered at now
		}, []string{canary}},
		{"japanese by query", "/?lang=ja", "en", []string{
			`<html lang="ja">`, "メールログイン監視", "組織全体で SMTP AUTH が無効", "Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
			"最近のイベント", "基本認証廃止への準備状況", "サーバーの応答", "smtp basic: サーバーの応答",
		}, []string{"Mail login monitoring", canary}},
		{"japanese by header", "/", "ja-JP,ja;q=0.9", []string{"メールログイン監視"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{}
			if tc.accept != "" {
				hdr = []string{"Accept-Language", tc.accept}
			}
			code, rh, body := get(t, h, tc.path, hdr...)
			if code != 200 || !strings.HasPrefix(rh.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %q", code, rh.Get("Content-Type"))
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestStatusPageEmptyAndEscaping(t *testing.T) {
	src := &fakeSource{}
	code, _, body := get(t, newTestHandler(src, Options{Refresh: -1}), "/")
	if code != 200 || !strings.Contains(body, "No events yet.") || !strings.Contains(body, "No check depends on Basic authentication.") {
		t.Errorf("empty page: %d\n%s", code, body)
	}
	if strings.Contains(body, "http-equiv=\"refresh\"") {
		t.Error("refresh not turned off")
	}
	f := fixture()
	f.checks[0].LastAttempt.Reply = `<script>alert(1)</script>`
	_, _, body = get(t, newTestHandler(f, Options{}), "/")
	if strings.Contains(body, "<script>") {
		t.Error("server words not escaped")
	}
}

// incidentHTML cuts one incident's block out of the page.
func incidentHTML(t *testing.T, body, key string) string {
	t.Helper()
	i := strings.Index(body, `data-key="`+key+`"`)
	if i < 0 {
		t.Fatalf("no incident %s", key)
	}
	j := strings.Index(body[i:], "</article>")
	return body[i : i+j]
}

// rowHTML cuts one check's row out of the page.
func rowHTML(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<tr id="check-`+id+`"`)
	if i < 0 {
		t.Fatalf("no row for %s", id)
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

// TestStatusPageConfirming: an outcome awaiting its confirm re-probe is
// worded against the confirmed one. "confirming: ok" beside a failing cause
// read as the failure being confirmed.
func TestStatusPageConfirming(t *testing.T) {
	h := newTestHandler(fixture(), Options{})
	tests := []struct {
		lang, id, want string
		notWant        []string
	}{
		{"en", "demo/smtp/xoauth2", `<div class="meta confirming">confirming recovery: the latest attempt logged in</div>`, []string{"confirming: ", "<code>ok</code>"}},
		{"ja", "demo/smtp/xoauth2", `<div class="meta confirming">回復を確認中: 直近の試行はログインに成功</div>`, []string{"<code>ok</code>"}},
		{"en", "ops/scanner/imap/basic", `<div class="meta confirming">confirming a failure: <code>basic_auth_disabled</code>`, nil},
		{"ja", "ops/scanner/imap/basic", `<div class="meta confirming">失敗を確認中: <code>basic_auth_disabled</code>`, nil},
		{"en", "demo/smtp/basic", "", []string{"confirming"}},
	}
	for _, tc := range tests {
		_, _, body := get(t, h, "/?lang="+tc.lang)
		row := rowHTML(t, body, tc.id)
		if tc.want != "" && !strings.Contains(row, tc.want) {
			t.Errorf("%s %s: row lacks %q:\n%s", tc.lang, tc.id, tc.want, row)
		}
		for _, w := range tc.notWant {
			if strings.Contains(row, w) {
				t.Errorf("%s %s: row has %q:\n%s", tc.lang, tc.id, w, row)
			}
		}
	}
}

func TestPendingLabel(t *testing.T) {
	tests := []struct {
		expect           scheduler.Expectation
		cause, pending   diagnose.Cause
		wantKey, wantArg string
	}{
		{scheduler.ExpectOK, diagnose.CauseSMTPAuthDisabledTenant, "", "", ""},
		{scheduler.ExpectOK, diagnose.CauseSMTPAuthDisabledTenant, diagnose.CauseOK, "confirming_recovery", ""},
		{scheduler.ExpectFail, diagnose.CauseBasicAuthDisabled, diagnose.CauseOK, "confirming_login_works", ""},
		{scheduler.ExpectOK, diagnose.CauseOK, diagnose.CauseBadCredentials, "confirming_failure", "bad_credentials"},
		{scheduler.ExpectOK, diagnose.CauseBadCredentials, diagnose.CauseAccountLocked, "confirming_change", "account_locked"},
		{scheduler.ExpectOK, "", diagnose.CauseBadCredentials, "confirming", "bad_credentials"},
	}
	for _, tc := range tests {
		st := scheduler.CheckState{Expect: tc.expect, Cause: tc.cause, Pending: tc.pending}
		label, arg := pendingLabel(&st, langEN)
		want := ""
		if tc.wantKey != "" {
			want = messages[langEN][tc.wantKey]
		}
		if label != want || arg != tc.wantArg {
			t.Errorf("%+v: %q %q, want %q %q", tc, label, arg, want, tc.wantArg)
		}
	}
}

// The config's auth_policy fills <policy> in the page's remedies, as
// `exoprobe check --auth-policy` does, so the fix line runs as printed.
func TestStatusPageFillsAuthPolicy(t *testing.T) {
	f := fixture()
	for i := range f.checks {
		if f.checks[i].Target == "ops/scanner" {
			f.checks[i].AuthPolicy = "BlockBasicScanners"
		}
	}
	_, _, body := get(t, newTestHandler(f, Options{}), "/")
	row := incidentHTML(t, body, "unexpectedly_ok/contoso.com")
	if !strings.Contains(row, `id="check-ops/scanner/imap/basic"`) {
		t.Errorf("the incident does not list the scanner:\n%s", row)
	}
	if !strings.Contains(row, "Set-AuthenticationPolicy -Identity BlockBasicScanners -AllowBasicAuthImap:$false") ||
		strings.Contains(row, "&lt;policy&gt;") {
		t.Errorf("scanner's posture remedy does not name its policy:\n%s", row)
	}
}
