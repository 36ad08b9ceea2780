package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/sim"
)

// configForSim writes a config with several targets of the emulator's demo
// tenant, credentials in files, and returns its path and the secrets to look
// for in the output.
func configForSim(t *testing.T, s *sim.Sim, body string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	ep := s.Endpoints()
	secrets := []string{ep.Demo.ClientSecret}
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := map[string]string{"CLIENT_SECRET_FILE": write("client-secret", ep.Demo.ClientSecret)}
	for _, u := range ep.Users {
		local, _, _ := strings.Cut(u.UPN, "@")
		files[strings.ToUpper(local)+"_PW"] = write(local+"-pw", u.Password)
		secrets = append(secrets, u.Password)
	}
	r := strings.NewReplacer(
		"IMAP_ADDR", ep.IMAP.TLS, "POP_ADDR", ep.POP.TLS, "SMTP_ADDR", ep.SMTP.StartTLS,
		"CA_FILE", ep.CAFile, "AUTHORITY", ep.Authority, "TENANT", ep.TenantID, "CLIENT_ID", ep.Demo.ClientID,
	)
	body = r.Replace(body)
	for k, v := range files {
		body = strings.ReplaceAll(body, k, v)
	}
	path := write("exoprobe.yaml", body)
	return path, secrets
}

const simConfig = `defaults:
  timeout: 15s
  hosts: {imap: IMAP_ADDR, pop: POP_ADDR, smtp: SMTP_ADDR}
oauth_apps:
  demo-app:
    tenant: TENANT
    authority: AUTHORITY
    client_id: CLIENT_ID
    client_secret_file: CLIENT_SECRET_FILE
    ca_file: CA_FILE
targets:
  - name: demo
    user: demo@contoso.com
    ca_file: CA_FILE
    password_file: DEMO_PW
    oauth: demo-app
    checks:
      - {protocol: smtp, mechanism: basic}
      - {protocol: imap, mechanism: xoauth2}
      - {protocol: imap, mechanism: basic, expect: fail}
  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    password_file: SCANNER_PW
    checks:
      - {protocol: smtp, mechanism: basic, expect: ok}
      - {protocol: pop, mechanism: basic, expect: fail}
`

type configDoc struct {
	Target   string `json:"target"`
	Attempts []struct {
		Protocol   string `json:"protocol"`
		Mechanism  string `json:"mechanism"`
		OK         bool   `json:"ok"`
		Cause      string `json:"cause"`
		Expect     string `json:"expect"`
		AsExpected *bool  `json:"as_expected"`
	} `json:"attempts"`
}

// asExpected flattens the documents to "target proto/mech ok=.. as_expected=.." lines.
func asExpected(t *testing.T, out []byte) []string {
	t.Helper()
	var docs []configDoc
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	var lines []string
	for _, d := range docs {
		for _, a := range d.Attempts {
			if a.AsExpected == nil {
				t.Fatalf("attempt without as_expected: %s", out)
			}
			lines = append(lines, fmt.Sprintf("%s %s/%s expect=%s ok=%v as_expected=%v", d.Target, a.Protocol, a.Mechanism, a.Expect, a.OK, *a.AsExpected))
		}
	}
	return lines
}

func TestCheckConfigAgainstEmulator(t *testing.T) {
	zero := time.Duration(0)
	s, err := sim.Start(context.Background(), sim.Options{DataDir: t.TempDir(), PropagationDelay: &zero})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg, secrets := configForSim(t, s, simConfig)

	// Basic IMAP and POP are refused (retired): the posture checks hold,
	// the others log in. Exit 0.
	var out, errb bytes.Buffer
	code := runCheck([]string{"--config", cfg, "--output", "json", "--transcript"}, &out, &errb)
	want := []string{
		"demo smtp/basic expect=ok ok=true as_expected=true",
		"demo imap/xoauth2 expect=ok ok=true as_expected=true",
		"demo imap/basic expect=fail ok=false as_expected=true",
		"scanner smtp/basic expect=ok ok=true as_expected=true",
		"scanner pop/basic expect=fail ok=false as_expected=true",
	}
	if got := asExpected(t, out.Bytes()); code != exitOK || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d (want 0), stderr %q\ngot:\n%s\nwant:\n%s", code, errb.String(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if errb.Len() != 0 {
		t.Errorf("stderr not a terminal, yet: %q", errb.String())
	}
	for _, sec := range secrets {
		if strings.Contains(out.String()+errb.String(), sec) {
			t.Errorf("a secret leaked into check's output")
		}
	}
	out.Reset()
	if code = runCheck([]string{"--config", cfg}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "refused ✓") || strings.Contains(out.String(), "LOGS IN") ||
		!strings.Contains(out.String(), "\nscanner ") || !strings.Contains(out.String(), "2 targets, 5 checks: 5 as expected, 0 not.") {
		t.Fatalf("text: exit %d\n%s", code, out.String())
	}

	// Basic IMAP comes back for demo@: its posture check fails the run and
	// says so; scanner's POP posture still holds.
	for _, l := range []string{
		"Set-SimTenant -BasicAuthRetiredImapPop:$false",
		"Set-AuthenticationPolicy 'Allow SMTP Basic' -AllowBasicAuthImap",
		"Set-User demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
	} {
		if o, err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%s: %v %s", l, err, o)
		}
	}
	out.Reset()
	code = runCheck([]string{"--config", cfg, "--output", "json"}, &out, &errb)
	want[2] = "demo imap/basic expect=fail ok=true as_expected=false"
	if got := asExpected(t, out.Bytes()); code != exitFail || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d (want 1)\ngot:\n%s\nwant:\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out.Reset()
	code = runCheck([]string{"--config", cfg, "--protocols", "imap"}, &out, &errb)
	if code != exitFail || !strings.Contains(out.String(), "UNEXPECTEDLY OK") ||
		!strings.Contains(out.String(), "imap/basic (expect: fail)") || strings.Contains(out.String(), "smtp") {
		t.Fatalf("text: exit %d\n%s", code, out.String())
	}
	// --mechanisms narrows to the posture-free checks: all green again.
	out.Reset()
	if code = runCheck([]string{"--config", cfg, "--mechanisms", "xoauth2"}, &out, &errb); code != exitOK ||
		strings.Contains(out.String(), "Target: scanner") {
		t.Fatalf("--mechanisms xoauth2: exit %d\n%s", code, out.String())
	}
}

// An ordinary check that fails makes the run fail too, with its cause.
func TestCheckConfigFailure(t *testing.T) {
	s, _ := startSimForCheck(t)
	cfg, _ := configForSim(t, s, `defaults: {hosts: {smtp: SMTP_ADDR}}
targets:
  - {name: demo, user: demo@contoso.com, ca_file: CA_FILE, password_file: DEMO_PW, checks: [{protocol: smtp, mechanism: basic}]}
  - {name: nosmtp, user: nosmtp@contoso.com, ca_file: CA_FILE, password_file: NOSMTP_PW, checks: [{protocol: smtp, mechanism: basic}]}
`)
	var out, errb bytes.Buffer
	code := runCheck([]string{"--config", cfg}, &out, &errb)
	if code != exitFail || !strings.Contains(out.String(), "smtp_auth_disabled_mailbox") ||
		!strings.Contains(out.String(), "Set-CasMailbox nosmtp@contoso.com -SmtpClientAuthenticationDisabled $False") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
}

func TestCheckConfigProgress(t *testing.T) {
	s, _ := startSimForCheck(t)
	cfg, _ := configForSim(t, s, `defaults: {hosts: {smtp: SMTP_ADDR}}
targets:
  - {name: demo, user: demo@contoso.com, ca_file: CA_FILE, password_file: DEMO_PW, checks: [{protocol: smtp, mechanism: basic}]}
  - {name: scanner, user: scanner@contoso.com, ca_file: CA_FILE, password_file: SCANNER_PW, checks: [{protocol: smtp, mechanism: basic}]}
`)
	orig := checkIsTerminal
	t.Cleanup(func() { checkIsTerminal = orig })
	checkIsTerminal = func(io.Writer) bool { return true }
	var out, errb bytes.Buffer
	if code := runCheck([]string{"--config", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, w := range []string{"[1/2] ", "[2/2] ", "smtp/basic: ok"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("progress lacks %q: %q", w, errb.String())
		}
	}
	if strings.Contains(out.String(), "[1/2]") {
		t.Errorf("progress on stdout")
	}
	// One target: no progress even on a terminal.
	one, _ := configForSim(t, s, `defaults: {hosts: {smtp: SMTP_ADDR}}
targets:
  - {name: demo, user: demo@contoso.com, ca_file: CA_FILE, password_file: DEMO_PW, checks: [{protocol: smtp, mechanism: basic}]}
`)
	errb.Reset()
	if code := runCheck([]string{"--config", one}, &out, &errb); code != exitOK || errb.Len() != 0 {
		t.Fatalf("one target: exit %d, stderr %q", code, errb.String())
	}
}

func TestCheckConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  - name: a\n    user: a@b\n    colour: blue\n    checks: [{protocol: smtp, mechanism: basic}]\n"), 0o600)
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("targets:\n  - name: a\n    user: a@b\n    password_env: X\n    checks:\n      - {protocol: smtp, mechanism: basic, expect: maybe}\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("targets:\n  - name: a\n    user: a@b\n    password_env: X\n    checks: [{protocol: smtp, mechanism: basic}]\n"), 0o600)
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--config", bad}, "line 4"},
		{[]string{"--config", invalid}, "line 6"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"--config", good, "--user", "x@y"}, "--user cannot be combined with --config"},
		{[]string{"--config", good, "--endpoints", "e.json"}, "--endpoints cannot be combined"},
		{[]string{"--config", good, "--protocols", "pop"}, "no check of"},
		{[]string{"--config", good, "--protocols", "nntp"}, "unknown value"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := runCheck(c.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d (want 2), stderr %q (want %q)", c.args, code, errb.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%q: stdout %q", c.args, out.String())
		}
	}
}

// auth_policy fills the <policy> of the remedy: the fix line names the
// policy the admin gave, quoted for PowerShell, and the target without one
// keeps the placeholder.
func TestCheckConfigAuthPolicy(t *testing.T) {
	s, _ := startSimForCheck(t)
	if o, err := s.Exec(context.Background(), `Set-AuthenticationPolicy -Identity "Allow SMTP Basic" -AllowBasicAuthSmtp:$false`); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	if o, err := s.Exec(context.Background(), `Set-User -Identity demo@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)`); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	cfg, _ := configForSim(t, s, `defaults: {hosts: {smtp: SMTP_ADDR}}
targets:
  - {name: named, user: demo@contoso.com, auth_policy: Allow SMTP Basic, ca_file: CA_FILE, password_file: DEMO_PW, checks: [{protocol: smtp, mechanism: basic}]}
  - {name: unnamed, user: demo@contoso.com, ca_file: CA_FILE, password_file: DEMO_PW, checks: [{protocol: smtp, mechanism: basic}]}
`)
	var out, errb bytes.Buffer
	code := runCheck([]string{"--config", cfg, "--output", "json"}, &out, &errb)
	var docs []struct {
		Target   string `json:"target"`
		Findings []struct {
			Cause  string `json:"cause"`
			Remedy struct {
				Fix []string `json:"fix"`
			} `json:"remedy"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out.Bytes(), &docs); err != nil || code != exitFail || len(docs) != 2 {
		t.Fatalf("exit %d, %v, stderr %q\n%s", code, err, errb.String(), out.String())
	}
	fixOf := func(i int) string {
		for _, f := range docs[i].Findings {
			if f.Cause == "basic_auth_disabled" {
				return strings.Join(f.Remedy.Fix, "\n")
			}
		}
		t.Fatalf("%s: no basic_auth_disabled finding\n%s", docs[i].Target, out.String())
		return ""
	}
	if got := fixOf(0); !strings.Contains(got, "Set-AuthenticationPolicy -Identity 'Allow SMTP Basic' -AllowBasicAuth") || strings.Contains(got, "<policy>") {
		t.Errorf("auth_policy given: fix is\n%s", got)
	}
	if got := fixOf(1); !strings.Contains(got, "Set-AuthenticationPolicy -Identity <policy> ") {
		t.Errorf("no auth_policy: want the placeholder kept, fix is\n%s", got)
	}
	// --auth-policy describes one target: with --config the file does.
	if code := runCheck([]string{"--config", cfg, "--auth-policy", "x"}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("--auth-policy with --config: exit %d, want %d", code, exitUsage)
	}
}

// An OAuth app whose client secret file is not there when the daemon
// starts (a secret mounted later) is prepared at the first attempt after
// the file appears, as passwords are re-read at each attempt; no reload is
// needed.
func TestBuildSpecsRetriesOAuthAppSetUp(t *testing.T) {
	s, _ := startSimForCheck(t)
	cfgPath, _ := configForSim(t, s, simConfig)
	secretPath := filepath.Join(filepath.Dir(cfgPath), "client-secret")
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(secretPath); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := buildSpecs(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var src probe.TokenSource
	for _, sp := range specs {
		if sp.Mechanism == probe.XOAUTH2 {
			src = sp.Target.Token
		}
	}
	if src == nil {
		t.Fatal("no XOAUTH2 check with a token source")
	}
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "client secret") {
		t.Fatalf("token without the secret file: %v, want the missing secret named", err)
	}
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token once the secret file is there: %v", err)
	}
}
