package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// TestSimCommand is the newcomer's walk through the real subcommands:
// `exoprobe sim` starts and prints endpoints and demo credentials, curl
// logs in by password, `exoprobe sim exec` turns SMTP AUTH off for the
// tenant, curl's next AUTH gets S4, and the emulator stops cleanly on its
// signal with the state saved.
func TestSimCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testenv.Buffer
	started := make(chan *sim.Sim, 1)
	exited := make(chan int, 1)
	go func() {
		exited <- runSim(ctx, []string{"--data-dir", dir, "--era", "2026", "--propagation-delay", "1s"}, &stdout, &stderr, started)
	}()
	var s *sim.Sim
	select {
	case s = <-started:
	case code := <-exited:
		t.Fatalf("exoprobe sim exited %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("exoprobe sim did not start")
	}
	e := s.Endpoints()
	out := stdout.String()
	for _, want := range []string{e.IMAP.TLS, e.POP.StartTLS, e.SMTP.StartTLS, e.TokenURL, e.AdminURL, e.CAFile,
		e.Demo.User, e.Demo.Password, e.Demo.ClientID, e.Demo.ClientSecret, filepath.Join(dir, sim.EndpointsFile)} {
		if !strings.Contains(out, want) {
			t.Errorf("startup output lacks %q:\n%s", want, out)
		}
	}
	if tok, _ := e.AdminToken(); tok == "" || strings.Contains(out+stderr.String(), tok) {
		t.Error("admin token missing from its file or shown in the output")
	}

	endpoints := filepath.Join(dir, sim.EndpointsFile)
	var eo, ee bytes.Buffer
	if code := dispatch([]string{"sim", "exec", "--endpoints", endpoints, "Set-TransportConfig -SmtpClientAuthenticationDisabled $True"}, &eo, &ee); code != exitOK {
		t.Fatalf("sim exec exited %d: %s", code, ee.String())
	}
	var off bool
	s.Tenant().View(func(st *tenant.State) { off = st.Transport.SmtpClientAuthenticationDisabled })
	if !off {
		t.Fatal("sim exec did not reach the tenant")
	}

	if curl, ok := lookCurl(t); ok {
		mail := filepath.Join(dir, "mail.txt")
		os.WriteFile(mail, []byte("Subject: hi\r\n\r\nhi\r\n"), 0o600)
		cmd := exec.Command(curl, "-sS", "-v", "--max-time", "20", "--cacert", e.CAFile, "--ssl-reqd",
			"smtp://"+e.SMTP.StartTLS, "-u", e.Demo.User+":"+e.Demo.Password,
			"--mail-from", e.Demo.User, "--mail-rcpt", e.Demo.User, "-T", mail)
		b, _ := cmd.CombinedOutput()
		const s4 = "< 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ["
		if !strings.Contains(string(b), s4) {
			t.Errorf("curl after sim exec: want %q in\n%s", s4, b)
		}
	}

	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("exoprobe sim exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exoprobe sim did not stop")
	}
	st, err := tenant.Load(filepath.Join(dir, sim.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Transport.SmtpClientAuthenticationDisabled {
		t.Error("state.json does not hold the change made before shutdown")
	}
}

func lookCurl(t *testing.T) (string, bool) {
	if _, err := exec.LookPath("curl"); err != nil && !testenv.Required() {
		t.Log("curl not installed: skipping the curl step")
		return "", false
	}
	return testenv.Require(t, "curl", "/usr/bin/curl"), true
}

func TestSimCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--era", "1999"},
		{"--no-such-flag"},
		{"extra"},
		{"--state", "/nonexistent/state.json"},
		{"--propagation-delay", "soon"},
	} {
		var out, errb bytes.Buffer
		args = append([]string{"--data-dir", t.TempDir()}, args...)
		if code := runSim(context.Background(), args, &out, &errb, nil); code != exitUsage {
			t.Errorf("exoprobe sim %q: exit %d, want %d (%s)", args, code, exitUsage, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := runSim(context.Background(), []string{"-h"}, &out, &errb, nil); code != exitOK || !strings.Contains(errb.String(), "-port-base") {
		t.Errorf("-h: exit %d, %q", code, errb.String())
	}
}
