package alerts

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The silences API refuses what a foreign web page could send: a body that
// is not declared as JSON (a form or text/plain POST needs no preflight)
// and any change whose Origin is another site. Nothing is stored then.
func TestSilencesAPIRefusesCrossSite(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	m, err := New(fastOpts(db, Sink{Name: "all", Notifier: NewMemory("all", "en")}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, m.SilencesHandler())
	const body = `{"matchers":["domain=~\".*\""],"duration":"1h"}`
	var fwd string // X-Forwarded-Host, as a reverse proxy sets it
	post := func(ctype, origin string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv+"/api/v1/silences", strings.NewReader(body))
		if fwd != "" {
			req.Header.Set("X-Forwarded-Host", fwd)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	self := srv // the request's own scheme://host:port
	for _, tc := range []struct {
		ctype, origin string
		want          int
	}{
		{"text/plain", "", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", "", http.StatusUnsupportedMediaType},
		{"", "", http.StatusUnsupportedMediaType},
		{"application/json", "https://evil.example", http.StatusForbidden},
		{"application/json", "null", http.StatusForbidden},
		{"text/plain", "https://evil.example", http.StatusForbidden},
	} {
		if got := post(tc.ctype, tc.origin); got != tc.want {
			t.Errorf("POST Content-Type %q Origin %q: %d, want %d", tc.ctype, tc.origin, got, tc.want)
		}
	}
	if n := len(m.Silences()); n != 0 {
		t.Fatalf("%d silences stored from refused requests", n)
	}
	// The legitimate clients still work: no Origin (curl), or the server's own.
	if got := post("application/json; charset=utf-8", ""); got != http.StatusCreated {
		t.Errorf("POST without Origin: %d", got)
	}
	if got := post("application/json", self); got != http.StatusCreated {
		t.Errorf("POST with the same Origin: %d", got)
	}
	// Behind a reverse proxy: the page's origin is the proxy's host.
	fwd = "exoprobe.contoso.example"
	if got := post("application/json", "https://exoprobe.contoso.example"); got != http.StatusCreated {
		t.Errorf("POST through a proxy: %d", got)
	}
	if got := post("application/json", "https://evil.example"); got != http.StatusForbidden {
		t.Errorf("foreign POST through a proxy: %d", got)
	}
	fwd = ""
	sils := m.Silences()
	if len(sils) != 3 {
		t.Fatalf("%d silences, want 3", len(sils))
	}
	// DELETE from another site is refused too.
	req, _ := http.NewRequest(http.MethodDelete, srv+"/api/v1/silences/"+sils[0].ID, nil)
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || len(m.Silences()) != 3 {
		t.Errorf("cross-site DELETE: %d, %d silences left", res.StatusCode, len(m.Silences()))
	}
}
