package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Slack posts to a Slack incoming webhook: a top-level "text" (the
// notification's fallback, shown in push notifications) and Block Kit
// blocks. Slack answers a plain "ok" with status 200; anything else is an
// error such as invalid_payload (400), no_service (404) or
// channel_is_archived (410).
type Slack struct {
	Name   string
	URL    Secret
	Lang   string
	Client *http.Client
}

// Slack's documented limits: a header block's text at most 150
// characters, a section's text at most 3,000.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

// SlackPayload builds the message for one notification.
func SlackPayload(n *Notification, lang string) map[string]any {
	c := Render(n, lang)
	_, _, _, statusPage, _, _ := c.Words()
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": clipRunes(c.Title, slackHeaderMax), "emoji": true}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": slackClip(c.Markdown(), slackSectionMax)}},
	}
	if c.Link != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{
			{"type": "mrkdwn", "text": fmt.Sprintf("<%s|%s>", c.Link, statusPage)},
		}})
	}
	// The top-level text (push notifications, clients without blocks) is
	// mrkdwn too; the header is plain_text, where < and & are literal.
	return map[string]any{"text": slackEscape(c.Title), "blocks": blocks}
}

func (s *Slack) Notify(ctx context.Context, ns []Notification) (bool, error) {
	for i := range ns {
		body, err := json.Marshal(SlackPayload(&ns[i], s.Lang))
		if err != nil {
			return false, fmt.Errorf("%s: %w", s.Name, err)
		}
		_, resp, retry, err := post(ctx, s.Client, s.Name, s.URL, body, nil)
		if err != nil {
			return retry, err
		}
		if got := strings.TrimSpace(string(resp)); got != "ok" {
			return false, &DeliveryError{Reason: ReasonRejected, Status: 200,
				Msg: fmt.Sprintf("%s: Slack answered %q instead of ok", s.Name, clipRunes(scrub(got, s.URL), 100))}
		}
	}
	return false, nil
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
