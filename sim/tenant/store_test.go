package tenant

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	tn, s, clk := newDemoTenant(t)
	// Exercise the optional parts: history, refresh tokens, a knob.
	s.SetPolicy(DemoPolicy, AllowAll, clk.Now())
	if err := s.AssignPolicy("shared@contoso.com", DemoPolicy, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueRefreshToken(s.FindUser(DemoUser), s.FindApp(DemoAppID), []string{"offline_access"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	s.BasicAuthRetiredSmtp = true // off in the demo tenant: a lost field would read false
	dir := t.TempDir()
	path := filepath.Join(dir, "tenant.json")
	if err := tn.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
	if !got.BasicAuthRetiredSmtp {
		t.Fatal("BasicAuthRetiredSmtp lost in the round trip")
	}
	got.BasicAuthRetiredSmtp = false // so that Basic SMTP below can succeed
	// The loaded state keeps the demo credentials and works.
	d, ok := got.DemoInfo()
	if !ok || d.Password != pw(s, DemoUser) || d.ClientSecret == "" || d.KeyPEM == "" {
		t.Fatalf("demo info after load: ok=%v", ok)
	}
	lt := New(got)
	lt.Now = clk.Now
	if v := lt.AuthenticateBasic(SMTP, d.User, d.Password); v != VerdictOK {
		t.Fatalf("basic after load: %s", v)
	}
	tok, err := tn.IssueAppToken(DemoAppID) // signed before the save
	if err != nil {
		t.Fatal(err)
	}
	if v := lt.AuthenticateBearer(IMAP, d.User, tok); v != VerdictOK {
		t.Fatalf("token signed before save, checked after load: %s", v)
	}
	// Overwrite keeps working (rename over an existing file).
	if err := lt.Save(path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	valid, err := json.Marshal(freshDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := pw(freshDemo(t), DemoUser)
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	users := func(m map[string]any) []any { return m["users"].([]any) }
	cases := []struct {
		name, content, want string
	}{
		{"not JSON", "{", "unexpected EOF"},
		{"unknown field", edit(func(m map[string]any) { m["colour"] = "blue" }), `unknown field "colour"`},
		{"bad id", edit(func(m map[string]any) { m["id"] = "contoso" }), `id "contoso" is not a GUID`},
		{"bad era", edit(func(m map[string]any) { m["era"] = "1999" }), `era "1999" unknown`},
		{"bad duration", edit(func(m map[string]any) { m["propagation_delay"] = "soon" }), "duration"},
		{"user outside domains", edit(func(m map[string]any) { users(m)[0].(map[string]any)["upn"] = "x@fabrikam.com" }), `domain "fabrikam.com"`},
		{"duplicate user", edit(func(m map[string]any) { m["users"] = append(users(m), users(m)[0]) }), "duplicate"},
		{"unknown policy", edit(func(m map[string]any) { users(m)[0].(map[string]any)["authentication_policy"] = "Nope" }), `"Nope": no such policy`},
		{"unknown default policy", edit(func(m map[string]any) { m["default_authentication_policy"] = "Nope" }), "default_authentication_policy"},
		{"bad app id", edit(func(m map[string]any) { m["apps"].([]any)[0].(map[string]any)["app_id"] = "x" }), "is not a GUID"},
		{"bad certificate", edit(func(m map[string]any) {
			m["apps"].([]any)[0].(map[string]any)["certificates"].([]any)[0].(map[string]any)["pem"] = "junk"
		}), "certificates[0]"},
		{"bad signing key", edit(func(m map[string]any) { m["signing_key"].(map[string]any)["private_pem"] = "junk" }), "signing_key"},
		{"permission on unknown mailbox", edit(func(m map[string]any) {
			m["mailbox_permissions"].([]any)[0].(map[string]any)["mailbox"] = "ghost@contoso.com"
		}), "ghost@contoso.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v, want error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error leaks a password")
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestDemoCredentialsAreRandom(t *testing.T) {
	a, b := Demo(), Demo()
	da, _ := a.DemoInfo()
	db, _ := b.DemoInfo()
	if da.Password == db.Password || da.ClientSecret == db.ClientSecret || a.SigningKey.KID == b.SigningKey.KID {
		t.Fatal("two demos share credentials")
	}
	if da.Tenant != DemoTenantID || da.ClientID != DemoAppID || da.User != DemoUser {
		t.Fatalf("demo ids: %+v", da.Tenant)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}
