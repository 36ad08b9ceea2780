package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/exoprobe/exoprobe/scheduler"
)

// checksKey is where writeStatusJSON splices the checks into the
// envelope: the top-level key, on a line of its own (a newline inside a
// string is escaped, so no value can contain this).
var checksKey = []byte("\n  \"checks\": [")

// writeStatusJSON writes GET /api/v1/status as writeJSON would, byte for
// byte, but encodes the checks one at a time into a small buffer instead
// of building the whole document in memory first: without a limit the
// response holds every check (83 MiB at 60,000 checks), and encoding it
// in one piece raised the daemon's live heap by about 70 MB for the
// duration of the request.
func writeStatusJSON(w http.ResponseWriter, resp StatusResponse, checks []scheduler.CheckState) {
	resp.Checks = []CheckJSON{}
	head, err := json.MarshalIndent(resp, "", "  ")
	i := bytes.Index(head, checksKey)
	if err != nil || i < 0 || !bytes.HasPrefix(head[i+len(checksKey):], []byte("]")) {
		// Cannot happen; keep the plain path rather than a broken answer.
		for _, st := range checks {
			resp.Checks = append(resp.Checks, checkJSON(sanitizeState(st)))
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	i += len(checksKey)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head[:i])
	for j := range checks {
		if j > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		b, err := json.MarshalIndent(checkJSON(sanitizeState(checks[j])), "    ", "  ")
		if err != nil {
			return // the client sees a truncated document, as with a failed write
		}
		bw.Write(b)
	}
	if len(checks) > 0 {
		bw.WriteString("\n  ")
	}
	bw.Write(head[i:])
	bw.WriteByte('\n')
	bw.Flush()
}
