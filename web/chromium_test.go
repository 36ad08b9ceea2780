package web

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// TestStatusPageInChromium loads the status page in a real headless
// Chromium (Debian's package), reads the text a person would see and checks
// the screenshot is a real picture.
func TestStatusPageInChromium(t *testing.T) {
	bin := testenv.Require(t, "chromium", "/usr/bin/chromium")
	srv := httptest.NewServer(newTestHandler(fixture(), Options{Refresh: -1}))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	run := func(url, sel string) string {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			t.Fatalf("chromium: load %s: %v", url, err)
		}
		return url
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("chromium: text of %s: %v", sel, err)
		}
		return s
	}

	run(srv.URL+"/", "#checks")
	textEN := text("body")
	fixCmd := text(`tr[id="check-demo/smtp/basic"] pre.fix`)
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	run(srv.URL+"/?lang=ja", "#heading")
	headingJA := text("#heading")
	textJA := text("body")

	for _, w := range []string{"smtp_auth_disabled_tenant", "SMTP AUTH is disabled for the organization",
		"SmtpClientAuthentication is disabled for the Tenant", "Recent events", "Basic authentication retirement readiness"} {
		if !strings.Contains(textEN, w) {
			t.Errorf("English page text lacks %q", w)
		}
	}
	if !strings.Contains(fixCmd, "Set-TransportConfig -SmtpClientAuthenticationDisabled $False") {
		t.Errorf("remedy fix command = %q", fixCmd)
	}
	if !strings.Contains(headingJA, "メールログイン監視") {
		t.Errorf("Japanese heading = %q", headingJA)
	}
	for _, w := range []string{"組織全体で SMTP AUTH が無効", "基本認証廃止への準備状況", "最近のイベント"} {
		if !strings.Contains(textJA, w) {
			t.Errorf("Japanese page text lacks %q", w)
		}
	}
	if strings.Contains(textEN+textJA, canary) {
		t.Error("a secret reached the rendered page")
	}

	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("screenshot is %dx%d", b.Dx(), b.Dy())
	}
	if n := colors(img, 64); n < 8 {
		t.Errorf("screenshot has %d distinct colours: blank page?", n)
	}
	if dir := os.Getenv("EXOPROBE_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "status-page.png"), shot, 0o644)
	}
}

// colors counts distinct colours (up to limit) on a grid of samples.
func colors(img image.Image, limit int) int {
	b := img.Bounds()
	seen := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}
