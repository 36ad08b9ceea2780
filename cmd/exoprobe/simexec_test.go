package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/cmdlet"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// simExecFixture starts an admin endpoint over a small tenant and writes an
// endpoints.json pointing at it.
func simExecFixture(t *testing.T, token string) (endpoints string, tn *tenant.Tenant) {
	t.Helper()
	tn = tenant.New(&tenant.State{
		Name: "contoso", Domains: []string{"contoso.com"}, Era: tenant.Era2026,
		Users: []*tenant.User{{UPN: "demo@contoso.com", DisplayName: "Demo User", CAS: tenant.CASMailbox{ImapEnabled: true, PopEnabled: true}}},
	})
	tn.Now = func() time.Time { return time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC) }
	srv := httptest.NewServer(cmdlet.AdminHandler(cmdlet.New(tn), "s3cret-admin-token"))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"admin_url": srv.URL, "admin_token_file": filepath.Join(dir, "admin-token")})
	endpoints = filepath.Join(dir, "endpoints.json")
	if err := os.WriteFile(endpoints, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return endpoints, tn
}

func TestSimExecRunsLinesAndPrintsOutput(t *testing.T) {
	ep, tn := simExecFixture(t, "s3cret-admin-token")
	var out, errb bytes.Buffer
	code := simExec([]string{"--endpoints", ep,
		"Set-TransportConfig -SmtpClientAuthenticationDisabled $True",
		"Get-TransportConfig | Select SmtpClientAuthenticationDisabled"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	want := "\nSmtpClientAuthenticationDisabled\n--------------------------------\n                            True\n\n"
	if out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	tn.View(func(s *tenant.State) {
		if !s.Transport.SmtpClientAuthenticationDisabled {
			t.Error("tenant switch not set")
		}
	})
}

func TestSimExecErrors(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		args     func(ep string) []string
		code     int
		stderr   string
		noStderr string
	}{
		{"cmdlet error stops the rest", "s3cret-admin-token", func(ep string) []string {
			return []string{"--endpoints", ep, "Set-CasMailbox nobody -PopEnabled $false", "Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}
		}, exitFail, "couldn't be found", ""},
		{"unknown cmdlet", "s3cret-admin-token", func(ep string) []string {
			return []string{"--endpoints", ep, "Get-Bogus"}
		}, exitFail, "Supported cmdlets", ""},
		{"wrong token", "wrong-token", func(ep string) []string {
			return []string{"--endpoints", ep, "Get-TransportConfig"}
		}, exitFail, "refused the admin token", "wrong-token"},
		{"no lines", "s3cret-admin-token", func(ep string) []string { return []string{"--endpoints", ep} }, exitUsage, "no cmdlet line", ""},
		{"missing endpoints", "s3cret-admin-token", func(ep string) []string {
			return []string{"--endpoints", filepath.Join(filepath.Dir(ep), "nope.json"), "Get-TransportConfig"}
		}, exitUsage, "read endpoints", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep, tn := simExecFixture(t, tc.token)
			var out, errb bytes.Buffer
			code := simExec(tc.args(ep), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.stderr)
			}
			if tc.noStderr != "" && strings.Contains(errb.String()+out.String(), tc.noStderr) {
				t.Errorf("output echoes %q", tc.noStderr)
			}
			tn.View(func(s *tenant.State) {
				if s.Transport.SmtpClientAuthenticationDisabled {
					t.Error("a line after the failing one ran")
				}
			})
		})
	}
}

// TestSimExecHintsAtShellQuoting: in double quotes a POSIX shell turns
// $True into nothing, so the emulator sees a parameter without its value;
// sim exec says why and how to quote. A value genuinely left out (no gap
// where a $ variable was) gets no such hint.
func TestSimExecHintsAtShellQuoting(t *testing.T) {
	const hint = "single quotes"
	for _, tc := range []struct {
		line string
		hint bool
	}{
		{"Set-TransportConfig -SmtpClientAuthenticationDisabled ", true}, // "... $True"
		{"Set-CasMailbox demo -PopEnabled  -ImapEnabled ", true},         // "... $false -ImapEnabled $false"
		{"Set-CasMailbox demo -PopEnabled:", true},                       // "... -PopEnabled:$false"
		{"Set-TransportConfig -SmtpClientAuthenticationDisabled", false},
		{"Set-TransportConfig -SmtpClientAuthenticationDisabled $Tru", false},
	} {
		ep, _ := simExecFixture(t, "s3cret-admin-token")
		var out, errb bytes.Buffer
		if code := simExec([]string{"--endpoints", ep, tc.line}, &out, &errb); code != exitFail {
			t.Errorf("%q: exit %d, want %d", tc.line, code, exitFail)
		}
		if got := strings.Contains(errb.String(), hint); got != tc.hint {
			t.Errorf("%q: quoting hint shown %v, want %v:\n%s", tc.line, got, tc.hint, errb.String())
		}
	}
}

func TestSimExecViaSimSubcommand(t *testing.T) {
	ep, _ := simExecFixture(t, "s3cret-admin-token")
	var out, errb bytes.Buffer
	code := dispatch([]string{"sim", "exec", "--endpoints", ep, "Get-CASMailbox demo | fl PopEnabled"}, &out, &errb)
	if code != exitOK || !strings.Contains(out.String(), "PopEnabled : True") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestReadAdminEndpointRelativeToken(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tok"), []byte("abc\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "endpoints.json"), []byte(`{"admin_url":"http://127.0.0.1:1/","admin_token_file":"tok"}`), 0o600)
	url, tok, err := readAdminEndpoint(filepath.Join(dir, "endpoints.json"))
	if err != nil || url != "http://127.0.0.1:1" || tok != "abc" {
		t.Fatalf("got %q %q %v", url, tok, err)
	}
}
