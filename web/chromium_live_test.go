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
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/scheduler"
)

// TestStatusPageLiveInChromium is the scene in a real browser: 100
// healthy targets and three printers failing on a tenant-wide SMTP AUTH
// switch. The page opens on one incident naming the three printers with
// one remedy; each printer row draws its history; the healthy checks are
// grid cells; and a transcript the reader opened stays open while the page
// updates itself (the script swaps the content in place: the test checks
// that the old content really was replaced and the clock moved on).
func TestStatusPageLiveInChromium(t *testing.T) {
	bin := testenv.Require(t, "chromium", "/usr/bin/chromium")
	var tick atomic.Int64
	clock := func() time.Time { return now.Add(time.Duration(tick.Add(1)) * time.Second) }
	var probed atomic.Value
	srv := httptest.NewServer(newTestHandler(fleetSource(100, 3, 5*time.Minute, true), Options{Refresh: time.Second, Now: clock,
		ProbeNow: func(id scheduler.CheckID) (bool, error) { probed.Store(string(id)); return true, nil }}))
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
		chromedp.WindowSize(1280, 1000),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	eval := func(js string, out any) {
		t.Helper()
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("chromium: %s: %v", js, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("chromium: %s: %v", js, err)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#incidents article.incident`))); err != nil {
		t.Fatalf("chromium: load: %v", err)
	}

	// One incident, naming the three printers, one remedy on the page.
	var incidents, remedies, cells, strips int
	var named string
	eval(`document.querySelectorAll("#incidents article.incident").length`, &incidents)
	eval(`document.querySelectorAll("div.remedy").length`, &remedies)
	eval(`document.querySelectorAll("#grid a.cell.st-ok").length`, &cells)
	eval(`document.querySelectorAll('tr[id="check-printer-1/smtp/basic"] svg.strip rect').length`, &strips)
	eval(`[...document.querySelectorAll("#incidents .itarget")].map(e => e.textContent).join(",")`, &named)
	if incidents != 1 || remedies != 1 {
		t.Errorf("%d incidents and %d remedies on the page, want 1 and 1", incidents, remedies)
	}
	if named != "printer-1,printer-2,printer-3" {
		t.Errorf("the incident names %q", named)
	}
	if cells != 100 {
		t.Errorf("%d healthy cells, want 100", cells)
	}
	if strips < 2 {
		t.Errorf("printer-1's history strip has %d runs: not drawn", strips)
	}
	var stripBox, gridBox box
	stripBox = rectOf(t, bctx, `tr[id="check-printer-1/smtp/basic"] svg.strip`)
	gridBox = rectOf(t, bctx, `#grid .cells`)
	if stripBox.W < 200 || stripBox.H < 10 {
		t.Errorf("history strip drawn %.0fx%.0f px", stripBox.W, stripBox.H)
	}
	if gridBox.H > 120 {
		t.Errorf("100 healthy checks take %.0f px of height; want a compact grid", gridBox.H)
	}
	// The incident is the first thing below the header.
	incBox := rectOf(t, bctx, `#incidents article.incident`)
	if incBox.Y > 400 {
		t.Errorf("the incident starts %.0f px down the page", incBox.Y)
	}
	shot1, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}

	// Open printer-2's transcript, mark the current content, wait for the
	// script to replace it.
	const tr = `details[id="tr-printer-2/smtp/basic"]`
	var before string
	eval(`document.getElementById("updated").textContent`, &before)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(tr+` > summary`))); err != nil {
		t.Fatalf("open transcript: %v", err)
	}
	var opened bool
	eval(fmt.Sprintf(`document.querySelector(%q).open`, tr), &opened)
	if !opened {
		t.Fatal("the transcript did not open on click")
	}
	eval(`(() => { document.getElementById("live").dataset.old = "1"; return true; })()`, new(bool))
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("live").dataset.old === undefined`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the page was not updated in place within 15 s (live.js blocked or broken?): %v", err)
	}
	var after string
	var still bool
	eval(`document.getElementById("updated").textContent`, &after)
	eval(fmt.Sprintf(`document.querySelector(%q).open`, tr), &still)
	if after == before {
		t.Errorf("updated time %q did not change across the update", after)
	}
	if !still {
		t.Error("the opened transcript closed when the page updated")
	}
	pre := rectOf(t, bctx, tr+` pre`)
	if pre.H < 40 {
		t.Errorf("the transcript is %.0f px tall after the update: not shown", pre.H)
	}
	var text string
	eval(fmt.Sprintf(`document.querySelector(%q).innerText`, tr+` pre`), &text)
	if !strings.Contains(text, "535 5.7.139") {
		t.Errorf("transcript text after the update: %q", text)
	}
	q := fmt.Sprintf(`(() => { document.querySelector(%q).scrollIntoView({block: "center"}); return true; })()`, tr)
	eval(q, new(bool))
	shot2, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("EXOPROBE_SCREENSHOT_DIR"); dir != "" {
		writeSmallPNG(t, filepath.Join(dir, "status-incident.png"), shot1)
		writeSmallPNG(t, filepath.Join(dir, "status-live-transcript.png"), shot2)
	}
	if n := colors(decodePNG(t, shot1), 64); n < 8 {
		t.Errorf("screenshot has %d colours: blank?", n)
	}

	// An action from the page: the button posts JSON through live.js
	// (same origin, allowed by the CSP) and the handler receives it.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`button[data-action="probe"][data-check="printer-3/smtp/basic"]`))); err != nil {
		t.Fatalf("click probe now: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`!!document.querySelector('button.act.done')`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the probe-now button never reported success: %v", err)
	}
	if got, _ := probed.Load().(string); got != "printer-3/smtp/basic" {
		t.Errorf("probe now reached the server for %q", got)
	}

	// The Japanese page, for a look at its layout.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/?lang=ja"), chromedp.WaitVisible(chromedp.CSS(`#incidents article.incident`))); err != nil {
		t.Fatalf("chromium: load ja: %v", err)
	}
	var ja string
	eval(`document.querySelector("#incidents").innerText`, &ja)
	for _, w := range []string{"発生中のインシデント", "組織全体で SMTP AUTH が無効", "printer-1", "可用性"} {
		if !strings.Contains(ja, w) {
			t.Errorf("Japanese incidents lack %q", w)
		}
	}
	if dir := os.Getenv("EXOPROBE_SCREENSHOT_DIR"); dir != "" {
		shot3, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		writeSmallPNG(t, filepath.Join(dir, "status-incident-ja.png"), shot3)
	}
	checkNotTofu(t, bctx, "#incidents h2")
}

// writeSmallPNG writes a screenshot as a paletted PNG of its 256 most
// frequent colours (a status page has few: backgrounds, badges, text and
// their anti-aliasing), a third the size of the full-colour one, for the
// screenshots committed under docs/.
func writeSmallPNG(t *testing.T, path string, shot []byte) {
	t.Helper()
	img := decodePNG(t, shot)
	b := img.Bounds()
	count := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			count[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	cols := make([]color.RGBA, 0, len(count))
	for c := range count {
		cols = append(cols, c)
	}
	sort.Slice(cols, func(i, j int) bool { return count[cols[i]] > count[cols[j]] })
	pal := make(color.Palette, 0, 256)
	for _, c := range cols[:min(256, len(cols))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(b, pal)
	cache := map[color.RGBA]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := cache[c]
			if !ok {
				i = uint8(pal.Index(c))
				cache[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
