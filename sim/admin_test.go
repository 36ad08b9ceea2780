package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/cmdlet"
)

type adminReply struct {
	StatusCode int
	cmdlet.ExecResponse
}

// adminExec posts cmdlet lines to the admin endpoint as `exoprobe sim exec`
// does.
func adminExec(t *testing.T, adminURL, token string, lines ...string) adminReply {
	t.Helper()
	body, _ := json.Marshal(cmdlet.ExecRequest{Lines: lines})
	req, err := http.NewRequest(http.MethodPost, adminURL+"/exec", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer resp.Body.Close()
	r := adminReply{StatusCode: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&r.ExecResponse); err != nil {
			t.Fatalf("admin reply: %v", err)
		}
	}
	return r
}
