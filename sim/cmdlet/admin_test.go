package cmdlet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

const adminToken = "admin-token-0123456789"

func post(t *testing.T, url, auth, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/exec", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestAdminHandlerAuth(t *testing.T) {
	tn, in, _ := fixture()
	srv := httptest.NewServer(AdminHandler(in, adminToken))
	defer srv.Close()
	body := `{"lines":["Set-TransportConfig -SmtpClientAuthenticationDisabled $true"]}`
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + adminToken + "x", "Basic " + adminToken, adminToken, "Bearer"} {
		res, b := post(t, srv.URL, auth, body)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d", auth, res.StatusCode)
		}
		if strings.Contains(b, adminToken) || strings.Contains(b, "wrong") {
			t.Errorf("auth %q: reply echoes the token: %q", auth, b)
		}
	}
	tn.View(func(s *tenant.State) {
		if s.Transport.SmtpClientAuthenticationDisabled {
			t.Fatal("unauthorised request changed the tenant")
		}
	})
	res, _ := post(t, srv.URL, "bearer "+adminToken, body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("authorised: status %d", res.StatusCode)
	}
	tn.View(func(s *tenant.State) {
		if !s.Transport.SmtpClientAuthenticationDisabled {
			t.Fatal("authorised request did not apply")
		}
	})
}

func TestAdminHandlerEmptyTokenRefusesAll(t *testing.T) {
	_, in, _ := fixture()
	srv := httptest.NewServer(AdminHandler(in, ""))
	defer srv.Close()
	for _, auth := range []string{"", "Bearer ", "Bearer  "} {
		if res, _ := post(t, srv.URL, auth, `{"lines":["Get-TransportConfig"]}`); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d", auth, res.StatusCode)
		}
	}
}

func TestAdminHandlerExec(t *testing.T) {
	tn, in, _ := fixture()
	srv := httptest.NewServer(AdminHandler(in, adminToken))
	defer srv.Close()
	auth := "Bearer " + adminToken

	res, b := post(t, srv.URL, auth, `{"lines":[
		"Set-SimUser alice -Password 'hunter2-secret'",
		"Get-TransportConfig | fl SmtpClientAuthenticationDisabled",
		"Set-CasMailbox ghost -PopEnabled $false",
		"Set-TransportConfig -SmtpClientAuthenticationDisabled $true"]}`)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	if strings.Contains(b, "hunter2-secret") {
		t.Errorf("reply echoes the password: %s", b)
	}
	var er ExecResponse
	if err := json.Unmarshal([]byte(b), &er); err != nil {
		t.Fatal(err)
	}
	if len(er.Results) != 3 {
		t.Fatalf("%d results, want 3 (stop at the first error): %s", len(er.Results), b)
	}
	if er.Results[0].Line != "Set-SimUser alice -Password ********" || er.Results[0].Error != "" {
		t.Errorf("result 0 %+v", er.Results[0])
	}
	if er.Results[1].Output != "\nSmtpClientAuthenticationDisabled : False\n\n" {
		t.Errorf("result 1 output %q", er.Results[1].Output)
	}
	if !strings.Contains(er.Results[2].Error, "'ghost' couldn't be found") {
		t.Errorf("result 2 %+v", er.Results[2])
	}
	tn.View(func(s *tenant.State) {
		if s.Transport.SmtpClientAuthenticationDisabled {
			t.Error("line after the error ran")
		}
		if s.FindUser("alice@contoso.com").Password != "hunter2-secret" {
			t.Error("password not set")
		}
	})

	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"lines":[]}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"line":"Get-TransportConfig"}`, http.StatusBadRequest},
		{`{"lines":["` + strings.Repeat("a", maxExecBody) + `"]}`, http.StatusRequestEntityTooLarge},
	} {
		if res, _ := post(t, srv.URL, auth, tc.body); res.StatusCode != tc.code {
			t.Errorf("body %.40q: status %d, want %d", tc.body, res.StatusCode, tc.code)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/exec", nil)
	req.Header.Set("Authorization", auth)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /exec: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
}

func TestAdminHealthz(t *testing.T) {
	_, in, _ := fixture()
	srv := httptest.NewServer(AdminHandler(in, adminToken))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "ok\n" {
		t.Fatalf("healthz %d %q", res.StatusCode, b)
	}
	res, err = http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz %d", res.StatusCode)
	}
}
