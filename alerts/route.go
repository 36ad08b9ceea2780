package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/internal/actor"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Matcher tests one label, in Alertmanager's syntax: name="v", name!="v",
// name=~"re", name!~"re" (quotes optional). Regexps are anchored.
type Matcher struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Regex bool   `json:"is_regex"`
	Equal bool   `json:"is_equal"`
	re    *regexp.Regexp
}

// ParseMatcher reads one matcher.
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"", s)
	}
	m := Matcher{Name: strings.TrimSpace(s[:i]), Equal: true}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "=~"):
		m.Regex, rest = true, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		m.Regex, m.Equal, rest = true, false, rest[2:]
	case strings.HasPrefix(rest, "!="):
		m.Equal, rest = false, rest[2:]
	case strings.HasPrefix(rest, "="):
		rest = rest[1:]
	default:
		return Matcher{}, fmt.Errorf("matcher %q: bad operator", s)
	}
	rest = strings.TrimSpace(rest)
	if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
		rest = rest[1 : len(rest)-1]
	}
	m.Value = rest
	return m, m.compile()
}

func (m *Matcher) compile() error {
	if !labelName.MatchString(m.Name) {
		return fmt.Errorf("matcher: label name %q is invalid", m.Name)
	}
	if m.Regex {
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("matcher %s: %w", m.Name, err)
		}
		m.re = re
	}
	return nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Matches tests the labels (a missing label is the empty string).
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	var ok bool
	if m.Regex {
		ok = m.re != nil && m.re.MatchString(v)
	} else {
		ok = v == m.Value
	}
	return ok == m.Equal
}

func (m Matcher) String() string {
	op := "="
	if !m.Equal {
		op = "!="
	}
	if m.Regex {
		op = map[bool]string{true: "=~", false: "!~"}[m.Equal]
	}
	return fmt.Sprintf("%s%s%q", m.Name, op, m.Value)
}

func matchAll(ms []Matcher, labels map[string]string) bool {
	for i := range ms {
		if !ms[i].Matches(labels) {
			return false
		}
	}
	return true
}

// memberLabels are what routes and silences match on: the target's
// configured labels plus target, user, domain, protocol, mechanism, cause,
// kind and expect.
func memberLabels(m *Member, problem string) map[string]string {
	l := make(map[string]string, len(m.Labels)+8)
	for k, v := range m.Labels {
		l[k] = v
	}
	l["target"], l["user"], l["domain"] = m.Target, m.User, scopeOf(m.User, m.Target)
	l["protocol"], l["mechanism"], l["expect"] = m.Protocol, m.Mechanism, string(m.Expect)
	l["cause"], l["kind"] = problem, string(m.Kind)
	return l
}

// Route sends the checks it matches to sinks. An event goes to the union of
// the sinks of every matching route; with no routes every sink gets all.
//
// Routes decide who hears that a check fires. Who hears that it stopped
// follows from that: a sink that was sent a check's firing notification
// always gets its resolve, whatever the routes' kinds (or a reloaded
// configuration) say, so an incident opened in PagerDuty or Alertmanager
// is always closed, and a sink never gets a resolve of what it was not
// told.
type Route struct {
	Matchers []Matcher
	// Kinds limits the route to these firing event kinds (regressed,
	// cause_changed, unexpectedly_ok); empty means all. "recovered" is
	// accepted and changes nothing: resolves follow the firing (above).
	Kinds []scheduler.EventKind
	Sinks []string
}

func (r *Route) wantsKind(k scheduler.EventKind) bool {
	if len(r.Kinds) == 0 {
		return true
	}
	for _, x := range r.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Silence mutes firing notifications of the checks it matches between
// StartsAt and EndsAt (a maintenance window): first alerts and reminders
// alike. Recoveries are not muted, and a check muted while it fired is
// notified when the silence ends if it still fails.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	// Source: "config" or "api".
	Source string `json:"source"`
}

// Active reports whether the silence is in force at t.
func (s *Silence) Active(t time.Time) bool {
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt)
}

func (s *Silence) validate() error {
	if len(s.Matchers) == 0 {
		return fmt.Errorf("silence needs at least one matcher")
	}
	for i := range s.Matchers {
		if err := s.Matchers[i].compile(); err != nil {
			return err
		}
	}
	if s.EndsAt.IsZero() || !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("silence: ends_at must be after starts_at")
	}
	return nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// silences is the set in force: from config (replaced on reload) and from
// the API (persisted in the store).
type silences struct {
	mu     sync.RWMutex
	config []Silence
	api    []Silence
}

func (s *silences) all() []Silence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := append(append([]Silence(nil), s.config...), s.api...)
	sort.Slice(out, func(i, j int) bool { return out[i].StartsAt.Before(out[j].StartsAt) })
	return out
}

func (s *silences) muted(labels map[string]string, t time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range [][]Silence{s.config, s.api} {
		for i := range l {
			if l[i].Active(t) && matchAll(l[i].Matchers, labels) {
				return true
			}
		}
	}
	return false
}

// silenceRequest is the JSON body of POST /api/v1/silences. Matchers are
// strings in Alertmanager's syntax; starts_at defaults to now; ends_at or
// duration (e.g. "2h") is required.
type silenceRequest struct {
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Duration  string    `json:"duration"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
}

// SilencesHandler serves the silences API, to be mounted at
// /api/v1/silences and /api/v1/silences/ by the daemon's HTTP server:
//
//	GET    /api/v1/silences        → [Silence...]
//	POST   /api/v1/silences        ← silenceRequest → 201 Silence
//	DELETE /api/v1/silences/{id}   → 204 (API silences only; config ones change with the file)
//
// Errors are JSON {"error": "..."}.
//
// A silence mutes every alert it matches, so a forged one is an attack:
// a web page the operator happens to visit could POST a form or a
// text/plain body cross-site (a "simple" request, sent without a CORS
// preflight). So POST requires Content-Type application/json, which a
// browser sends cross-origin only after a preflight this handler never
// approves, and any request that changes state is refused when its Origin
// header names another host than the one it was sent to (its Host, or
// X-Forwarded-Host behind a reverse proxy).
func (m *Manager) SilencesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/v1/silences"), "/")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
			return
		}
		switch {
		case r.Method == http.MethodGet && id == "":
			list := m.Silences()
			if list == nil {
				list = []Silence{} // an empty list, not null
			}
			writeJSON(w, http.StatusOK, list)
		case r.Method == http.MethodPost && id == "":
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
				return
			}
			var req silenceRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
				return
			}
			s, err := req.silence(m.now())
			if err == nil {
				err = m.AddSilence(s)
			}
			if err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, ErrTooManySilences) {
					code = http.StatusTooManyRequests
				}
				m.log.Warn("silence refused", "who", actor.From(r.Context()), "remote", r.RemoteAddr, "err", err)
				writeJSON(w, code, map[string]string{"error": err.Error()})
				return
			}
			m.log.Info("silence created", "id", s.ID, "who", actor.From(r.Context()), "created_by", s.CreatedBy,
				"matchers", strings.Join(matcherStrings(s.Matchers), ","), "from", s.StartsAt.Format(time.RFC3339),
				"until", s.EndsAt.Format(time.RFC3339), "comment", s.Comment, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusCreated, s)
		case r.Method == http.MethodDelete && id != "":
			found, err := m.DeleteSilence(id)
			switch {
			case err != nil:
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			case !found:
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "no API silence " + id})
			default:
				m.log.Info("silence deleted", "id", id, "who", actor.From(r.Context()), "remote", r.RemoteAddr)
				w.WriteHeader(http.StatusNoContent)
			}
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		}
	})
}

// sameOrigin reports whether a request carries no Origin header (curl,
// scripts, same-origin GETs) or one naming the host it was sent to.
// Browsers always send Origin on cross-origin POST and DELETE, and a page
// cannot forge it.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		// "null" (sandboxed frames, file: pages) and garbage are foreign.
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	// Behind a reverse proxy the page's host is the proxy's, which it
	// passes on in X-Forwarded-Host. A foreign page cannot add that header
	// to a request without a CORS preflight, so trusting it here does not
	// reopen the hole.
	for _, h := range strings.Split(r.Header.Get("X-Forwarded-Host"), ",") {
		if h = strings.TrimSpace(h); h != "" && strings.EqualFold(u.Host, h) {
			return true
		}
	}
	return false
}

func (req *silenceRequest) silence(now time.Time) (Silence, error) {
	s := Silence{ID: newID(), StartsAt: req.StartsAt, EndsAt: req.EndsAt, CreatedBy: req.CreatedBy,
		Comment: req.Comment, Source: "api"}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("duration %q: want a positive duration like 2h", req.Duration)
		}
		s.EndsAt = s.StartsAt.Add(d)
	}
	for _, ms := range req.Matchers {
		mt, err := ParseMatcher(ms)
		if err != nil {
			return s, err
		}
		s.Matchers = append(s.Matchers, mt)
	}
	return s, s.validate()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
