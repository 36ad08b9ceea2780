package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

func TestEndpointsFileAndSecretsOnDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	raw, err := os.ReadFile(filepath.Join(dir, EndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	// The keys scripts rely on (issue 2, item 7).
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"imap", "pop", "smtp", "authority", "token_url", "admin_url", "admin_token_file", "ca_file", "demo", "users", "apps", "tenant_id", "domain", "era"} {
		if _, ok := m[k]; !ok {
			t.Errorf("endpoints.json lacks %q", k)
		}
	}
	e, err := ReadEndpoints(filepath.Join(dir, EndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"imap.tls": e.IMAP.TLS, "imap.starttls": e.IMAP.StartTLS,
		"pop.tls": e.POP.TLS, "pop.starttls": e.POP.StartTLS, "smtp.starttls": e.SMTP.StartTLS} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("%s = %q, want 127.0.0.1:PORT", name, addr)
		}
	}
	if want := "https://" + hostOf(e.TokenURL) + "/" + tenant.DemoTenantID; e.Authority != want {
		t.Errorf("authority %q, want %q", e.Authority, want)
	}
	if e.TokenURL != e.Authority+"/oauth2/v2.0/token" {
		t.Errorf("token_url %q", e.TokenURL)
	}
	if e.Demo == nil || e.Demo.User != tenant.DemoUser || e.Demo.ClientID != tenant.DemoAppID || e.Demo.Tenant != tenant.DemoTenantID {
		t.Fatalf("demo = %+v", e.Demo)
	}
	if e.Era != "2026" || e.Domain != "contoso.onmicrosoft.com" || len(e.Users) < 5 || len(e.Apps) != 2 {
		t.Errorf("era %q domain %q users %d apps %d", e.Era, e.Domain, len(e.Users), len(e.Apps))
	}
	// Private files are 0600; the demo key matches the certificate.
	for _, f := range []string{caKeyFile, AdminTokenFile, EndpointsFile, DemoCertKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	tok, err := e.AdminToken()
	if err != nil || len(tok) < 32 {
		t.Errorf("admin token %d chars, err %v", len(tok), err)
	}
	if bytes.Contains(raw, []byte(tok)) {
		t.Error("endpoints.json contains the admin token itself")
	}
	if _, err := os.Stat(e.Demo.CertFile); err != nil {
		t.Error(err)
	}
}

func hostOf(u string) string {
	var host string
	fmt.Sscanf(u, "https://%s", &host)
	for i := range host {
		if host[i] == '/' {
			return host[:i]
		}
	}
	return host
}

func TestCAReusedAndStateSavedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "Set-TransportConfig -SmtpClientAuthenticationDisabled $True")
	pw := s.Endpoints().Demo.Password
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, CAFile))
	tok1, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))

	s, err = Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca2, _ := os.ReadFile(filepath.Join(dir, CAFile))
	tok2, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if !bytes.Equal(ca1, ca2) {
		t.Error("CA regenerated although a valid one was on disk")
	}
	if bytes.Equal(tok1, tok2) {
		t.Error("admin token not regenerated at start")
	}
	if got := s.Endpoints().Demo.Password; got != pw {
		t.Errorf("demo password %q after restart, want the saved %q", got, pw)
	}
	var disabled bool
	s.Tenant().View(func(st *tenant.State) { disabled = st.Transport.SmtpClientAuthenticationDisabled })
	if !disabled {
		t.Error("Set-TransportConfig lost across restart: state.json not saved or not loaded")
	}
	// The reused CA still verifies the new run's certificate.
	got := doLogin(t, s.Endpoints(), login{proto: "pop", mech: "basic", user: "demo@contoso.com", secret: pw})
	if got.auth != p8 {
		t.Errorf("after restart: %v", got)
	}
}

func TestStartOptions(t *testing.T) {
	t.Run("state and propagation delay", func(t *testing.T) {
		st := tenant.Demo()
		st.Era = tenant.Era2023
		d := 5 * time.Minute
		s, err := Start(context.Background(), Options{DataDir: t.TempDir(), State: st, PropagationDelay: &d})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if e := s.Endpoints(); e.Era != "2023" {
			t.Errorf("era %q, want 2023", e.Era)
		}
		var got tenant.Duration
		s.Tenant().View(func(st *tenant.State) { got = st.PropagationDelay })
		if time.Duration(got) != d {
			t.Errorf("propagation delay %v, want %v", time.Duration(got), d)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := Start(context.Background(), Options{}); err == nil {
			t.Error("Start without DataDir succeeded")
		}
		if _, err := Start(context.Background(), Options{DataDir: t.TempDir(), PortBase: 65530}); err == nil {
			t.Error("Start with ports beyond 65535 succeeded")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Start(ctx, Options{DataDir: t.TempDir()}); err == nil {
			t.Error("Start with a cancelled context succeeded")
		}
	})
	t.Run("port base", func(t *testing.T) {
		// Find seven free consecutive ports; retry elsewhere if one is taken
		// between the check and Start.
		for attempt := range 20 {
			base := 20000 + (os.Getpid()*7+attempt*977)%40000
			s, err := Start(context.Background(), Options{DataDir: t.TempDir(), PortBase: base})
			if err != nil {
				continue
			}
			e := s.Endpoints()
			want := map[string]int{e.IMAP.TLS: base, e.IMAP.StartTLS: base + 1, e.POP.TLS: base + 2, e.POP.StartTLS: base + 3,
				e.SMTP.StartTLS: base + 4, hostOf(e.TokenURL): base + 5, e.AdminURL[len("http://"):]: base + 6}
			for addr, port := range want {
				if addr != fmt.Sprintf("127.0.0.1:%d", port) {
					t.Errorf("%s, want port %d", addr, port)
				}
			}
			// A second emulator on the same ports fails cleanly.
			if s2, err := Start(context.Background(), Options{DataDir: t.TempDir(), PortBase: base}); err == nil {
				s2.Close()
				t.Error("second Start on busy ports succeeded")
			}
			s.Close()
			return
		}
		t.Skip("no seven free consecutive ports found")
	})
}

func TestAdminEndpointRequiresToken(t *testing.T) {
	_, e := startSim(t)
	tok, err := e.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "wrong", tok + "x"} {
		if r := adminExec(t, e.AdminURL, bad, "Get-TransportConfig"); r.StatusCode != 401 {
			t.Errorf("token %q: status %d, want 401", bad, r.StatusCode)
		}
	}
	r := adminExec(t, e.AdminURL, tok, "Get-TransportConfig | fl SmtpClientAuthenticationDisabled", "Set-Nothing -Foo")
	if r.StatusCode != 200 || len(r.Results) != 2 {
		t.Fatalf("status %d results %+v", r.StatusCode, r.Results)
	}
	if r.Results[0].Error != "" || !bytes.Contains([]byte(r.Results[0].Output), []byte("SmtpClientAuthenticationDisabled : False")) {
		t.Errorf("Get-TransportConfig: %+v", r.Results[0])
	}
	if r.Results[1].Error == "" {
		t.Error("unknown cmdlet accepted")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := Start(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := s.Endpoints()
	// Sessions open on every protocol while Close runs.
	for _, addr := range []string{e.IMAP.TLS, e.POP.TLS} {
		w := dialWire(t, e, addr, true)
		w.line()
	}
	w := dialWire(t, e, e.SMTP.StartTLS, false)
	w.smtpReply()
	appToken(t, e)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirLocked: two emulators on one data dir would overwrite each
// other's endpoints.json, admin token and state.json, so the second is
// refused with a message naming the dir and the holder; after Close the dir
// is free again.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ep1, _ := os.ReadFile(filepath.Join(dir, EndpointsFile))
	s2, err := Start(context.Background(), Options{DataDir: dir})
	if err == nil {
		s2.Close()
		t.Fatal("second Start on the same data dir succeeded")
	}
	for _, want := range []string{dir, "in use by another emulator", fmt.Sprintf("pid %d", os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ep2, _ := os.ReadFile(filepath.Join(dir, EndpointsFile)); !bytes.Equal(ep1, ep2) {
		t.Error("the refused Start rewrote endpoints.json")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	s3.Close()
}
