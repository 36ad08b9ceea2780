package graph

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

func TestGraphBudgets(t *testing.T) {
	tn := tenant.New(tenant.Demo())
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tn.Now = func() time.Time { return now }
	var tok string
	if err := tn.Update(func(s *tenant.State) error {
		var err error
		tok, err = s.MintAppToken(s.FindApp(tenant.DemoReaderAppID), tenant.ResourceGraph, "1", now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h := Handler(tn, nil)
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://graph.microsoft.com"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const signIns, ca = "/v1.0/auditLogs/signIns", "/v1.0/identity/conditionalAccess/policies"
	// Off by default: no limit.
	for i := range 8 {
		if w := get(signIns); w.Code != 200 {
			t.Fatalf("budgets off, request %d: %d", i, w.Code)
		}
	}
	_ = tn.Update(func(s *tenant.State) error { s.API.GraphBudgets = true; return nil })
	// §2.6: reports 5 per 10 s per app.
	for i := range 5 {
		if w := get(signIns); w.Code != 200 {
			t.Fatalf("sign-ins request %d: %d", i, w.Code)
		}
	}
	if w := get(signIns); w.Code != 429 || w.Header().Get("Retry-After") != "" {
		t.Fatalf("6th sign-ins request in 10 s: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// CA: 1 per second per tenant.
	if w := get(ca); w.Code != 200 {
		t.Fatalf("CA: %d", w.Code)
	}
	if w := get(ca); w.Code != 429 {
		t.Fatalf("2nd CA request in 1 s: %d", w.Code)
	}
	now = now.Add(10 * time.Second)
	if w := get(signIns); w.Code != 200 {
		t.Fatalf("sign-ins after the window: %d", w.Code)
	}
	if w := get(ca); w.Code != 200 {
		t.Fatalf("CA after the window: %d", w.Code)
	}
	// Directory reads have no budget here.
	for range 10 {
		if w := get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"); w.Code != 200 {
			t.Fatalf("security defaults: %d", w.Code)
		}
	}
}
