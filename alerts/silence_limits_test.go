package alerts

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// Issue 9: API silences are capped in number and length, validated, and
// each creation is logged at info with who, what and until.
func TestSilenceLimits(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	logs := &testenv.Buffer{}
	o := fastOpts(db, Sink{Name: "all", Notifier: NewMemory("all", "en")})
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, m.SilencesHandler())
	post := func(body string) int {
		t.Helper()
		res, err := http.Post(srv+"/api/v1/silences", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct{ name, body string }{
		{"a year", `{"matchers":["target=\"a\""],"duration":"8760h"}`},
		{"in the past", `{"matchers":["target=\"a\""],"starts_at":"2000-01-01T00:00:00Z","ends_at":"2000-01-02T00:00:00Z"}`},
		{"far ahead", `{"matchers":["target=\"a\""],"starts_at":"2999-01-01T00:00:00Z","duration":"1h"}`},
		{"control chars", `{"matchers":["target=\"a\""],"duration":"1h","created_by":"x\u001b]0;pwned\u0007"}`},
		{"huge comment", `{"matchers":["target=\"a\""],"duration":"1h","comment":"` + strings.Repeat("x", 2000) + `"}`},
		{"too many matchers", `{"matchers":[` + strings.Repeat(`"target=\"a\"",`, 20) + `"target=\"a\""],"duration":"1h"}`},
		{"no matcher", `{"matchers":[],"duration":"1h"}`},
	} {
		if code := post(tc.body); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.name, code)
		}
	}
	if n := len(m.Silences()); n != 0 {
		t.Fatalf("%d silences stored from refused requests", n)
	}
	for i := range MaxAPISilences {
		if code := post(fmt.Sprintf(`{"matchers":["target=\"t%d\""],"duration":"2h","created_by":"ops","comment":"window %d"}`, i, i)); code != http.StatusCreated {
			t.Fatalf("silence %d: %d", i, code)
		}
	}
	if code := post(`{"matchers":["target=\"one-more\""],"duration":"1h"}`); code != http.StatusTooManyRequests {
		t.Errorf("silence %d: %d, want 429", MaxAPISilences+1, code)
	}
	if n := len(m.Silences()); n != MaxAPISilences {
		t.Errorf("%d silences, want %d", n, MaxAPISilences)
	}
	l := logs.String()
	for _, w := range []string{"level=INFO msg=\"silence created\"", "created_by=ops", `matchers="target=\"t7\""`, "until=", "comment=\"window 7\"",
		"msg=\"silence refused\""} {
		if !strings.Contains(l, w) {
			t.Errorf("log lacks %s", w)
		}
	}
}
