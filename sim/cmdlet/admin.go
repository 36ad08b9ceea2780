package cmdlet

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// ExecRequest is the body of POST /exec.
type ExecRequest struct {
	Lines []string `json:"lines"`
}

// ExecResult is the outcome of one line. Line is the line as received with
// secret parameter values (Set-SimUser -Password) masked.
type ExecResult struct {
	Line   string `json:"line"`
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

// ExecResponse is the body POST /exec answers with.
type ExecResponse struct {
	Results []ExecResult `json:"results"`
}

// maxExecBody bounds a request: admin lines are short.
const maxExecBody = 1 << 20

// AdminHandler serves the emulator's admin API: POST /exec runs cmdlet lines
// in order and stops at the first error; GET /healthz answers "ok". /exec
// requires "Authorization: Bearer <token>"; an empty token refuses every
// request rather than allowing all.
func AdminHandler(in *Interpreter, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/exec", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="exoprobe-sim"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <token from admin_token_file>", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var req ExecRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxExecBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, `bad request: want JSON {"lines": ["..."]}`, http.StatusBadRequest)
			return
		}
		if len(req.Lines) == 0 {
			http.Error(w, `bad request: "lines" is empty`, http.StatusBadRequest)
			return
		}
		resp := ExecResponse{Results: []ExecResult{}}
		for _, line := range req.Lines {
			out, err := in.Exec(r.Context(), line)
			res := ExecResult{Line: Redact(line), Output: out}
			if err != nil {
				res.Error = err.Error()
			}
			resp.Results = append(resp.Results, res)
			if err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	return mux
}

func authorized(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	h := r.Header.Get("Authorization")
	scheme, got, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// secretParams are parameter names whose values never leave the emulator.
func secretParams() []string {
	var names []string
	for _, sp := range cmdlets {
		for _, p := range sp.params {
			if p.secret {
				names = append(names, p.name)
			}
		}
	}
	return names
}

// Redact masks the values of secret parameters in a line (abbreviated
// names included), so that it can be echoed or logged.
func Redact(line string) string {
	toks, err := lex(line)
	if err != nil {
		// Cannot tell values apart: keep only what precedes a secret name.
		low := strings.ToLower(line)
		for _, n := range secretParams() {
			if i := strings.Index(low, "-"+strings.ToLower(n[:3])); i >= 0 {
				return line[:i] + "-" + n + " ********"
			}
		}
		return line
	}
	var b strings.Builder
	last := 0
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.kind != tParam || !isSecretName(t.text) {
			continue
		}
		v := toks[i+1]
		if v.kind == tEOF || v.kind == tPipe || v.kind == tSemi || v.kind == tParam && !t.colon {
			continue
		}
		b.WriteString(line[last:v.pos])
		b.WriteString("********")
		last = v.end
		i++
	}
	b.WriteString(line[last:])
	return b.String()
}

func isSecretName(name string) bool {
	for _, n := range secretParams() {
		if len(name) > 0 && len(name) <= len(n) && strings.EqualFold(n[:len(name)], name) {
			return true
		}
	}
	return false
}
