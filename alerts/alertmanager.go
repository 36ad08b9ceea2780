package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// Alertmanager posts alerts to Alertmanager's API v2 (POST /api/v2/alerts)
// with plain net/http: one alert per check, labelled so that Alertmanager
// groups, routes and silences them itself. The labels carry nothing that
// differs between exoprobe replicas (no instance, no host, no time), so
// several replicas watching the same tenant produce the same alerts and
// Alertmanager deduplicates them. Posting the same alert again is harmless:
// Alertmanager merges it by its labels. AMLabels says which labels an
// alert carries and how they meet the target's own (a target's severity
// is kept; exoprobe's is exoprobe_severity).
type Alertmanager struct {
	Name string
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093 (a
	// path ending in /api/v2/alerts is used as is).
	URL Secret
	// Labels are added to every alert (e.g. team: mail).
	Labels map[string]string
	// ResolveTimeout: a firing alert's endsAt is this far ahead of each
	// post, so that Alertmanager resolves it by itself if exoprobe stops
	// reposting (reposts happen every repeat interval). Default 12h.
	ResolveTimeout time.Duration
	Lang           string
	Client         *http.Client
	// Now is the clock (tests).
	Now func() time.Time
}

// AMAlert is one alert of the API v2 body (postableAlert).
type AMAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

var promLabelBad = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// AMLabels are the identity of one check's alert. They are, in order of
// precedence:
//
//   - exoprobe's identity labels, always ours: alertname
//     (ExoprobeLoginFailing, ExoprobeBasicAuthUnexpectedlyOK or
//     ExoprobeTestAlert), target, protocol, mechanism and cause;
//   - the sink's labels (extra), then the target's own labels, which are
//     never overwritten otherwise: a target's severity: page|ticket is what
//     the operator's Alertmanager routes match on;
//   - exoprobe_severity, exoprobe's own classification (critical for a
//     security posture breach, error for a regression, info for a test),
//     always set, under a name no target uses, so routes can rely on it;
//   - severity, set to exoprobe_severity only when neither the target nor
//     the sink has one;
//   - domain, the tenant domain of the user's address, when the address
//     has one and the labels do not, so Alertmanager can group by tenant.
func AMLabels(m *Member, problem string, extra map[string]string) map[string]string {
	l := map[string]string{}
	for k, v := range m.Labels {
		k = promLabelBad.ReplaceAllString(k, "_")
		if k != "" && !strings.HasPrefix(k, "__") {
			l[k] = v
		}
	}
	for k, v := range extra {
		l[k] = v
	}
	name, sev := "ExoprobeLoginFailing", "error"
	switch {
	case m.Kind == KindTest:
		// `exoprobe alerts test`: never mistaken for, nor grouped with, a
		// real alert.
		name, sev = "ExoprobeTestAlert", "info"
	case problem == string(scheduler.EventUnexpectedlyOK):
		name, sev = "ExoprobeBasicAuthUnexpectedlyOK", "critical"
	case problem == problemUnverified:
		name, sev = "ExoprobePostureUnverified", "warning"
	case tenantProblem(problem):
		// The names of deploy/prometheus/exoprobe-tenant-rules.yml; each
		// condition keeps its own alert (one per credential, user, change).
		name, sev = tenantAlertNames[problem], "warning"
		l["condition"] = strings.TrimPrefix(string(m.CheckID), "tenant:"+m.Target+"/"+problem+"/")
	}
	l["alertname"], l["exoprobe_severity"] = name, sev
	if l["severity"] == "" {
		l["severity"] = sev
	}
	if i := strings.LastIndexByte(m.User, '@'); i >= 0 && i < len(m.User)-1 && l["domain"] == "" {
		l["domain"] = strings.ToLower(m.User[i+1:])
	}
	l["target"], l["protocol"], l["mechanism"], l["cause"] = m.Target, m.Protocol, m.Mechanism, problem
	return l
}

// Alerts builds the body for one notification.
func (a *Alertmanager) Alerts(n *Notification) []AMAlert {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	rt := a.ResolveTimeout
	if rt <= 0 {
		rt = 12 * time.Hour
	}
	c := Render(n, a.Lang)
	ann := map[string]string{"summary": c.Title, "description": c.Summary}
	if c.Server != "" {
		ann["server_said"] = c.Server
	}
	if c.Remedy != "" {
		ann["remedy"] = c.Remedy
	}
	if len(c.Inspect) > 0 {
		ann["inspect"] = strings.Join(c.Inspect, "\n")
	}
	if len(c.Fix) > 0 {
		ann["fix"] = strings.Join(c.Fix, "\n")
	}
	if len(c.Steps) > 0 {
		ann["steps"] = strings.Join(c.Steps, "\n")
	}
	if len(c.Caveats) > 0 {
		ann["caveats"] = strings.Join(c.Caveats, "\n")
	}
	if len(c.Links) > 0 {
		ann["links"] = strings.Join(c.Links, "\n")
	}
	var out []AMAlert
	if n.Status == StatusResolved || n.Kind == scheduler.EventRecovered {
		// The recovered checks end; on a partial recovery the others are
		// refreshed below, as still firing.
		for i := range n.Resolved {
			m := &n.Resolved[i]
			out = append(out, AMAlert{Labels: AMLabels(m, n.Problem, a.Labels), Annotations: ann,
				StartsAt: m.Since, EndsAt: m.ResolvedAt, GeneratorURL: n.StatusURL})
		}
		if n.Status == StatusResolved {
			return out
		}
	}
	for i := range n.Firing {
		m := &n.Firing[i]
		ttl := rt
		if n.Kind == KindTest {
			ttl = min(rt, TestAlertTTL)
		}
		out = append(out, AMAlert{Labels: AMLabels(m, n.Problem, a.Labels), Annotations: ann,
			StartsAt: m.Since, EndsAt: now().Add(ttl), GeneratorURL: n.StatusURL})
	}
	return out
}

func (a *Alertmanager) endpoint() Secret {
	u := strings.TrimRight(a.URL.Value(), "/")
	if !strings.HasSuffix(u, "/api/v2/alerts") {
		u += "/api/v2/alerts"
	}
	return NewSecret(u)
}

func (a *Alertmanager) Notify(ctx context.Context, ns []Notification) (bool, error) {
	var all []AMAlert
	for i := range ns {
		all = append(all, a.Alerts(&ns[i])...)
	}
	if len(all) == 0 {
		return false, nil
	}
	body, err := json.Marshal(all)
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.Name, err)
	}
	status, _, retry, err := post(ctx, a.Client, a.Name, a.endpoint(), body, nil, a.URL)
	if err != nil && status == http.StatusBadRequest {
		// Alertmanager refused the alerts themselves (validation).
		err.(*DeliveryError).Reason = ReasonRejected
	}
	return retry, err
}
