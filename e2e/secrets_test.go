package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
)

// secretForms are the ways a secret can leak: as is, and as the base64
// that AUTH LOGIN, AUTH PLAIN and XOAUTH2 put on the wire.
func secretForms(user, password, token string) map[string]string {
	b64 := base64.StdEncoding.EncodeToString
	forms := map[string]string{}
	if password != "" {
		forms["password"] = password
		forms["AUTH LOGIN password"] = b64([]byte(password))
		forms["AUTH PLAIN blob"] = b64([]byte("\x00" + user + "\x00" + password))
	}
	if token != "" {
		forms["token"] = token
		if i := strings.LastIndexByte(token, '.'); i > 0 {
			forms["token signature"] = token[i+1:]
		}
		forms["XOAUTH2 blob"] = b64([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
	}
	return forms
}

func assertNoSecrets(t *testing.T, what string, r result, forms map[string]string) {
	t.Helper()
	for name, s := range forms {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("%s: the %s is in the output", what, name)
		}
	}
}

// TestCheckNeverPrintsSecrets gives check a canary password, token and
// client secret, on paths that succeed and paths that fail, and searches
// every output form for them.
func TestCheckNeverPrintsSecrets(t *testing.T) {
	s, ep := startSim(t)
	const user = "scanner@contoso.com"
	password := "Canary-Pw-" + randHex(t, 6)
	simExec(t, ep, `Set-SimUser -Identity `+user+` -Password '`+password+`'`)
	secret := "Canary-Secret-" + randHex(t, 6)
	token := graphToken(s.Endpoints(), user)
	token = token[:strings.LastIndexByte(token, '.')+1] + "Canary-Sig-" + randHex(t, 6)

	forms := secretForms(user, password, token)
	forms["client secret"] = secret
	forms["wrong password"] = "wrong-" + password
	runs := map[string][]string{
		"password+secret": {"--user", user, "--password-file", secretFile(t, "pw", password),
			"--client-id", s.Endpoints().Demo.ClientID, "--client-secret-file", secretFile(t, "secret", secret)},
		"wrong-password+token": {"--user", user, "--password-file", secretFile(t, "pw", "wrong-"+password),
			"--token-file", secretFile(t, "token", token)},
		"password-env": {"--user", user, "--password-env", "EXOPROBE_E2E_CANARY_PW"},
	}
	t.Setenv("EXOPROBE_E2E_CANARY_PW", password)
	for name, creds := range runs {
		for _, form := range [][]string{
			nil, {"--transcript"}, {"--output", "json"}, {"--output", "json", "--transcript"}, {"--lang", "ja", "--transcript"},
		} {
			args := append(append([]string{"check", "--endpoints", ep}, creds...), form...)
			r := run(t, "", args...)
			if r.code != 0 && r.code != 1 {
				t.Fatalf("%s %q: %s", name, form, r)
			}
			if strings.Contains(strings.Join(form, " "), "transcript") && !strings.Contains(r.stdout, "AUTH") {
				t.Errorf("%s %q: no transcript in the output, so nothing was tested\n%s", name, form, r)
			}
			assertNoSecrets(t, name+" "+strings.Join(form, " "), r, forms)
		}
	}
}

// TestDiagnoseNeverEchoesSecrets: people paste whole log excerpts, SASL
// lines included; diagnose repeats the server's words, never the
// credentials around them.
func TestDiagnoseNeverEchoesSecrets(t *testing.T) {
	const user = "demo@contoso.com"
	token := "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.Canary-Sig-" + randHex(t, 6)
	password := "Canary-Pw-" + randHex(t, 6)
	forms := secretForms(user, password, token)
	pastes := map[string]string{
		"xoauth2 transcript": "C: AUTH XOAUTH2 " + forms["XOAUTH2 blob"] + "\nS: 535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]",
		"plain transcript":   "C: AUTH PLAIN " + forms["AUTH PLAIN blob"] + "\nS: 535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.",
		"login transcript":   "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: " + base64.StdEncoding.EncodeToString([]byte(user)) + "\nS: 334 UGFzc3dvcmQ6\nC: " + forms["AUTH LOGIN password"] + "\nS: 535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator.",
		"bearer header":      "Authorization: Bearer " + token + " -> 535 5.7.3 Authentication unsuccessful",
	}
	for name, p := range pastes {
		for _, form := range [][]string{{"--output", "json"}, {"--output", "text"}} {
			r := run(t, p, append([]string{"diagnose", "--protocol", "smtp"}, form...)...)
			if r.code != 0 {
				t.Fatalf("%s: %s", name, r)
			}
			assertNoSecrets(t, "diagnose "+name+" "+form[1], r, forms)
		}
	}
}
