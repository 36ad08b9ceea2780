package sim

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// End-to-end tests of the tenant-read APIs (tenant-api.md) over the sim's
// real HTTPS listener, with tokens from its real token endpoint.

func httpsClient(t testing.TB, e Endpoints) *http.Client {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, e)}}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// readerToken is a client-credentials token of the demo reader app for
// scope (e.GraphScope or e.ExchangeScope).
func readerToken(t testing.TB, e Endpoints, scope string) string {
	t.Helper()
	if e.Reader == nil {
		t.Fatal("endpoints.json has no reader app")
	}
	return tokenRequest(t, e, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {e.Reader.ClientID},
		"client_secret": {e.Reader.ClientSecret}, "scope": {scope},
	})
}

type apiResp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func graphGet(t testing.TB, e Endpoints, tok, path string) apiResp {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "https://") {
		u = e.GraphURL + path
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(t, e, req)
}

func invoke(t testing.TB, e Endpoints, tok, url, body string, hdr ...string) apiResp {
	t.Helper()
	if url == "" {
		url = e.InvokeCommandURL
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, e, req)
}

func do(t testing.TB, e Endpoints, req *http.Request) apiResp {
	t.Helper()
	resp, err := httpsClient(t, e).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := apiResp{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s: invalid JSON: %v\n%s", req.URL, err, raw)
		}
	}
	return r
}

// jpath walks a decoded JSON document: "error.code", "value.0.id".
func jpath(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestGraphSecurityDefaultsShape(t *testing.T) {
	s, e := startSim(t)
	tok := readerToken(t, e, e.GraphScope)
	r := graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	// tenant-api.md §3, verbatim response.
	want := map[string]any{
		"@odata.context": e.GraphURL + "/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy",
		"description":    "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
		"displayName":    "Security Defaults",
		"id":             "00000000-0000-0000-0000-000000000005",
		"isEnabled":      false,
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
		}
	}
	if len(r.body) != len(want) {
		t.Errorf("keys %v, want exactly %d", r.body, len(want))
	}
	if r.header.Get("request-id") == "" {
		t.Error("no request-id header")
	}
	run(t, s, "Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true")
	r = graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy?$select=isEnabled")
	if r.body["isEnabled"] != true || r.body["id"] != nil {
		t.Errorf("after enabling, $select=isEnabled: %s", r.raw)
	}
}

func TestSignInsWrittenForBasicLogins(t *testing.T) {
	s, e := startSim(t)
	run(t, s, "Set-SimTenant -SignInLogDelay 0s")
	users := map[string]string{}
	for _, u := range e.Users {
		users[u.UPN] = u.Password
	}
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "demo@contoso.com", secret: users["demo@contoso.com"]})
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "scanner@contoso.com", secret: "wrong"})
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "blocked@contoso.com", secret: users["blocked@contoso.com"]})
	tok := readerToken(t, e, e.GraphScope)
	r := graphGet(t, e, tok, "/v1.0/auditLogs/signIns?$filter="+url.QueryEscape("clientAppUsed eq 'Authenticated SMTP'"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	rows, _ := r.body["value"].([]any)
	got := map[string]any{}
	for _, row := range rows {
		got[jpath(row, "userPrincipalName").(string)] = row
	}
	cases := []struct {
		upn    string
		code   float64
		reason string
		ca     string
	}{
		{"demo@contoso.com", 0, "Other.", "notApplied"},
		{"scanner@contoso.com", 50126, "Error validating credentials due to invalid username or password.", "notApplied"},
		{"blocked@contoso.com", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", "failure"},
	}
	for _, c := range cases {
		row, ok := got[c.upn]
		if !ok {
			t.Errorf("no sign-in row for %s in %s", c.upn, r.raw)
			continue
		}
		if jpath(row, "status.errorCode") != c.code || jpath(row, "status.failureReason") != c.reason ||
			jpath(row, "conditionalAccessStatus") != c.ca || jpath(row, "ipAddress") != "127.0.0.1" ||
			jpath(row, "isInteractive") != true || jpath(row, "resourceId") != tenant.ResourceExchangeAppID {
			t.Errorf("%s: row %v", c.upn, row)
		}
	}
	if p := jpath(got["blocked@contoso.com"], "appliedConditionalAccessPolicies.0"); jpath(p, "result") != "failure" ||
		jpath(p, "enforcedGrantControls.0") != "Block" || jpath(p, "displayName") != tenant.CAPolicyName {
		t.Errorf("blocked: applied CA %v", p)
	}
	if _, ok := rows[0].(map[string]any)["signInEventTypes"]; ok {
		t.Error("v1.0 row carries the beta-only signInEventTypes")
	}
}

func TestInvokeCommandGetTransportConfig(t *testing.T) {
	s, e := startSim(t)
	tok := readerToken(t, e, e.ExchangeScope)
	body := `{"CmdletInput":{"CmdletName":"Get-TransportConfig","Parameters":{}}}`
	r := invoke(t, e, tok, "", body)
	if r.status != 200 {
		t.Fatalf("status %d: %q", r.status, r.raw)
	}
	// §8.3 envelope.
	if r.body["@odata.context"] != e.ExchangeAdminURL+"/adminapi/beta/"+e.TenantID+"/$metadata#Collection(Exchange.GenericHashTable)" ||
		r.body["adminapi.warnings@odata.type"] != "#Collection(String)" {
		t.Errorf("envelope: %s", r.raw)
	}
	if w, ok := r.body["@adminapi.warnings"].([]any); !ok || len(w) != 0 {
		t.Errorf("@adminapi.warnings = %#v, want []", r.body["@adminapi.warnings"])
	}
	if v := jpath(r.body, "value.0.SmtpClientAuthenticationDisabled"); v != false {
		t.Errorf("SmtpClientAuthenticationDisabled = %#v in %s", v, r.raw)
	}
	run(t, s, "Set-TransportConfig -SmtpClientAuthenticationDisabled $true")
	r = invoke(t, e, tok, "", `{"CmdletInput":{"CmdletName":"get-transportconfig"}}`)
	if v := jpath(r.body, "value.0.SmtpClientAuthenticationDisabled"); v != true {
		t.Errorf("after Set-TransportConfig: %s", r.raw)
	}
	_ = bytes.MinRead
}
