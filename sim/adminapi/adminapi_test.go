package adminapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/sim/cmdlet"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

func setup(t *testing.T) (*tenant.Tenant, http.Handler, string) {
	t.Helper()
	tn := tenant.New(tenant.Demo())
	var tok string
	err := tn.Update(func(s *tenant.State) error {
		var err error
		tok, err = s.MintAppToken(s.FindApp(tenant.DemoReaderAppID), tenant.ResourceOutlook365, "1", tn.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn, Handler(tn, cmdlet.New(tn), nil), tok
}

func post(h http.Handler, path, tok, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "https://outlook.office365.com"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestMaxPageSizeAndDomainSegment(t *testing.T) {
	_, h, tok := setup(t)
	// §8.2: a domain name in the tenant segment is seen in code; Prefer:
	// odata.maxpagesize is honoured (G2O live).
	w := post(h, "/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand", tok,
		`{"CmdletInput":{"CmdletName":"Get-User","Parameters":{}}}`, "Prefer", "odata.maxpagesize=2", "X-AnchorMailbox", "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@x")
	var body struct {
		Next  string            `json:"@odata.nextLink"`
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(body.Value) != 2 || !strings.HasPrefix(body.Next, "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand?%24skiptoken=") {
		t.Errorf("rows %d next %q", len(body.Value), body.Next)
	}
	if w := post(h, "/adminapi/beta/fabrikam.com/InvokeCommand", tok, `{"CmdletInput":{"CmdletName":"Get-User"}}`); w.Code != 401 {
		t.Errorf("another tenant: %d", w.Code)
	}
	if w := post(h, "/adminapi/beta/contoso.com/InvokeCommand", tok, `not json`); w.Code != 400 {
		t.Errorf("bad body: %d", w.Code)
	}
}

func TestPageSizeAndToken(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want bool
	}{
		{"odata.maxpagesize=1000", 1000, true},
		{"odata.maxpagesize = 1000;odata.continue-on-error", 1000, true}, // CIPP's spelling (§8.9)
		{"odata.continue-on-error", 0, false},
		{"odata.maxpagesize=0", 0, false},
	} {
		if n, ok := maxPageSize(c.in); n != c.n || ok != c.want {
			t.Errorf("%q: %d %v", c.in, n, ok)
		}
	}
	if n, ok := parseToken(token(42)); n != 42 || !ok {
		t.Errorf("token round trip: %d %v", n, ok)
	}
	if _, ok := parseToken("bogus"); ok {
		t.Error("bogus token accepted")
	}
}
