package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WebhookVersion is the version of the generic webhook's JSON schema. It
// changes only when a field is removed or changes meaning; new fields may
// appear at any time.
const WebhookVersion = "1"

// WebhookPayload is the body of the generic webhook: one POST per
// notification, Content-Type application/json.
//
// Headers:
//
//	Idempotency-Key: <id>   the same for every retry of one notification
//	X-Exoprobe-Signature: sha256=<hex HMAC-SHA256 of the body>   when a secret is configured
//
// Fields (schema version "1"; README.md "Webhook payload" documents the
// same for receivers' authors):
//
//	version      "1"
//	id           notification id (also the Idempotency-Key)
//	sink         the sink's name
//	group_key    "<problem>/<scope>", stable while the problem lasts
//	kind         regressed | cause_changed | unexpectedly_ok | recovered | test
//	status       firing | resolved
//	repeat       true for reminders of a group still firing
//	problem      the cause id, or "unexpectedly_ok" for posture alerts
//	scope        tenant domain (or target name)
//	severity     critical (security posture) | error | info
//	title, text  human text in the sink's language (lang)
//	starts_at, ends_at (resolved only), time   RFC 3339
//	status_url   the status page
//	firing[], resolved[]   checks (always arrays, [] when none): check_id,
//	             target, user, labels, protocol, mechanism, expect, kind,
//	             cause, prev_cause, since, reply, confidence, new,
//	             resolved_at, now_cause
//	remedy       {summary, inspect[], fix[], steps[], caveats[], links[]}
//	             (firing only; summary says what to do; lists are [] when empty)
type WebhookPayload struct {
	Version string `json:"version"`
	Notification
	Lang     string         `json:"lang"`
	Severity string         `json:"severity"`
	Title    string         `json:"title"`
	Text     string         `json:"text"`
	Remedy   *WebhookRemedy `json:"remedy,omitempty"`
}

// WebhookRemedy is the remedy of a firing notification's problem, from
// package diagnose. Every list is present, [] when empty, never null.
type WebhookRemedy struct {
	// Summary is what to do, in a sentence or two (the notification's
	// own summary, what happened, is in text and title).
	Summary string   `json:"summary"`
	Inspect []string `json:"inspect"`
	Fix     []string `json:"fix"`
	Steps   []string `json:"steps"`
	Caveats []string `json:"caveats"`
	Links   []string `json:"links"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Webhook posts WebhookPayload to a URL.
type Webhook struct {
	Name string
	URL  Secret
	// HMACKey signs the body (X-Exoprobe-Signature) when set.
	HMACKey Secret
	Lang    string
	Client  *http.Client
}

// SignatureHeader carries the body's HMAC-SHA256.
const SignatureHeader = "X-Exoprobe-Signature"

// Sign returns the signature header's value for a body.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a received body against the header's value, in
// constant time; receivers in Go can use it as is.
func VerifySignature(key, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(header))
}

// Payload builds the body for one notification.
func (w *Webhook) Payload(n *Notification) WebhookPayload {
	c := Render(n, w.Lang)
	p := WebhookPayload{Version: WebhookVersion, Notification: *n, Lang: c.Lang, Severity: c.Severity,
		Title: c.Title, Text: c.Text()}
	if p.Firing == nil {
		p.Firing = []Member{}
	}
	if p.Resolved == nil {
		p.Resolved = []Member{}
	}
	if n.Status == StatusFiring {
		p.Remedy = &WebhookRemedy{Summary: c.Remedy, Inspect: nonNil(c.Inspect), Fix: nonNil(c.Fix),
			Steps: nonNil(c.Steps), Caveats: nonNil(c.Caveats), Links: nonNil(c.Links)}
	}
	return p
}

func (w *Webhook) Notify(ctx context.Context, ns []Notification) (bool, error) {
	for i := range ns {
		body, err := json.Marshal(w.Payload(&ns[i]))
		if err != nil {
			return false, fmt.Errorf("%s: %w", w.Name, err)
		}
		h := map[string]string{"Idempotency-Key": ns[i].ID}
		if w.HMACKey.IsSet() {
			h[SignatureHeader] = Sign([]byte(w.HMACKey.Value()), body)
		}
		_, _, retry, err := post(ctx, w.Client, w.Name, w.URL, body, h, w.HMACKey)
		if err != nil {
			return retry, err
		}
	}
	return false, nil
}

// post sends a JSON body and classifies the answer: 2xx is success, 408,
// 429 and 5xx are worth retrying, other 4xx are not. Errors never carry the
// URL (it is often the credential) nor any of the secrets.
func post(ctx context.Context, client *http.Client, sink string, u Secret, body []byte, headers map[string]string,
	secrets ...Secret) (status int, resp []byte, retry bool, err error) {
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Value(), bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL: say only that it is bad.
		return 0, nil, false, &DeliveryError{Reason: ReasonOther, Msg: sink + ": invalid URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "exoprobe-alerts")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, true, transportError(sink, err, append(secrets, u)...)
	}
	defer res.Body.Close()
	resp, over := readAnswer(res.Body)
	if over && res.StatusCode/100 == 2 {
		// The receiver may have taken the notification, but its answer
		// (which Slack and PagerDuty use to say so) broke the limit:
		// report it, and do not send it again.
		return res.StatusCode, nil, false, &DeliveryError{Reason: ReasonRejected, Status: res.StatusCode,
			Msg: fmt.Sprintf("%s: HTTP %d, but the answer is larger than the %d KiB a receiver may send (MaxAnswerBytes); the rest was not read", sink, res.StatusCode, MaxAnswerBytes>>10)}
	}
	if res.StatusCode/100 == 2 {
		return res.StatusCode, resp, false, nil
	}
	// Scrub before clipping: a cut could leave half a token that no
	// longer matches the secret.
	snippet := clipRunes(scrub(strings.TrimSpace(string(resp)), append(secrets, u)...), 200)
	msg := fmt.Sprintf("%s: HTTP %d %s", sink, res.StatusCode, snippet)
	if over {
		msg += fmt.Sprintf(" (answer cut at the %d KiB limit, MaxAnswerBytes)", MaxAnswerBytes>>10)
	}
	switch {
	case res.StatusCode >= 500:
		return res.StatusCode, resp, true, &DeliveryError{Reason: ReasonHTTP5xx, Status: res.StatusCode, Msg: msg}
	case res.StatusCode < 400:
		return res.StatusCode, resp, false, &DeliveryError{Reason: ReasonOther, Status: res.StatusCode,
			Msg: msg + " (redirects are not followed)"}
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout:
		return res.StatusCode, resp, true, &DeliveryError{Reason: ReasonHTTP4xx, Status: res.StatusCode, Msg: msg}
	default:
		return res.StatusCode, resp, false, &DeliveryError{Reason: ReasonHTTP4xx, Status: res.StatusCode, Msg: msg}
	}
}

// MaxAnswerBytes bounds what one alert receiver's answer may cost: a
// webhook, Slack, Teams, PagerDuty or Alertmanager answer is a few bytes to
// a few KiB, so an answer past this (an endless body from a broken or
// hostile endpoint) is read no further and named in the delivery error.
// The send's own deadline bounds a body that trickles.
const MaxAnswerBytes = 64 << 10

// readAnswer reads at most MaxAnswerBytes of body and says whether there
// was more. A read error (the deadline, a cut connection) ends it with
// what came so far: the status line already said what happened.
func readAnswer(body io.Reader) (b []byte, over bool) {
	b, _ = io.ReadAll(io.LimitReader(body, MaxAnswerBytes+1))
	if len(b) > MaxAnswerBytes {
		return b[:MaxAnswerBytes], true
	}
	return b, false
}

// defaultClient: no redirects followed (a redirect could carry the body,
// and the URL's token, somewhere unexpected); per-try timeouts come from
// the worker's context.
var defaultClient = &http.Client{
	Timeout: 60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}
