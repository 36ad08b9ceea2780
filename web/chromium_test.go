package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
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
// Chromium (Debian's package), reads the text a person would see, and
// checks in screenshots that the failing check's row is painted where the
// DOM puts it (badge, cause, remedy box) and that Japanese text is drawn
// with real glyphs, not empty boxes.
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

	run(srv.URL+"/", "#incidents")
	textEN := text("body")
	fixCmd := text(`article[data-key="smtp_auth_disabled_tenant/contoso.com"] pre.fix`)
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	checkPaintedRow(t, bctx)
	checkNoSideScroll(t, bctx, "English")
	run(srv.URL+"/?lang=ja", "#heading")
	headingJA := text("#heading")
	textJA := text("body")
	checkNoSideScroll(t, bctx, "Japanese")
	checkNotTofu(t, bctx, "#heading")

	for _, w := range []string{"smtp_auth_disabled_tenant", "SMTP AUTH is disabled for the organization",
		"SmtpClientAuthentication is disabled for the Tenant", "Recent events", "Basic authentication retirement readiness"} {
		if !strings.Contains(textEN, w) {
			t.Errorf("English page text lacks %q", w)
		}
	}
	// The failing mailbox's own exception (issue 8: never the whole
	// organization's switch).
	if !strings.Contains(fixCmd, "Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $False") {
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

// box is an element's bounding rectangle in CSS pixels, and the size of
// the viewport without its scrollbars, as the page sees them.
type box struct {
	X, Y, W, H float64
	VW, VH     float64
	DPR        float64 // screenshot pixels per CSS pixel
}

func rectOf(t *testing.T, ctx context.Context, sel string) box {
	t.Helper()
	q, _ := json.Marshal(sel)
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return null;
		const r = e.getBoundingClientRect();
		const v = document.documentElement;
		return {X: r.x, Y: r.y, W: r.width, H: r.height, VW: v.clientWidth, VH: v.clientHeight, DPR: devicePixelRatio}; })()`, q)
	b, err := chromedp.Run(ctx, chromedp.Evaluate[*box](js))
	if err != nil || b == nil {
		t.Fatalf("chromium: rectangle of %s: %v (missing element?)", sel, err)
	}
	return *b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	return img
}

// near: within a few levels per channel (anti-aliasing at the edges of a
// region, colour rounding).
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { return max(int(x>>8), int(y))-min(int(x>>8), int(y)) <= 3 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// share is the fraction of pixels of the region (CSS pixels, scaled to the
// screenshot) that are near want, and how many are dark (text ink).
func share(img image.Image, r box, scale float64, want color.RGBA) (frac float64, ink int) {
	x0, y0 := int(r.X*scale), int(r.Y*scale)
	x1, y1 := int((r.X+r.W)*scale), int((r.Y+r.H)*scale)
	n, hit := 0, 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c := img.At(x, y)
			n++
			if near(c, want) {
				hit++
			}
			rr, gg, bb, _ := c.RGBA()
			if (rr>>8)+(gg>>8)+(bb>>8) < 3*110 {
				ink++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(hit) / float64(n), ink
}

// checkPaintedRow scrolls the failing SMTP check into view, takes a
// screenshot of the viewport and looks, at the rectangles the DOM reports,
// for what the stylesheet paints there: the red "failing" badge, dark text
// in the cause cell, the remedy box's yellow with its text. A blank, black
// or unstyled screenshot, or an element pushed off screen or squashed to
// nothing, fails here.
func checkPaintedRow(t *testing.T, ctx context.Context) {
	t.Helper()
	const inc = `article[data-key="smtp_auth_disabled_tenant/contoso.com"]`
	const row = `tr[id="check-demo/smtp/basic"]`
	q, _ := json.Marshal(inc)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector(%s).scrollIntoView({block: "start"}); return true; })()`, q))); err != nil {
		t.Fatalf("chromium: scroll: %v", err)
	}
	badge, cause, remedy := rectOf(t, ctx, inc+` h3 .badge`), rectOf(t, ctx, inc+` h3`), rectOf(t, ctx, inc+` div.remedy`)
	summary := rectOf(t, ctx, inc+` div.remedy > p`)
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img := decodePNG(t, shot)
	scale := remedy.DPR
	for name, r := range map[string]box{"badge": badge, "incident heading": cause, "remedy box": remedy, "remedy summary": summary} {
		if r.W < 20 || r.H < 10 {
			t.Errorf("%s is %.0fx%.0f px", name, r.W, r.H)
		}
		// Wholly inside the viewport (to the pixel: layout is in
		// fractions): nothing cut off to the right or below.
		if r.X < -1 || r.Y < -1 || r.X+r.W > r.VW+1 || r.Y+r.H > r.VH+1 {
			t.Errorf("%s at %+v is not within the %.0fx%.0f viewport", name, r, r.VW, r.VH)
		}
	}
	if cause.W < 150 {
		t.Errorf("incident heading only %.0f px wide", cause.W)
	}
	if remedy.W < 250 {
		t.Errorf("remedy box only %.0f px wide", remedy.W)
	}
	// The since cell shows its date on one line and its time on at most
	// one more, not cut into digits.
	q, _ = json.Marshal(row + ` > td.tcol > span.meta`) // the since column
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelector(%s).getClientRects().length`, q))); err != nil || n < 1 || n > 2 {
		t.Errorf("since: the time takes %d lines (%v), want 1 or 2", n, err)
	}
	// The cause id is drawn on one line, never cut mid-word.
	q, _ = json.Marshal(inc + ` h3 code.cause`)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelector(%s).getClientRects().length`, q))); err != nil || n != 1 {
		t.Errorf("cause id takes %d lines (%v), want 1", n, err)
	}
	red := color.RGBA{0xcf, 0x22, 0x2e, 0xff}    // .st-failing
	yellow := color.RGBA{0xff, 0xf8, 0xc5, 0xff} // .remedy
	white := color.RGBA{0xff, 0xff, 0xff, 0xff}  // table cells
	if f, _ := share(img, badge, scale, red); f < 0.4 {
		t.Errorf("badge: %.0f%% of its pixels are the failing red", 100*f)
	}
	if f, ink := share(img, cause, scale, white); f < 0.5 || ink < 200 {
		t.Errorf("incident heading: %.0f%% white, %d dark pixels: want white with text", 100*f, ink)
	}
	if f, _ := share(img, remedy, scale, yellow); f < 0.5 {
		t.Errorf("remedy box: %.0f%% of its pixels are the remedy yellow", 100*f)
	}
	if f, ink := share(img, summary, scale, yellow); f < 0.5 || ink < 300 {
		t.Errorf("remedy summary: %.0f%% yellow, %d dark pixels: want dark text on the remedy yellow", 100*f, ink)
	}
	// The yellow is the remedy's own: the cause cell next to it has none.
	if f, _ := share(img, cause, scale, yellow); f > 0.01 {
		t.Errorf("incident heading is %.0f%% remedy yellow", 100*f)
	}
	if dir := os.Getenv("EXOPROBE_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "status-row.png"), shot, 0o644)
	}
}

// checkNoSideScroll: at 1280 px the tables fit; a column forced wide (a
// nowrap cell, a large min-width) shows as a horizontal scrollbar that
// hides the remedy column.
func checkNoSideScroll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
	if err != nil || len(w) != 2 {
		t.Fatalf("chromium: page width: %v", err)
	}
	if w[0] > w[1] {
		t.Errorf("%s page is %d px wide in a %d px viewport: it scrolls sideways", page, w[0], w[1])
	}
}

// checkNotTofu: without a font for the script, Chromium draws each
// character as the font's missing-glyph box, the same box whatever the
// character. So the CJK characters of the element at sel, drawn in its
// font, are compared with as many unassigned code points (which no font
// has) drawn the same way: identical pictures mean empty boxes. A second
// run of different unassigned code points must draw identically to the
// first, which shows the comparison would catch boxes.
func checkNotTofu(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	q, _ := json.Marshal(sel)
	js := fmt.Sprintf(`(() => {
		const src = document.querySelector(%s);
		const cjk = [...src.textContent].filter(c => /[\u3000-\u30ff\u4e00-\u9fff]/.test(c));
		const pick = (list) => cjk.map((_, i) => String.fromCodePoint(list[i %% list.length])).join("");
		const holder = document.createElement("div");
		holder.style.cssText = "position:fixed;left:0;top:0;z-index:2147483647;background:#fff;padding:4px";
		const add = (id, s) => {
			const e = document.createElement("div");
			e.id = id; e.textContent = s;
			e.style.cssText = "font-size:32px;line-height:40px;color:#000;background:#fff;width:max-content;white-space:nowrap";
			e.style.fontFamily = getComputedStyle(src).fontFamily;
			holder.appendChild(e);
		};
		add("tofu-text", cjk.join(""));
		add("tofu-ref1", pick([0x378, 0x379, 0x380]));
		add("tofu-ref2", pick([0x381, 0x382, 0x383, 0x38b]));
		document.body.appendChild(holder);
		return cjk.length;
	})()`, q)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("chromium: tofu probe: %v", err)
	}
	if n < 4 {
		t.Fatalf("%s has %d CJK characters: nothing to check", sel, n)
	}
	grab := func(id string) image.Image {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#"+id)))
		if err != nil {
			t.Fatalf("chromium: screenshot of #%s: %v", id, err)
		}
		return decodePNG(t, b)
	}
	text, ref1, ref2 := grab("tofu-text"), grab("tofu-ref1"), grab("tofu-ref2")
	if d := imageDiff(ref1, ref2); d != 0 {
		t.Fatalf("two runs of missing glyphs differ (%v): this Chromium does not draw one box for all, the check cannot work", d)
	}
	if d := imageDiff(text, ref1); d < 0.05 {
		t.Errorf("%s: its CJK characters look like missing-glyph boxes (%.1f%% of pixels differ): no CJK font? (Debian: fonts-noto-cjk)", sel, 100*d)
	}
}

// imageDiff is the fraction of pixels that differ; 1 when the sizes do.
func imageDiff(a, b image.Image) float64 {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 1
	}
	ab, bb := a.Bounds(), b.Bounds()
	n, diff := 0, 0
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			n++
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				diff++
			}
		}
	}
	return float64(diff) / float64(max(n, 1))
}
