package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Teams posts an Adaptive Card to a Microsoft Teams Workflows webhook (the
// "When a Teams webhook request is received" trigger). The retired Office
// 365 connector MessageCard format is not supported. Workflows answers 202
// Accepted.
type Teams struct {
	Name   string
	URL    Secret
	Lang   string
	Client *http.Client
}

// AdaptiveCardContentType is the attachment type Workflows expects.
const AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// TeamsPayload builds the message for one notification: a "message" with
// one Adaptive Card attachment (schema version 1.4, which Teams renders).
func TeamsPayload(n *Notification, lang string) map[string]any {
	c := Render(n, lang)
	inspect, fix, caveats, statusPage, server, checks := c.Words()
	color := "Attention"
	switch c.Severity {
	case "info":
		color = "Good"
	case "critical":
		color = "Attention"
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": c.Title, "size": "Large", "weight": "Bolder", "wrap": true, "color": color,
			"style": "heading"},
		{"type": "TextBlock", "text": c.Summary, "wrap": true},
	}
	var facts []map[string]string
	for _, f := range c.Facts {
		facts = append(facts, map[string]string{"title": f.Name, "value": f.Value})
	}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	section := func(heading string, lines []string, mono bool) {
		if len(lines) == 0 {
			return
		}
		body = append(body, map[string]any{"type": "TextBlock", "text": heading, "weight": "Bolder", "wrap": true,
			"spacing": "Medium"})
		tb := map[string]any{"type": "TextBlock", "text": strings.Join(lines, "\n\n"), "wrap": true}
		if mono {
			tb["fontType"] = "Monospace"
		}
		body = append(body, tb)
	}
	// Check lines (target names) and the server's reply are not ours:
	// a TextBlock renders markdown, so "[Fix it here](https://evil)" in a
	// reply would become a link. A RichTextBlock's TextRuns are plain text.
	plain := func(heading string, lines []string, mono bool) {
		if len(lines) == 0 {
			return
		}
		body = append(body, map[string]any{"type": "TextBlock", "text": heading, "weight": "Bolder", "wrap": true,
			"spacing": "Medium"})
		for i, l := range lines {
			run := map[string]any{"type": "TextRun", "text": l}
			if mono {
				run["fontType"] = "Monospace"
			}
			rb := map[string]any{"type": "RichTextBlock", "inlines": []map[string]any{run}}
			if i > 0 {
				rb["spacing"] = "Small"
			}
			body = append(body, rb)
		}
	}
	plain(checks, c.Checks, false)
	if c.Server != "" {
		plain(server, []string{c.Server}, true)
	}
	remedy, steps, links := c.RemedyWords()
	if c.Remedy != "" {
		section(remedy, []string{c.Remedy}, false)
	}
	section(inspect, c.Inspect, true)
	section(fix, c.Fix, true)
	section(steps, c.Steps, false)
	section(caveats, c.Caveats, false)
	var ls []string
	for _, l := range c.Links {
		ls = append(ls, "["+l+"]("+l+")")
	}
	section(links, ls, false)
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
	}
	if c.Link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": statusPage, "url": c.Link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": AdaptiveCardContentType,
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

func (t *Teams) Notify(ctx context.Context, ns []Notification) (bool, error) {
	for i := range ns {
		body, err := json.Marshal(TeamsPayload(&ns[i], t.Lang))
		if err != nil {
			return false, fmt.Errorf("%s: %w", t.Name, err)
		}
		if _, _, retry, err := post(ctx, t.Client, t.Name, t.URL, body, nil); err != nil {
			return retry, err
		}
	}
	return false, nil
}
