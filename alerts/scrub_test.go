package alerts

import (
	"context"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// A Teams Workflows URL carries its credential in the query (&sig=...).
// A receiver that answers 400 and echoes the URL it was called with, in
// every usual form, must not get the signature into the error, the
// delivery list or the log.
func TestScrubQueryCredential(t *testing.T) {
	const canary = "SiG-CANARY+q/u3ry=="
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		// Raw request URI, the decoded query and one value decoded: the
		// shapes receivers and proxies echo.
		dec, _ := url.QueryUnescape(r.URL.RawQuery)
		_, _ = w.Write([]byte("bad request for " + r.RequestURI + " (" + dec + ") sig=" + r.URL.Query().Get("sig")))
	}))
	defer echo.Close()
	u := echo.URL + "/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" +
		url.QueryEscape(canary)
	leaks := func(s string) bool {
		return strings.Contains(s, canary) || strings.Contains(s, url.QueryEscape(canary)) || strings.Contains(s, "SiG-CANARY")
	}

	retry, err := (&Teams{Name: "teams", URL: NewSecret(u)}).Notify(context.Background(), []Notification{sample()})
	if err == nil || retry || ReasonOf(err) != ReasonHTTP4xx {
		t.Fatalf("err %v retry %v", err, retry)
	}
	if leaks(err.Error()) {
		t.Errorf("error leaks the signature: %v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("error lost its substance: %v", err)
	}

	// Through the manager: the status page's delivery list and the log.
	db := openDB(t, t.TempDir())
	defer db.Close()
	logs := &testenv.Buffer{}
	opt := fastOpts(db, Sink{Name: "teams", Type: "teams", Notifier: &Teams{Name: "teams", URL: NewSecret(u)}})
	opt.Logger = testLogger(logs)
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	m.Emit(regressed("x@contoso.com"))
	waitFor(t, "the refused delivery", func() bool {
		for _, d := range m.Recent(10) {
			if d.Final {
				return true
			}
		}
		return false
	})
	for _, d := range m.Recent(10) {
		if leaks(d.Error) {
			t.Errorf("delivery error leaks the signature: %s", d.Error)
		}
	}
	if leaks(logs.String()) {
		t.Errorf("log leaks the signature:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "alert dropped") {
		t.Errorf("log does not show the refusal:\n%s", logs.String())
	}
}

// The echoed body is clipped for the error; clipping must not cut a token
// in two before it is scrubbed, leaving a prefix no longer recognisable.
func TestScrubBeforeClip(t *testing.T) {
	const canary = "CANARY-0123456789abcdef0123456789"
	pad := strings.Repeat("x", 185) // the canary straddles the 200th character
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(pad + r.URL.Query().Get("sig")))
	}))
	defer echo.Close()
	_, err := (&Teams{Name: "teams", URL: NewSecret(echo.URL + "/x?sig=" + canary)}).Notify(context.Background(), []Notification{sample()})
	if err == nil || strings.Contains(err.Error(), "CANARY-0123") {
		t.Errorf("clipped error leaks part of the signature: %v", err)
	}
}

// Every credential-bearing part of a URL secret is scrubbed from echoed
// text, however it is encoded; the host is kept so errors say where.
func TestScrubURLParts(t *testing.T) {
	sec := NewSecret("https://am:pa55-W0RD@hooks.example:8443/services/T0K/B0K?sig=S1G%2Bv&sv=1.0")
	in := "to hooks.example:8443: am:pa55-W0RD /services/T0K/B0K sig=S1G%2Bv sig=S1G+v pa55-W0RD S1G%252Bv"
	out := scrub(in, sec)
	for _, leak := range []string{"pa55", "T0K", "B0K", "S1G"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q survives: %s", leak, out)
		}
	}
	if !strings.Contains(out, "hooks.example:8443") {
		t.Errorf("host scrubbed too: %s", out)
	}
}
