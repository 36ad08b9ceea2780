package alerting

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/internal/amtest"
	"github.com/exoprobe/exoprobe/internal/daemontest"
	"github.com/exoprobe/exoprobe/sim"
)

// Timing of the daemon under test, compressed. groupWait covers the spread
// of the two SMTP checks' phases over the interval plus the confirm
// re-probe, so that both land in one group: one notification per sink.
const (
	interval     = 2 * time.Second
	confirmDelay = time.Second
	groupWait    = 5 * time.Second
	// deadline for an alert to reach every receiver after the tenant
	// changed: interval + confirm + group wait, and slack for a loaded
	// two-core machine.
	alertDeadline = interval + confirmDelay + groupWait + 8*time.Second

	problem = "smtp_auth_disabled_tenant"
)

// TestAlertsAcrossKill9 is issue 5's "done when" with real processes: SMTP
// AUTH switched off for the tenant gives each receiver (webhook, Slack
// stand-in, real Alertmanager) exactly one grouped alert; the daemon is
// killed -9 after it was delivered; after a restart the tenant is fixed and
// each receiver gets exactly one resolve — the webhook's only after a
// second kill -9 while the resolve was still waiting in the outbox (the
// receiver answered 503 until then). Nothing is delivered twice.
func TestAlertsAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the daemon three times (~40 s)")
	}
	am := amtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	bin := daemontest.BuildBinary(t, dir)

	s, err := sim.Start(ctx, sim.Options{DataDir: filepath.Join(dir, "sim")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ep := s.Endpoints()
	if ep.Demo == nil {
		t.Fatal("the emulator has no demo tenant")
	}
	run := func(line string) {
		t.Helper()
		if _, err := s.Exec(ctx, line); err != nil {
			t.Fatalf("PS> %s: %v", line, err)
		}
	}
	domain := ep.Demo.User[strings.LastIndexByte(ep.Demo.User, '@')+1:]

	hook := &webhookRx{}
	hookSrv := httptest.NewUnstartedServer(hook)
	hookSrv.Config.ConnContext = hook.connContext
	hookSrv.Start()
	t.Cleanup(hookSrv.Close)
	slack := &slackRx{}
	slackSrv := httptest.NewServer(slack)
	t.Cleanup(slackSrv.Close)
	amp := newAMProxy(t, am.URL)
	ampSrv := httptest.NewServer(amp)
	t.Cleanup(ampSrv.Close)

	cfgPath := writeConfig(t, dir, ep, hookSrv.URL, slackSrv.URL, ampSrv.URL)
	dataDir := filepath.Join(dir, "data")
	incarnation := 0
	start := func() *daemontest.Daemon {
		t.Helper()
		incarnation++
		d := daemontest.Start(t, bin, cfgPath, dataDir, filepath.Join(dir, fmt.Sprintf("daemon-%d.log", incarnation)))
		t.Logf("daemon #%d: pid %d, %s", incarnation, d.Cmd.Process.Pid, d.Addr)
		return d
	}
	sinks := []string{"hook", "slack", "am"}

	// 1. SMTP AUTH off for the tenant: both SMTP checks (Basic and XOAUTH2)
	// regress with the tenant-wide cause; one group, one alert per sink.
	d := start()
	at := time.Now()
	run("Set-TransportConfig -SmtpClientAuthenticationDisabled $True")
	daemontest.WaitUntil(t, at.Add(alertDeadline), "one alert at every receiver", func() (bool, string) {
		active := activeCauses(am.Alerts(t))
		ok := hook.acceptedCount() == 1 && slack.count() == 1 && amp.posts(alerts.StatusFiring) == 1 &&
			active[problem] == 2
		return ok, fmt.Sprintf("webhook %d, slack %d, alertmanager posts %d, active in alertmanager %v",
			hook.acceptedCount(), slack.count(), amp.posts(alerts.StatusFiring), active)
	})
	t.Logf("alert at every receiver %v after the change", time.Since(at).Round(10*time.Millisecond))
	first := hook.accepted()[0]
	if first.Status != alerts.StatusFiring || first.Problem != problem || first.Scope != domain || len(first.Firing) != 2 {
		t.Fatalf("webhook alert: status %s problem %s scope %s with %d firing checks; want firing %s for %s with 2 (smtp basic + xoauth2)",
			first.Status, first.Problem, first.Scope, len(first.Firing), problem, domain)
	}
	// kill -9 once the deliveries are committed (removed from the outbox):
	// the alert is delivered, the recovery has not happened.
	waitOutbox(t, d, map[string]int{"hook": 1, "slack": 1, "am": 1}, sinks)
	d.Kill9(t)

	// 2. Restart on the same data dir; the webhook receiver now fails
	// (503); the tenant is fixed. Slack and Alertmanager get the resolve;
	// the webhook's waits in the outbox, and the daemon is killed -9 again.
	d = start()
	hook.setFailing(true)
	at = time.Now()
	run("Set-TransportConfig -SmtpClientAuthenticationDisabled $False")
	daemontest.WaitUntil(t, at.Add(alertDeadline), "the resolve at Slack and Alertmanager, the webhook refusing it", func() (bool, string) {
		active := activeCauses(am.Alerts(t))
		ok := slack.count() == 2 && amp.posts(alerts.StatusResolved) == 1 && active[problem] == 0 &&
			hook.refused(alerts.StatusResolved) > 0
		return ok, fmt.Sprintf("slack %d, alertmanager resolve posts %d, active %v, webhook refused %d resolves",
			slack.count(), amp.posts(alerts.StatusResolved), active, hook.refused(alerts.StatusResolved))
	})
	waitOutbox(t, d, map[string]int{"slack": 1, "am": 1}, []string{"slack", "am"})
	if depth := metric(t, d, `exoprobe_alert_outbox_depth{sink="hook"}`); depth != 1 {
		t.Fatalf("the webhook's outbox holds %v notifications while the receiver refuses, want 1", depth)
	}
	d.Kill9(t)

	// 3. The receiver is back; the restarted daemon delivers the resolve
	// from the outbox, once.
	hook.setFailing(false)
	d = start()
	daemontest.WaitUntil(t, time.Now().Add(alertDeadline), "the pending resolve at the webhook", func() (bool, string) {
		return hook.acceptedCount() == 2, fmt.Sprintf("webhook accepted %d", hook.acceptedCount())
	})
	waitOutbox(t, d, map[string]int{"hook": 1}, sinks)
	d.Term(t)

	// 4. Exactly one alert and one resolve everywhere.
	got := hook.accepted()
	if len(got) != 2 || got[0].Status != alerts.StatusFiring || got[1].Status != alerts.StatusResolved ||
		got[1].Problem != problem || len(got[1].Resolved) != 2 || got[1].GroupKey != got[0].GroupKey {
		t.Errorf("webhook received %s; want one firing then one resolved %s with 2 checks, same group", summary(got), problem)
	}
	if dup := hook.duplicates(); len(dup) > 0 {
		t.Errorf("webhook: idempotency keys accepted more than once: %v", dup)
	}
	if k := hook.refusedKeys(); len(k) != 1 || k[0] != got[len(got)-1].ID {
		t.Errorf("webhook: refused keys %v; want only the resolve's %s, retried under the same key", k, got[len(got)-1].ID)
	}
	if msgs := slack.messages(); len(msgs) != 2 || msgs[0] == msgs[1] {
		t.Errorf("Slack received %d messages %q; want one alert and one resolve", len(msgs), msgs)
	}
	if f, r := amp.posts(alerts.StatusFiring), amp.posts(alerts.StatusResolved); f != 1 || r != 1 {
		t.Errorf("Alertmanager received %d firing and %d resolving posts; want 1 and 1", f, r)
	}
	if active := activeCauses(am.Alerts(t)); len(active) != 0 {
		t.Errorf("Alertmanager still holds alerts: %v", active)
	}
	for _, e := range append(slack.errors(), amp.errors()...) {
		t.Error(e)
	}
}

func writeConfig(t *testing.T, dir string, ep sim.Endpoints, hookURL, slackURL, amURL string) string {
	t.Helper()
	pw, secret, slackFile := filepath.Join(dir, "password"), filepath.Join(dir, "client-secret"), filepath.Join(dir, "slack-url")
	for p, v := range map[string]string{pw: ep.Demo.Password, secret: ep.Demo.ClientSecret, slackFile: slackURL} {
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`defaults:
  interval: %s
  timeout: %s
  hosts: {imap: %q, pop: %q, smtp: %q}
scheduler:
  confirm_delay: %s
alerts:
  group_wait: %s
  group_interval: 1s
  repeat_interval: 1h
  sinks:
    - {name: hook, type: webhook, url: %q}
    - {name: slack, type: slack, url_file: %q}
    - {name: am, type: alertmanager, url: %q, labels: {team: mail}}
oauth_apps:
  demo:
    tenant: %q
    authority: %q
    client_id: %q
    client_secret_file: %q
    ca_file: %q
    scopes: [%q]
targets:
  - name: mail
    user: %q
    ca_file: %q
    password_file: %q
    oauth: demo
    checks:
      - {protocol: smtp, mechanism: basic}
      - {protocol: smtp, mechanism: xoauth2}
`, interval, interval, ep.IMAP.TLS, ep.POP.TLS, ep.SMTP.StartTLS, confirmDelay, groupWait,
		hookURL, slackFile, amURL,
		ep.Demo.Tenant, ep.Authority, ep.Demo.ClientID, secret, ep.CAFile, ep.Demo.Scope,
		ep.Demo.User, ep.CAFile, pw)
	path := filepath.Join(dir, "exoprobe.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitOutbox waits until each sink's accepted notifications are counted as
// sent (exoprobe_alerts_sent_total counts after the outbox row is deleted)
// and the listed sinks' outboxes are empty.
func waitOutbox(t *testing.T, d *daemontest.Daemon, sent map[string]int, empty []string) {
	t.Helper()
	daemontest.WaitUntil(t, time.Now().Add(10*time.Second), "the outbox committed", func() (bool, string) {
		ms := metrics(t, d)
		for sink, n := range sent {
			var total float64
			for k, v := range ms {
				if strings.HasPrefix(k, "exoprobe_alerts_sent_total{") && strings.Contains(k, `sink="`+sink+`"`) {
					total += v
				}
			}
			if total < float64(n) {
				return false, fmt.Sprintf("%s: sent %v", sink, total)
			}
		}
		for _, sink := range empty {
			if v, ok := ms[`exoprobe_alert_outbox_depth{sink="`+sink+`"}`]; !ok || v != 0 {
				return false, fmt.Sprintf("%s: outbox depth %v (present %v)", sink, v, ok)
			}
		}
		return true, ""
	})
}

var sampleRE = regexp.MustCompile(`^(exoprobe_\S+) (\S+)$`)

func metrics(t *testing.T, d *daemontest.Daemon) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := sampleRE.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}

func metric(t *testing.T, d *daemontest.Daemon, name string) float64 {
	t.Helper()
	v, ok := metrics(t, d)[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// activeCauses counts Alertmanager's alerts that have not ended, by cause.
func activeCauses(as []amtest.Alert) map[string]int {
	out := map[string]int{}
	now := time.Now()
	for _, a := range as {
		if a.EndsAt.IsZero() || a.EndsAt.After(now) {
			out[a.Labels["cause"]]++
		}
	}
	return out
}

func summary(ps []alerts.WebhookPayload) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s %s (%d firing, %d resolved)", p.Status, p.Problem, len(p.Firing), len(p.Resolved)))
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// webhookRx is the generic webhook's receiver: it accepts (or, while
// failing, refuses with 503) and counts by idempotency key.
type webhookRx struct {
	mu       sync.Mutex
	failing  bool
	got      []alerts.WebhookPayload
	keys     map[string]int
	refusals map[string]alerts.Status
}

type openedFailingKey struct{}

// connContext marks connections opened while the receiver was failing: a
// request the killed daemon had sent, still in the server's hands when the
// receiver comes back, must not count as accepted (it is refused like every
// request of that time); the restarted daemon opens new connections.
func (h *webhookRx) connContext(ctx context.Context, _ net.Conn) context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return context.WithValue(ctx, openedFailingKey{}, h.failing)
}

func (h *webhookRx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p alerts.WebhookPayload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	h.mu.Lock()
	defer h.mu.Unlock()
	if key == "" || key != p.ID {
		http.Error(w, "Idempotency-Key must be the notification id", http.StatusBadRequest)
		return
	}
	if old, _ := r.Context().Value(openedFailingKey{}).(bool); h.failing || old {
		if h.refusals == nil {
			h.refusals = map[string]alerts.Status{}
		}
		h.refusals[key] = p.Status
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if h.keys == nil {
		h.keys = map[string]int{}
	}
	h.keys[key]++
	h.got = append(h.got, p)
}

func (h *webhookRx) setFailing(v bool) {
	h.mu.Lock()
	h.failing = v
	h.mu.Unlock()
}

func (h *webhookRx) accepted() []alerts.WebhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func (h *webhookRx) acceptedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *webhookRx) refused(st alerts.Status) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.refusals {
		if s == st {
			n++
		}
	}
	return n
}

func (h *webhookRx) refusedKeys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ks []string
	for k := range h.refusals {
		ks = append(ks, k)
	}
	return ks
}

func (h *webhookRx) duplicates() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := map[string]int{}
	for k, n := range h.keys {
		if n > 1 {
			d[k] = n
		}
	}
	return d
}

// slackRx stands in for a Slack incoming webhook: it checks the payload's
// documented shape (a top-level text, Block Kit blocks starting with a
// plain_text header) and answers "ok" as Slack does.
type slackRx struct {
	mu   sync.Mutex
	msgs []string
	errs []string
}

func (s *slackRx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	body, _ := io.ReadAll(r.Body)
	err := json.Unmarshal(body, &p)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		err = fmt.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	case err != nil:
	case p.Text == "" || len(p.Blocks) < 2:
		err = fmt.Errorf("text %q with %d blocks", p.Text, len(p.Blocks))
	case p.Blocks[0].Type != "header" || p.Blocks[0].Text == nil || p.Blocks[0].Text.Type != "plain_text" ||
		p.Blocks[0].Text.Text == "" || len([]rune(p.Blocks[0].Text.Text)) > 150:
		err = fmt.Errorf("first block is not a plain_text header of at most 150 characters: %s", body)
	case p.Blocks[1].Type != "section" || p.Blocks[1].Text == nil || p.Blocks[1].Text.Type != "mrkdwn":
		err = fmt.Errorf("second block is not an mrkdwn section: %s", body)
	}
	if err != nil {
		s.errs = append(s.errs, "Slack payload: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "invalid_payload")
		return
	}
	s.msgs = append(s.msgs, p.Text)
	io.WriteString(w, "ok")
}

func (s *slackRx) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *slackRx) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *slackRx) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// amProxy sits in front of the real Alertmanager and counts the daemon's
// posts: firing (endsAt ahead) or resolving (endsAt past). Alertmanager
// merges repeated posts itself, so only a count shows a duplicate.
type amProxy struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	n     map[alerts.Status]int
	// byCause counts the same posts by their first alert's cause label.
	byCause map[string]map[alerts.Status]int
	errs    []string
}

func newAMProxy(t *testing.T, target string) *amProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return &amProxy{proxy: httputil.NewSingleHostReverseProxy(u), n: map[alerts.Status]int{},
		byCause: map[string]map[alerts.Status]int{}}
}

func (p *amProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var as []alerts.AMAlert
		p.mu.Lock()
		if err := json.Unmarshal(body, &as); err != nil || len(as) == 0 {
			p.errs = append(p.errs, fmt.Sprintf("Alertmanager post: %d alerts, %v", len(as), err))
		} else {
			st := alerts.StatusFiring
			if !as[0].EndsAt.After(time.Now()) {
				st = alerts.StatusResolved
			}
			p.n[st]++
			c := as[0].Labels["cause"]
			if p.byCause[c] == nil {
				p.byCause[c] = map[alerts.Status]int{}
			}
			p.byCause[c][st]++
		}
		p.mu.Unlock()
	}
	p.proxy.ServeHTTP(w, r)
}

func (p *amProxy) posts(st alerts.Status) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[st]
}

// postsFor counts the posts of one cause.
func (p *amProxy) postsFor(cause string, st alerts.Status) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byCause[cause][st]
}

func (p *amProxy) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}
