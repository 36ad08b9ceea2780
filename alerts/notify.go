// Package alerts delivers exoprobe's regression events to people: a generic
// webhook, Slack, Microsoft Teams, PagerDuty, Alertmanager and email.
//
// It follows the shape of Alertmanager's notify package: every integration
// implements the small Notifier interface and says whether a failure is worth
// retrying; retries with capped exponential backoff live in one place (the
// per-sink delivery worker in outbox.go), not in every sink. Events are
// grouped (route.go) so that one tenant-wide change across hundreds of
// mailboxes makes one notification per sink, and they pass through a durable
// outbox in the daemon's bbolt store, so that a crash or a sink outage loses
// nothing and a restart sends nothing twice.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Notifier sends notifications to one receiver. retry reports whether a
// failure is temporary (the worker tries again later with backoff) or
// permanent (the notification is dropped and counted as failed).
// Implementations must honour ctx and never log or return their secrets.
type Notifier interface {
	Notify(ctx context.Context, ns []Notification) (retry bool, err error)
}

// Status of a notification.
type Status string

const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// KindTest marks the sample notification of `exoprobe alerts test`.
const KindTest scheduler.EventKind = "test"

// Notification is what one sink is told about one group of checks at one
// moment: checks that started failing (or, for posture checks, started
// logging in), or checks that recovered. It is language-neutral: each sink
// renders it in its own language at send time.
type Notification struct {
	// ID is deterministic (group key, sink, sequence) and serves as the
	// idempotency key where the receiver supports one.
	ID       string `json:"id"`
	Sink     string `json:"sink"`
	GroupKey string `json:"group_key"`
	// Kind: regressed, cause_changed, unexpectedly_ok (firing) or recovered
	// (resolved); test for a sample.
	Kind   scheduler.EventKind `json:"kind"`
	Status Status              `json:"status"`
	// Repeat marks a reminder for a group that is still firing.
	Repeat bool `json:"repeat,omitempty"`
	// Problem is the group's cause, or "unexpectedly_ok" for posture groups.
	Problem string `json:"problem"`
	// Scope is the tenant domain (the part of the users' addresses after
	// @), or the target name when a target has no address.
	Scope string    `json:"scope"`
	Time  time.Time `json:"time"`
	// StartsAt is when the group's first member started failing; EndsAt is
	// set on resolved notifications.
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Firing lists every check of the group still firing for this sink
	// (New marks those not notified before). Resolved lists the checks that
	// recovered since the last notification.
	Firing    []Member `json:"firing"`
	Resolved  []Member `json:"resolved"`
	StatusURL string   `json:"status_url,omitempty"`

	// remedy renders the remedy at delivery (Options.Remedy); never
	// stored, so the outbox keeps no remedy text.
	remedy diagnose.RemedyFunc
}

// Member is one check in a notification.
type Member struct {
	CheckID scheduler.CheckID `json:"check_id"`
	Target  string            `json:"target"`
	User    string            `json:"user,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// AuthPolicy is the config's auth_policy for the target, for the
	// remedy's <policy>; not a label (it is no routing key).
	AuthPolicy string                `json:"auth_policy,omitempty"`
	Protocol   string                `json:"protocol"`
	Mechanism  string                `json:"mechanism"`
	Expect     scheduler.Expectation `json:"expect"`
	// Kind is the event that put the check in the group.
	Kind      scheduler.EventKind `json:"kind"`
	Cause     diagnose.Cause      `json:"cause"`
	PrevCause diagnose.Cause      `json:"prev_cause,omitempty"`
	Since     time.Time           `json:"since"`
	// Reply: the server's words (already redacted by package probe).
	Reply      string              `json:"reply,omitempty"`
	Confidence diagnose.Confidence `json:"confidence,omitempty"`
	New        bool                `json:"new,omitempty"`
	// ResolvedAt and NowCause are set for resolved members; NowCause is
	// the check's new cause ("ok" when it recovered, another cause when it
	// moved to another group).
	ResolvedAt time.Time      `json:"resolved_at,omitzero"`
	NowCause   diagnose.Cause `json:"now_cause,omitempty"`
	// Detail is a tenant incident member's one line (alerts/tenant.go).
	Detail string `json:"detail,omitempty"`
}

func memberOf(ev scheduler.Event) Member {
	m := Member{CheckID: ev.CheckID, Target: ev.Target, User: ev.User, Labels: ev.Labels,
		AuthPolicy: ev.AuthPolicy, Protocol: string(ev.Protocol), Mechanism: string(ev.Mechanism), Expect: ev.Expect, Kind: ev.Kind,
		Cause: ev.Cause, PrevCause: ev.PrevCause, Since: ev.Since, Reply: ev.Reply}
	if ev.Finding != nil {
		m.Confidence = ev.Finding.Confidence
	}
	return m
}

// Reason is a failed delivery's bounded label for exoprobe_alerts_failed_total.
type Reason string

const (
	ReasonTimeout    Reason = "timeout"
	ReasonConnection Reason = "connection"
	ReasonHTTP4xx    Reason = "http_4xx"
	ReasonHTTP5xx    Reason = "http_5xx"
	// ReasonRejected: the receiver answered but refused the content (Slack
	// not answering "ok", PagerDuty "invalid event", SMTP 5xx).
	ReasonRejected Reason = "rejected"
	ReasonOther    Reason = "other"
)

// Reasons lists every Reason, for metrics initialisation and tests.
func Reasons() []Reason {
	return []Reason{ReasonTimeout, ReasonConnection, ReasonHTTP4xx, ReasonHTTP5xx, ReasonRejected, ReasonOther}
}

// DeliveryError is a failed delivery, already free of secrets.
type DeliveryError struct {
	Reason Reason
	// Status is the HTTP status or SMTP reply code, 0 when none.
	Status int
	Msg    string
}

func (e *DeliveryError) Error() string { return e.Msg }

// ReasonOf classifies any error into a Reason.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return ReasonConnection
	}
	return ReasonOther
}

// transportError turns a net/http or dial error into a DeliveryError
// without the URL: *url.Error prints the whole URL, and for Slack, Teams
// and webhooks the URL is the credential.
func transportError(sink string, err error, secrets ...Secret) *DeliveryError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	r := ReasonOf(err)
	if r == ReasonOther {
		// A refused or reset connection below net/http surfaces as a
		// syscall error wrapped in *net.OpError (handled above) or as
		// io.EOF from a closed keep-alive; both are connection trouble.
		r = ReasonConnection
	}
	if errors.Is(err, context.DeadlineExceeded) {
		r = ReasonTimeout
	}
	return &DeliveryError{Reason: r, Msg: fmt.Sprintf("%s: %s", sink, scrub(err.Error(), secrets...))}
}

// scrub removes secret values (and their URL-escaped forms) from text that
// came from elsewhere, such as an echoed response body.
func scrub(s string, secrets ...Secret) string {
	for _, sec := range secrets {
		v := sec.Value()
		if len(v) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, v, redacted)
		s = strings.ReplaceAll(s, url.QueryEscape(v), redacted)
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			s = scrubURLParts(s, u)
		}
	}
	return s
}

// scrubURLParts removes the parts of a credential URL that carry its
// token, however a receiver echoes them: the user info, the path (Slack,
// webhooks) and the query (Teams Workflows signs its URL with &sig=...),
// raw and decoded, whole and value by value. The host alone is not a secret and
// stays, so an error still says where it went.
func scrubURLParts(s string, u *url.URL) string {
	var parts []string
	if u.User != nil {
		// http://user:password@alertmanager:9093
		parts = append(parts, u.User.String())
		if pw, ok := u.User.Password(); ok {
			parts = append(parts, pw, url.QueryEscape(pw))
		}
	}
	if len(u.Path) > 1 {
		parts = append(parts, u.EscapedPath(), u.Path)
	}
	if u.RawQuery != "" {
		parts = append(parts, u.RawQuery)
		if q, err := url.QueryUnescape(u.RawQuery); err == nil {
			parts = append(parts, q)
		}
		for _, kv := range strings.Split(u.RawQuery, "&") {
			_, raw, _ := strings.Cut(kv, "=")
			// raw, raw escaped once more (a receiver quoting the URL in
			// its own query), and decoded.
			parts = append(parts, raw, url.QueryEscape(raw))
			if dec, err := url.QueryUnescape(raw); err == nil {
				parts = append(parts, dec, url.QueryEscape(dec), url.PathEscape(dec))
			}
		}
	}
	// Longest first, so that a whole query is replaced before its values.
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	for _, p := range parts {
		// Below 4 characters a value (api-version "1.0", "sv=1") is no
		// credential, and replacing it would shred the message.
		if len(p) < 4 {
			continue
		}
		if strings.HasPrefix(p, "/") {
			s = strings.ReplaceAll(s, p, "/"+redacted)
		} else {
			s = strings.ReplaceAll(s, p, redacted)
		}
	}
	return s
}

const redacted = "<redacted>"

// Secret holds a credential: a URL with a token, a routing key, a password
// or an HMAC key. Every way of printing or encoding it shows "<redacted>";
// only Value returns it, for the one place that puts it on the wire.
type Secret struct{ v string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: v} }

// Value returns the credential itself.
func (s Secret) Value() string { return s.v }

// IsSet reports whether a value is present.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return "alerts.Secret(" + redacted + ")" }
func (s Secret) MarshalJSON() ([]byte, error)  { return json.Marshal(redacted) }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }
func (s Secret) MarshalYAML() (any, error)     { return redacted, nil }
func (s Secret) Equal(o Secret) bool           { return s.v == o.v }

// Backoff is the retry schedule of a sink's worker: Base doubled after every
// failed try, capped at Max, with ±20% jitter so that replicas and sinks do
// not retry in lockstep.
type Backoff struct {
	Base, Max time.Duration
}

// Delay before try n+1 after n failed tries (n ≥ 1).
func (b Backoff) Delay(n int, jitter float64) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = 5 * time.Minute
	}
	d := base
	for i := 1; i < n && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	// jitter in [0,1) maps to a factor in [0.8, 1.2).
	return time.Duration(float64(d) * (0.8 + 0.4*jitter))
}
