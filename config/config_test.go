package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every file under testdata/invalid breaks one rule. Its first line
// declares the error: "# want: line N: <fragment>" — one of the error's
// lines must start with "line N: " and contain the fragment — or, for rules
// about the whole file that have no line to point at, "# want: file:
// <fragment>".
func TestInvalidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 50 {
		t.Fatalf("only %d invalid cases", len(files))
	}
	wantRE := regexp.MustCompile(`^# want: (?:line (\d+)|(file)): (.+)$`)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(b), "\n")
			m := wantRE.FindStringSubmatch(first)
			if m == nil {
				t.Fatalf("%s: first line %q is not '# want: line N: ...' or '# want: file: ...'", f, first)
			}
			_, err = Parse(b)
			if err == nil {
				t.Fatalf("accepted; want %q", first)
			}
			// Validation errors are joined by newlines, the YAML library's
			// by "; ".
			msgs := strings.FieldsFunc(strings.ReplaceAll(err.Error(), "; ", "\n"), func(r rune) bool { return r == '\n' })
			if m[2] == "file" {
				if !strings.Contains(err.Error(), m[3]) || strings.Contains(err.Error(), "line ") {
					t.Fatalf("error %q: want %q with no line", err, m[3])
				}
				return
			}
			prefix := "line " + m[1] + ": "
			for _, msg := range msgs {
				if strings.HasPrefix(msg, prefix) && strings.Contains(msg, m[3]) {
					return
				}
			}
			t.Fatalf("error %q has no message starting %q containing %q", err, prefix, m[3])
		})
	}
}

func TestValidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no valid examples")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestFullConfigValues(t *testing.T) {
	c, err := Load("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scanner, helpdesk := &c.Targets[0], &c.Targets[1]
	if scanner.Line != 20 || scanner.Checks[2].Line != 28 || scanner.Checks[2].Expect != "fail" {
		t.Errorf("lines/expect: %d %d %q", scanner.Line, scanner.Checks[2].Line, scanner.Checks[2].Expect)
	}
	if got := c.Addr(scanner, "smtp"); got != DefaultSMTP {
		t.Errorf("default smtp host %q", got)
	}
	if got := c.Addr(helpdesk, "imap"); got != "imap.fabrikam.example:143" {
		t.Errorf("override %q", got)
	}
	if got := c.Addr(helpdesk, "pop"); got != DefaultPOP {
		t.Errorf("default pop %q", got)
	}
	if iv := c.EffectiveInterval(helpdesk, &helpdesk.Checks[0]); iv != time.Minute {
		t.Errorf("check interval %v", iv)
	}
	if iv := c.EffectiveInterval(helpdesk, &helpdesk.Checks[1]); iv != 10*time.Minute {
		t.Errorf("target interval %v", iv)
	}
	if to := c.EffectiveTimeout(scanner, &scanner.Checks[0]); to != 30*time.Second {
		t.Errorf("timeout %v", to)
	}
	if app := c.App(scanner); app == nil || app.Tenant != "contoso.onmicrosoft.com" || app.ClientSecret().File != "/run/secrets/monitor-secret" {
		t.Errorf("shared app %+v", app)
	}
	if app := c.App(helpdesk); app == nil || app.CertFile != "/run/secrets/app.pem" {
		t.Errorf("inline app %+v", app)
	}
	if c.Scheduler.LockoutGuard.Limit != 3 || c.Scheduler.ConfirmDelay.D() != 30*time.Second || c.Store.HistoryMaxAge.D() != 72*time.Hour {
		t.Errorf("tuning %+v %+v", c.Scheduler, c.Store)
	}
	if c.Alerts.Kind == 0 || len(c.Alerts.Content) != 1 {
		t.Errorf("alerts section not kept raw: %+v", c.Alerts)
	}
	if scanner.Labels["team"] != "facilities" {
		t.Errorf("labels %v", scanner.Labels)
	}
}

func TestDefaultTimeoutCoversExchangeRefusals(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if to := c.EffectiveTimeout(&c.Targets[0], &c.Targets[0].Checks[0]); to < 30*time.Second {
		t.Fatalf("default timeout %v: Exchange takes up to ~17 s to refuse", to)
	}
	if iv := c.EffectiveInterval(&c.Targets[0], &c.Targets[0].Checks[0]); iv != 5*time.Minute {
		t.Fatalf("default interval %v", iv)
	}
}

func TestSecretNeverShowsItsValue(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	os.WriteFile(f, []byte("hunter2\n"), 0o600)
	s := Secret{File: f}
	v, err := s.Value()
	if err != nil || v != "hunter2" {
		t.Fatalf("value %q %v", v, err)
	}
	j, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(j)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	t.Setenv("EXOPROBE_TEST_PW", "s3cret")
	if v, err := (Secret{Env: "EXOPROBE_TEST_PW"}).Value(); err != nil || v != "s3cret" {
		t.Fatalf("env %q %v", v, err)
	}
	if _, err := (Secret{Env: "EXOPROBE_TEST_UNSET_X"}).Value(); err == nil {
		t.Fatal("unset env accepted")
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	if _, err := s.Value(); err == nil {
		t.Fatal("empty secret file accepted")
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	_, err := Parse([]byte(`targets:
  - name: a
    user: a@c.example
    checks:
      - {protocol: imaps, mechanism: basic}
      - {protocol: imap, mechanism: xoauth2, expect: yes}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"line 5:", "unknown protocol", "line 6:", "expect must be ok or fail", `target "a"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("targets: [{name: a, oauth: [1,2]}]"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil && (c == nil || len(c.Targets) == 0) {
			t.Fatal("accepted a config without targets")
		}
	})
}
