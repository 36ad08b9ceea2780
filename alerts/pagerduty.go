package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// PagerDutyURL is the Events API v2 endpoint.
const PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty sends Events API v2 events: "trigger" while a group fires and
// "resolve" once its last check recovered, both with the group's stable
// dedup_key, so PagerDuty keeps one incident per problem and scope and
// drops repeated triggers into it.
type PagerDuty struct {
	Name       string
	RoutingKey Secret
	// URL overrides PagerDutyURL (tests, EU service region or a proxy).
	URL    Secret
	Lang   string
	Client *http.Client
}

// DedupKey of a group.
func DedupKey(groupKey string) string { return "exoprobe/" + groupKey }

// PagerDutyEvent is the Events API v2 body.
type PagerDutyEvent struct {
	RoutingKey  string              `json:"routing_key"`
	EventAction string              `json:"event_action"`
	DedupKey    string              `json:"dedup_key"`
	Payload     *PagerDutyPayload   `json:"payload,omitempty"`
	Client      string              `json:"client,omitempty"`
	ClientURL   string              `json:"client_url,omitempty"`
	Links       []map[string]string `json:"links,omitempty"`
}

// PagerDutyPayload is the event's payload (trigger only).
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Event builds the event for a notification; ok is false when there is
// nothing to tell PagerDuty (a partial recovery: the incident stays open).
func (p *PagerDuty) Event(n *Notification) (ev PagerDutyEvent, ok bool) {
	ev = PagerDutyEvent{RoutingKey: p.RoutingKey.Value(), DedupKey: DedupKey(n.GroupKey), Client: "exoprobe",
		ClientURL: n.StatusURL}
	if n.StatusURL != "" {
		ev.Links = []map[string]string{{"href": n.StatusURL, "text": "exoprobe status page"}}
	}
	if partialResolve(n) {
		return ev, false
	}
	if n.Status == StatusResolved {
		ev.EventAction = "resolve"
		return ev, true
	}
	c := Render(n, p.Lang)
	sev := "error"
	if c.Severity == "critical" || c.Severity == "info" || c.Severity == "warning" {
		sev = c.Severity
	}
	var targets []string
	for _, m := range n.Firing {
		targets = append(targets, string(m.CheckID))
	}
	ev.EventAction = "trigger"
	ev.Payload = &PagerDutyPayload{
		Summary: clipRunes(c.Title, 1024), Source: n.Scope, Severity: sev, Timestamp: n.StartsAt.UTC().Format(time.RFC3339),
		Component: strings.ToLower(protoMech(n)), Group: n.Scope, Class: n.Problem,
		CustomDetails: map[string]any{"summary": c.Summary, "checks": targets, "server_said": c.Server,
			"remedy": c.Remedy, "inspect": c.Inspect, "fix": c.Fix, "steps": c.Steps, "caveats": c.Caveats,
			"links": c.Links, "kind": n.Kind},
	}
	// The remedy's references become the incident's links, next to the
	// status page.
	for _, l := range c.Links {
		ev.Links = append(ev.Links, map[string]string{"href": l, "text": l})
	}
	return ev, true
}

// Skips reports a partial resolve: some of the group's checks recovered,
// others still fail, so the incident stays open and PagerDuty is told
// nothing (the worker then neither sends nor counts it).
func (p *PagerDuty) Skips(n *Notification) bool {
	return partialResolve(n)
}

// partialResolve: some checks of the group recovered, others still fire.
func partialResolve(n *Notification) bool {
	return n.Kind == scheduler.EventRecovered && len(n.Firing) > 0
}

func (p *PagerDuty) Notify(ctx context.Context, ns []Notification) (bool, error) {
	u := p.URL
	if !u.IsSet() {
		u = NewSecret(PagerDutyURL)
	}
	for i := range ns {
		ev, ok := p.Event(&ns[i])
		if !ok {
			continue
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return false, fmt.Errorf("%s: %w", p.Name, err)
		}
		status, resp, retry, err := post(ctx, p.Client, p.Name, u, body, nil, p.RoutingKey)
		if err != nil {
			if status == http.StatusBadRequest {
				err.(*DeliveryError).Reason = ReasonRejected
			}
			return retry, err
		}
		var r struct{ Status string }
		if json.Unmarshal(resp, &r) == nil && r.Status != "" && r.Status != "success" {
			return false, &DeliveryError{Reason: ReasonRejected, Status: status,
				Msg: fmt.Sprintf("%s: PagerDuty answered status %q", p.Name, clipRunes(scrub(r.Status, p.RoutingKey, u), 80))}
		}
	}
	return false, nil
}
