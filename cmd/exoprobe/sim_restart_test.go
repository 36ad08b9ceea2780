package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// runningSim is `exoprobe sim ARGS` run in-process until stop.
type runningSim struct {
	s              *sim.Sim
	stdout, stderr *testenv.Buffer
	cancel         context.CancelFunc
	exited         chan int
}

func startSimCmd(t *testing.T, args ...string) *runningSim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningSim{stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, cancel: cancel, exited: make(chan int, 1)}
	started := make(chan *sim.Sim, 1)
	go func() { r.exited <- runSim(ctx, args, r.stdout, r.stderr, started) }()
	select {
	case r.s = <-started:
	case code := <-r.exited:
		cancel()
		t.Fatalf("exoprobe sim %q exited %d: %s", args, code, r.stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("exoprobe sim did not start")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run (as SIGINT does) and waits for a clean exit.
func (r *runningSim) stop(t *testing.T) {
	t.Helper()
	if r.exited == nil {
		return
	}
	r.cancel()
	select {
	case code := <-r.exited:
		if code != exitOK {
			t.Errorf("exoprobe sim exited %d: %s", code, r.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("exoprobe sim did not stop")
	}
	r.exited = nil
}

func smtpDisabled(r *runningSim) bool {
	var off bool
	r.s.Tenant().View(func(st *tenant.State) { off = st.Transport.SmtpClientAuthenticationDisabled })
	return off
}

// TestSimRestartResumesAndResets: a restart resumes the saved tenant and
// says so in the banner; --reset starts from the demo tenant again and
// overwrites state.json at once (not only at exit).
func TestSimRestartResumesAndResets(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, sim.StateFile)
	resumed := "exoprobe sim: resumed tenant state from " + statePath + " (--reset for a fresh demo tenant)\n"

	r := startSimCmd(t, "--data-dir", dir)
	if strings.Contains(r.stdout.String(), "resumed tenant state") {
		t.Errorf("first start claims to resume:\n%s", r.stdout.String())
	}
	if _, err := r.s.Exec(context.Background(), "Set-TransportConfig -SmtpClientAuthenticationDisabled $True"); err != nil {
		t.Fatal(err)
	}
	r.stop(t)

	r = startSimCmd(t, "--data-dir", dir)
	if !strings.HasPrefix(r.stdout.String(), resumed) {
		t.Errorf("restart banner does not start with %q:\n%s", resumed, r.stdout.String())
	}
	if !smtpDisabled(r) {
		t.Fatal("restart did not resume the saved change")
	}
	r.stop(t)

	r = startSimCmd(t, "--data-dir", dir, "--reset")
	if strings.Contains(r.stdout.String(), "resumed tenant state") {
		t.Errorf("--reset banner claims to resume:\n%s", r.stdout.String())
	}
	if smtpDisabled(r) {
		t.Error("--reset kept the saved change")
	}
	// Overwritten while still running: a killed run cannot bring it back.
	st, err := tenant.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Transport.SmtpClientAuthenticationDisabled {
		t.Error("--reset did not overwrite state.json at start")
	}
	r.stop(t)

	var out, errb bytes.Buffer
	if code := runSim(context.Background(), []string{"--data-dir", dir, "--reset", "--state", statePath}, &out, &errb, nil); code != exitUsage {
		t.Errorf("--reset with --state: exit %d, want %d (%s)", code, exitUsage, errb.String())
	}
}

// TestSimDefaultDataDirWalkthrough is the README's Done-when path with no
// flags at all: `exoprobe sim` uses the user cache dir, `exoprobe sim exec`
// without --endpoints finds it there, and the next SMTP AUTH — Basic and
// XOAUTH2 — gets S4/S5's tenant-disabled reply.
func TestSimDefaultDataDirWalkthrough(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	wantDir := filepath.Join(home, "cache", "exoprobe", "sim")

	r := startSimCmd(t)
	e := r.s.Endpoints()
	if e.StateFile != filepath.Join(wantDir, sim.StateFile) {
		t.Fatalf("state file %s, want it under %s", e.StateFile, wantDir)
	}
	token := clientCredentialsToken(t, e)

	var eo, ee bytes.Buffer
	if code := dispatch([]string{"sim", "exec", "Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, &eo, &ee); code != exitOK {
		t.Fatalf("sim exec without --endpoints exited %d: %s", code, ee.String())
	}
	const s4 = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ["
	basic := smtpAuth(t, e, "LOGIN", e.Demo.User, e.Demo.Password)
	if !strings.HasPrefix(basic, s4) {
		t.Errorf("AUTH LOGIN after sim exec: %q, want S4 %q...", basic, s4)
	}
	xo := smtpAuth(t, e, "XOAUTH2", e.Demo.User, token)
	if !strings.HasPrefix(xo, s4) {
		t.Errorf("AUTH XOAUTH2 after sim exec: %q, want S5 %q...", xo, s4)
	}
}

func caPool(t *testing.T, e sim.Endpoints) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", e.CAFile)
	}
	return pool
}

func clientCredentialsToken(t *testing.T, e sim.Endpoints) string {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, e)}}}
	res, err := hc.PostForm(e.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
		"client_secret": {e.Demo.ClientSecret}, "scope": {"https://outlook.office365.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token request: %s %v", res.Status, err)
	}
	return body.AccessToken
}

// smtpAuth runs EHLO, STARTTLS, EHLO and one AUTH (LOGIN or XOAUTH2, the
// mechanisms Exchange offers) and returns the server's final AUTH reply.
func smtpAuth(t *testing.T, e sim.Endpoints, mech, user, secret string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.SMTP.StartTLS, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(c)
	expect := func(code int) string {
		t.Helper()
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			t.Fatalf("want %d: %v", code, err)
		}
		return msg
	}
	expect(220)
	tp.PrintfLine("EHLO client.example")
	expect(250)
	tp.PrintfLine("STARTTLS")
	expect(220)
	tc := tls.Client(c, &tls.Config{RootCAs: caPool(t, e), ServerName: "smtp.office365.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tp = textproto.NewConn(tc)
	tp.PrintfLine("EHLO client.example")
	expect(250)
	b64 := base64.StdEncoding.EncodeToString
	if mech == "LOGIN" {
		tp.PrintfLine("AUTH LOGIN")
		expect(334)
		tp.PrintfLine("%s", b64([]byte(user)))
		expect(334)
		tp.PrintfLine("%s", b64([]byte(secret)))
	} else {
		tp.PrintfLine("AUTH XOAUTH2 %s", b64([]byte("user="+user+"\x01auth=Bearer "+secret+"\x01\x01")))
	}
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("AUTH %s reply: %v", mech, err)
	}
	return line
}

// TestSimSecondOnSameDataDir: a second `exoprobe sim` on a data dir in use
// fails at once and says why, leaving the first one's endpoints.json alone.
func TestSimSecondOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	startSimCmd(t, "--data-dir", dir)
	before, _ := os.ReadFile(filepath.Join(dir, sim.EndpointsFile))
	var out, errb bytes.Buffer
	if code := runSim(context.Background(), []string{"--data-dir", dir, "--reset"}, &out, &errb, nil); code != exitFail {
		t.Fatalf("second sim: exit %d, want %d (%s)", code, exitFail, errb.String())
	}
	if !strings.Contains(errb.String(), "is in use by another emulator") {
		t.Errorf("stderr %q does not say the data dir is in use", errb.String())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, sim.EndpointsFile)); !bytes.Equal(before, after) {
		t.Error("the refused second sim rewrote endpoints.json")
	}
	// The first run saves only at exit; --reset must not have written.
	if _, err := os.Stat(filepath.Join(dir, sim.StateFile)); err == nil {
		t.Error("the refused --reset wrote state.json")
	}
}
