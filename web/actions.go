package web

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Operator actions: probe a check now, clear an account's lockout guard,
// silence an incident and expire that silence. Every one goes through
// h.write, the single wrapper of the write path: the protection
// (Options.Protect, else sameSiteJSON) and a log line per action.

// SilenceStore is what the page needs of the alerts manager for silences;
// *alerts.Manager implements it.
type SilenceStore interface {
	Silences() []alerts.Silence
	AddSilence(s alerts.Silence) error
	DeleteSilence(id string) (bool, error)
}

// sameSiteJSON is the default protection of the write path: a browser
// sends a cross-site request with Content-Type application/json only after
// a CORS preflight, which this server never approves, and it marks
// cross-site requests with Sec-Fetch-Site and Origin. So a write must be
// JSON and must not come from another site. Deployments put authentication
// in front (the web config's basic_auth_users, or Options.Protect).
func sameSiteJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			writeError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			host := r.Host
			if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
				host = fh
			}
			if err != nil || !strings.EqualFold(u.Host, host) {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// write wraps a state-changing handler: the protection, a bounded body,
// and one log line naming the action, its object and its outcome.
func (h *handler) write(action string, fn func(w http.ResponseWriter, r *http.Request) (object string, code int)) http.Handler {
	protect := h.opt.Protect
	if protect == nil {
		protect = sameSiteJSON
	}
	return protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		obj, code := fn(w, r)
		h.opt.Logger.Info("web: action", "action", action, "object", obj, "code", code, "remote", r.RemoteAddr)
	}))
}

// actionsEnabled: the page offers only what the daemon wired.
func (h *handler) mountActions(mux *http.ServeMux) {
	if h.opt.ProbeNow != nil {
		mux.Handle("POST /api/v1/checks/", h.write("probe_now", h.probeNow))
	}
	if h.opt.ClearGuard != nil {
		mux.Handle("POST /api/v1/guards/clear", h.write("clear_guard", h.clearGuard))
	}
	if h.opt.Silences != nil {
		mux.Handle("POST /api/v1/incidents/silence", h.write("silence_incident", h.silenceIncident))
		mux.Handle("POST /api/v1/incidents/unsilence", h.write("expire_silence", h.expireSilence))
	}
}

// probeNow: POST /api/v1/checks/{id}/probe.
func (h *handler) probeNow(w http.ResponseWriter, r *http.Request) (string, int) {
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/checks/")
	p, ok := strings.CutSuffix(p, "/probe")
	s, err := url.PathUnescape(p)
	if !ok || err != nil || s == "" {
		writeError(w, http.StatusNotFound, "expected POST /api/v1/checks/<target>/<protocol>/<mechanism>/probe")
		return p, http.StatusNotFound
	}
	id := scheduler.CheckID(s)
	started, err := h.opt.ProbeNow(id)
	switch {
	case errors.Is(err, scheduler.ErrNoSuchCheck):
		writeError(w, http.StatusNotFound, "no such check: "+s)
		return s, http.StatusNotFound
	case errors.Is(err, scheduler.ErrNotOwned):
		writeError(w, http.StatusConflict, "check "+s+" is run by another cluster member: ask it (GET /api/v1/checks/<id> names it)")
		return s, http.StatusConflict
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return s, http.StatusInternalServerError
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "scheduled": started})
	return s, http.StatusAccepted
}

type guardRequest struct {
	Account string `json:"account"`
}

// clearGuard: POST /api/v1/guards/clear {"account": "..."}.
func (h *handler) clearGuard(w http.ResponseWriter, r *http.Request) (string, int) {
	var req guardRequest
	if err := decodeStrict(r, &req); err != nil || req.Account == "" {
		writeError(w, http.StatusBadRequest, `expected {"account": "<user>"}`)
		return "", http.StatusBadRequest
	}
	n, err := h.opt.ClearGuard(req.Account)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return req.Account, http.StatusInternalServerError
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": req.Account, "cleared_failures": n})
	return req.Account, http.StatusOK
}

type silenceIncidentRequest struct {
	Incident string `json:"incident"`
	// Duration in Go syntax ("2h"); default 2h, at most 7 days.
	Duration string `json:"duration"`
	Comment  string `json:"comment"`
}

// incidentMatchers are the matchers that silence exactly one incident: the
// labels the alerts group it by (cause and domain, see alerts.IncidentKey).
func incidentMatchers(key string) ([]alerts.Matcher, error) {
	prob, scope, ok := strings.Cut(key, "/")
	if !ok || prob == "" || scope == "" {
		return nil, errors.New("incident key must be <cause>/<scope>")
	}
	var ms []alerts.Matcher
	for _, s := range []string{"cause=" + strconv.Quote(prob), "domain=" + strconv.Quote(scope)} {
		m, err := alerts.ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// silenceIncident: POST /api/v1/incidents/silence.
func (h *handler) silenceIncident(w http.ResponseWriter, r *http.Request) (string, int) {
	var req silenceIncidentRequest
	if err := decodeStrict(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return "", http.StatusBadRequest
	}
	ms, err := incidentMatchers(req.Incident)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return req.Incident, http.StatusBadRequest
	}
	d := 2 * time.Hour
	if req.Duration != "" {
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 || d > 7*24*time.Hour {
			writeError(w, http.StatusBadRequest, "duration must be between 1s and 168h")
			return req.Incident, http.StatusBadRequest
		}
	}
	var b [8]byte
	rand.Read(b[:])
	now := h.opt.Now()
	comment := req.Comment
	if comment == "" {
		comment = "silenced from the status page: " + req.Incident
	}
	s := alerts.Silence{ID: hex.EncodeToString(b[:]), Matchers: ms, StartsAt: now, EndsAt: now.Add(d),
		CreatedBy: "status page", Comment: comment}
	if err := h.opt.Silences.AddSilence(s); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return req.Incident, http.StatusBadRequest
	}
	writeJSON(w, http.StatusCreated, s)
	return req.Incident + " " + s.ID, http.StatusCreated
}

type expireRequest struct {
	ID string `json:"id"`
}

// expireSilence: POST /api/v1/incidents/unsilence {"id": "..."}.
func (h *handler) expireSilence(w http.ResponseWriter, r *http.Request) (string, int) {
	var req expireRequest
	if err := decodeStrict(r, &req); err != nil || req.ID == "" {
		writeError(w, http.StatusBadRequest, `expected {"id": "<silence id>"}`)
		return "", http.StatusBadRequest
	}
	found, err := h.opt.Silences.DeleteSilence(req.ID)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return req.ID, http.StatusInternalServerError
	case !found:
		writeError(w, http.StatusNotFound, "no API silence "+req.ID)
		return req.ID, http.StatusNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return req.ID, http.StatusNoContent
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// silenceView is an active silence shown on its incident.
type silenceView struct {
	ID, Until, By, Comment string
	API                    bool
}

// incidentSilences lists the active silences that mute an incident.
func (h *handler) incidentSilences(key string, now time.Time) []silenceView {
	if h.opt.Silences == nil {
		return nil
	}
	prob, scope, _ := strings.Cut(key, "/")
	labels := map[string]string{"cause": prob, "domain": scope}
	var out []silenceView
	for _, s := range h.opt.Silences.Silences() {
		if !s.Active(now) {
			continue
		}
		// Only matchers on the incident's own labels can be judged here;
		// a silence that also names a target mutes part of it, and is
		// shown too.
		judged, all := 0, true
		for i := range s.Matchers {
			if n := s.Matchers[i].Name; n != "cause" && n != "domain" {
				continue
			}
			judged++
			if !s.Matchers[i].Matches(labels) {
				all = false
			}
		}
		if judged > 0 && all {
			out = append(out, silenceView{ID: s.ID, Until: fmtTime(s.EndsAt), By: s.CreatedBy, Comment: s.Comment, API: s.Source == "api"})
		}
	}
	return out
}
