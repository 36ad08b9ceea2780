package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/internal/testenv"
)

// tenantScreenshotFixture is one tenant read shaped like the emulator's
// demo tenant a few weeks before the Basic SMTP cut-off.
func tenantScreenshotFixture() []TenantView {
	read := time.Date(2026, 12, 3, 9, 58, 12, 0, time.UTC)
	f, tr := false, true
	user, def := "user", "organization default"
	block, allow := "Block Basic Auth", "Allow SMTP Basic"
	return []TenantView{{Audit: inspect.Audit{Tenant: "contoso", ReadAt: read,
		TransportConfig:  &snapshot.TransportConfig{SmtpClientAuthenticationDisabled: false},
		SecurityDefaults: &snapshot.SecurityDefaults{IsEnabled: false},
		AuthenticationPolicies: []inspect.AuditPolicy{
			{Name: block, IsDefault: true},
			{Name: allow, AllowBasicAuthSmtp: true},
		},
		Mailboxes: []inspect.AuditMailbox{
			{Address: "printer@contoso.com", SMTPAuth: &inspect.SMTPAuth{Enabled: true, Source: "organization"}, ImapEnabled: &tr, PopEnabled: &f, AuthenticationPolicy: &allow, PolicySource: user},
			{Address: "scanner@contoso.com", SMTPAuth: &inspect.SMTPAuth{Enabled: true, Source: "organization"}, ImapEnabled: &tr, PopEnabled: &tr, AuthenticationPolicy: &block, PolicySource: def, Covered: true},
		},
		ConditionalAccess: []inspect.AuditCA{{ID: "1", DisplayName: "Block legacy authentication", State: "enabledForReportingButNotEnforced",
			ClientAppTypes: []string{"exchangeActiveSync", "other"}, BuiltInControls: []string{"block"}}},
		Cutoff: inspect.AuditCutoff{Date: inspect.BasicSMTPCutoff, DaysLeft: 29, BasicSMTPUsers: []string{"printer@contoso.com", "scanner@contoso.com"}},
		BasicAuthSignIns: []inspect.AuditSignIns{
			{UserPrincipalName: "printer@contoso.com", ClientAppUsed: "Authenticated SMTP", IPAddress: "203.0.113.24", Protocol: "smtp", Successes: 412, LastSeen: read.Add(-7 * time.Minute)},
			{UserPrincipalName: "scanner@contoso.com", ClientAppUsed: "Authenticated SMTP", IPAddress: "203.0.113.31", Protocol: "smtp", Successes: 96, Failures: 2, Covered: true, LastSeen: read.Add(-42 * time.Minute)},
			{UserPrincipalName: "frontdesk@contoso.com", ClientAppUsed: "IMAP4", IPAddress: "198.51.100.9", Protocol: "imap", Failures: 18, LastSeen: read.Add(-3 * time.Hour)},
		},
		AppCredentials: []inspect.AuditCredential{
			{AppID: "3c9e7a51-2b4d-4e8f-a6c0-91d2e3f4b5a6", AppName: "exoprobe demo", Type: "secret", KeyID: "8d3f17c7", DisplayName: "probe secret",
				EndDateTime: read.Add(240 * time.Hour), DaysLeft: 10, Source: "application", Expiring: true},
			{AppID: "3c9e7a51-2b4d-4e8f-a6c0-91d2e3f4b5a6", AppName: "exoprobe demo", Type: "certificate", KeyID: "c1", DisplayName: "CN=exoprobe demo app",
				EndDateTime: read.Add(731 * 24 * time.Hour), DaysLeft: 731, Source: "application"},
			{AppID: "5a1d7c3e-8b2f-4e6a-9c0d-1e2f3a4b5c6d", AppName: "exoprobe tenant reader", Type: "secret", KeyID: "r1", DisplayName: "exoprobe tenant reads",
				EndDateTime: read.Add(365 * 24 * time.Hour), DaysLeft: 365, Source: "application"},
		},
		Problems: []string{}},
		Changes: []string{"2026-12-03 09:43:05Z Get-TransportConfig: SmtpClientAuthenticationDisabled True -> False",
			"2026-12-03 09:58:12Z Get-User printer@contoso.com: AuthenticationPolicy Block Basic Auth -> Allow SMTP Basic"}}}
}

// TestTenantSectionInChromium draws the status page's tenant section in a
// real headless Chromium: the section is there with what a person must
// see (the cut-off, the uncovered Basic device, the secret ending in 10
// days, the changes), it does not make the page scroll sideways, and
// EXOPROBE_SCREENSHOT_DIR keeps its picture (docs/status-tenant.png).
func TestTenantSectionInChromium(t *testing.T) {
	bin := testenv.Require(t, "chromium", "/usr/bin/chromium")
	views := tenantScreenshotFixture()
	srv := httptest.NewServer(newTestHandler(fixture(), Options{Refresh: -1, Tenants: func() []TenantView { return views }}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(bin), chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#tenant-contoso"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#tenant-contoso")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2026-12-31 (29 days left)", "printer@contoso.com", "203.0.113.24", "probe secret", "10",
		"SmtpClientAuthenticationDisabled True -> False", "Block Basic Auth"} {
		if !strings.Contains(text, want) {
			t.Errorf("tenant section lacks %q:\n%s", want, text)
		}
	}
	checkNoSideScroll(t, bctx, "tenant")
	// The uncovered device and the expiring secret are marked (red), not
	// only listed.
	marked, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tenant-contoso .breaks")].map(e => getComputedStyle(e).color)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) < 3 || marked[0] == "rgb(0, 0, 0)" {
		t.Errorf("marked cells: %v", marked)
	}
	// The mailbox table folds away; open it for the picture, and check it
	// shows the mailboxes' effective SMTP AUTH.
	mbx, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const d = document.querySelector("#tenant-contoso details"); d.open = true; return d.innerText })()`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mbx, "Mailboxes (2)") || !strings.Contains(mbx, "printer@contoso.com") || !strings.Contains(mbx, "Allow SMTP Basic (user)") {
		t.Errorf("mailbox table: %q", mbx)
	}
	// The viewport with the section at its top, as a person scrolling to
	// it sees it (an element screenshot relays the page out wider).
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(document.querySelector("#tenant-contoso").scrollIntoView(), true)`)); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, shot)
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 200 {
		t.Errorf("section drawn %dx%d", b.Dx(), b.Dy())
	}
	if dir := os.Getenv("EXOPROBE_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "status-tenant.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
