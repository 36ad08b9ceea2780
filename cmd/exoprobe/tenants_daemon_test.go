package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const tenantDaemonConfig = `defaults:
  interval: 2s
  timeout: 2s
  hosts: {imap: IMAP_ADDR, pop: POP_ADDR, smtp: SMTP_ADDR}
scheduler:
  no_confirm: true
oauth_apps:
  demo-app:
    tenant: TENANT
    authority: AUTHORITY
    client_id: CLIENT_ID
    client_secret_file: CLIENT_SECRET_FILE
    ca_file: CA_FILE
tenants:
  contoso:
    tenant_id: TENANT
    domains: [contoso.com]
    tenant_reads:
      client_id: READER_ID
      client_secret_file: READER_SECRET_FILE
      authority: AUTHORITY
      graph_url: GRAPH_URL
      exchange_url: EXCHANGE_URL
      ca_file: CA_FILE
      exchange_admin: true
      ttl: 2s
targets:
  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    oauth: demo-app
    checks:
      - {protocol: imap, mechanism: xoauth2}
`

func httpGetBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The daemon with tenant reads against the emulator: the cached settings
// make a generic refusal definitive, /api/v1/tenants and the status page
// show the audit, metrics carry credential expiry, and a setting changed
// between two reads is recorded before any probe fails because of it.
func TestRunDaemonTenantReads(t *testing.T) {
	t.Parallel()
	s, _ := startSim2023(t)
	ep := s.Endpoints()
	spID := ep.Apps[0].EnterpriseObjectID
	tenantSimExec(t, s, "Remove-MailboxPermission -Identity scanner@contoso.com -User "+spID+" -AccessRights FullAccess -Confirm:$false")
	body := strings.NewReplacer("READER_ID", ep.Reader.ClientID, "GRAPH_URL", ep.GraphURL+"/v1.0",
		"EXCHANGE_URL", ep.ExchangeAdminURL).Replace(tenantDaemonConfig)
	cfgPath, _ := configForSim(t, s, body)
	// The reader's secret in a file, as the config wants it.
	secretFile := writeFile(t, t.TempDir(), "reader-secret", ep.Reader.ClientSecret+"\n")
	cfgBody, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfgBody), "READER_SECRET_FILE", secretFile)), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(a string, _ *Runtime) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	base := "http://" + addr

	type tenantsDoc struct {
		Tenants []struct {
			Tenant    string    `json:"tenant"`
			ReadAt    time.Time `json:"read_at"`
			Problems  []string  `json:"problems"`
			Mailboxes []struct {
				Address string `json:"address"`
			} `json:"mailboxes"`
			Changes []struct {
				Setting, Detail string
			} `json:"setting_changes"`
		} `json:"tenants"`
	}
	var doc tenantsDoc
	waitFor(t, "the first tenant read", func() bool {
		_ = json.Unmarshal([]byte(httpGetBody(t, base+"/api/v1/tenants")), &doc)
		return len(doc.Tenants) == 1 && !doc.Tenants[0].ReadAt.IsZero()
	})
	if d := doc.Tenants[0]; d.Tenant != "contoso" || len(d.Problems) != 0 || len(d.Mailboxes) < 5 {
		t.Fatalf("tenant doc = %+v", d)
	}

	// The check's refusal is generic ("AUTHENTICATE failed."); the cached
	// Get-MailboxPermission makes it definitive.
	waitFor(t, "a definitive oauth_not_authorized", func() bool {
		st := httpGetBody(t, base+"/api/v1/status")
		return strings.Contains(st, `"oauth_not_authorized"`) && strings.Contains(st, `"definitive"`)
	})

	metrics := httpGetBody(t, base+"/metrics")
	for _, want := range []string{`exoprobe_tenant_security_defaults_enabled{tenant="contoso"} 0`,
		`exoprobe_app_credential_expiry_timestamp_seconds{app_id="` + ep.Demo.ClientID + `"`,
		`exoprobe_tenant_smtp_auth_disabled{tenant="contoso"} 0`, `exoprobe_tenant_basic_smtp_cutoff_timestamp_seconds`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	page := httpGetBody(t, base+"/")
	if !strings.Contains(page, `id="tenant-contoso"`) || !strings.Contains(page, "Basic sign-ins") {
		t.Errorf("status page has no tenant section")
	}

	// A setting flips: recorded at the next read, before any probe fails.
	tenantSimExec(t, s, "Set-TransportConfig -SmtpClientAuthenticationDisabled $true")
	waitFor(t, "the setting change", func() bool {
		_ = json.Unmarshal([]byte(httpGetBody(t, base+"/api/v1/tenants")), &doc)
		for _, c := range doc.Tenants[0].Changes {
			if c.Setting == "transport_config" && strings.Contains(c.Detail, "SmtpClientAuthenticationDisabled False -> True") {
				return true
			}
		}
		return false
	})
	if m := httpGetBody(t, base+"/metrics"); !strings.Contains(m, `exoprobe_tenant_setting_changes_total{setting="transport_config",tenant="contoso"} 1`) {
		t.Errorf("change counter missing")
	}
	for _, out := range []string{httpGetBody(t, base+"/api/v1/tenants"), httpGetBody(t, base+"/metrics"), httpGetBody(t, base+"/")} {
		if strings.Contains(out, ep.Reader.ClientSecret) {
			t.Fatal("the reader's secret is served")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon: %v", err)
	}
}

// check --config --tenant-reads uses the config's tenant_reads (the same
// reader the daemon builds).
func TestCheckConfigTenantReads(t *testing.T) {
	s, _ := startSim2023(t)
	ep := s.Endpoints()
	spID := ep.Apps[0].EnterpriseObjectID
	tenantSimExec(t, s, "Remove-MailboxPermission -Identity scanner@contoso.com -User "+spID+" -AccessRights FullAccess -Confirm:$false")
	body := strings.NewReplacer("READER_ID", ep.Reader.ClientID, "GRAPH_URL", ep.GraphURL+"/v1.0",
		"EXCHANGE_URL", ep.ExchangeAdminURL).Replace(tenantDaemonConfig)
	cfgPath, _ := configForSim(t, s, body)
	secretFile := writeFile(t, t.TempDir(), "reader-secret", ep.Reader.ClientSecret+"\n")
	cfgBody, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfgBody), "READER_SECRET_FILE", secretFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runCheck([]string{"--config", cfgPath, "--tenant-reads", "--output", "json"}, &out, &errb)
	if code != exitFail {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var docs []checkDoc
	if err := json.Unmarshal(out.Bytes(), &docs); err != nil || len(docs) != 1 || len(docs[0].Findings) != 1 {
		t.Fatalf("json %v: %s", err, out.String())
	}
	if f := docs[0].Findings[0]; f.Cause != "oauth_not_authorized" || f.Confidence != "definitive" {
		t.Fatalf("finding %s/%s: %s", f.Cause, f.Confidence, strings.Join(f.Evidence, "\n"))
	}
	if strings.Contains(out.String()+errb.String(), ep.Reader.ClientSecret) {
		t.Fatal("reader secret in output")
	}
	// Without tenant_reads in the file: a usage error, before any probe.
	plain := writeFile(t, t.TempDir(), "plain.yaml", "targets:\n  - name: a\n    user: a@contoso.com\n    password_env: X\n    checks: [{protocol: smtp, mechanism: basic}]\n")
	t.Setenv("X", "pw")
	errb.Reset()
	if code := runCheck([]string{"--config", plain, "--tenant-reads"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "tenant_reads") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
