package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// plainSMTP is an SMTP server on 127.0.0.1 that offers no STARTTLS and
// accepts any AUTH PLAIN: the case allow_plaintext exists for.
func plainSMTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				io.WriteString(c, "220 plain.test ESMTP\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch v := strings.ToUpper(strings.Fields(l + " x")[0]); v {
					case "EHLO":
						io.WriteString(c, "250-plain.test\r\n250 AUTH PLAIN LOGIN\r\n")
					case "AUTH":
						io.WriteString(c, "235 2.7.0 Authentication successful\r\n")
					case "QUIT":
						io.WriteString(c, "221 bye\r\n")
						return
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Issue 9: --allow-plaintext is loud: a warning before the run and, after
// the results, one naming each attempt that really sent credentials in
// clear.
func TestCheckAllowPlaintextWarns(t *testing.T) {
	addr := plainSMTP(t)
	t.Setenv("EXOPROBE_PLAIN_PW", "pw")
	var out, errb bytes.Buffer
	code := runCheck([]string{"--smtp-addr", addr, "--protocols", "smtp", "--mechanisms", "basic", "--user", "u@contoso.com",
		"--password-env", "EXOPROBE_PLAIN_PW", "--allow-plaintext", "--timeout", "5s"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "WARNING: allow_plaintext is on") {
		t.Errorf("no warning before the run: %q", errb.String())
	}
	if !strings.Contains(out.String(), "WARNING: smtp/basic to "+addr+": credentials were sent WITHOUT TLS") {
		t.Errorf("no warning in the output:\n%s", out.String())
	}
}

// The daemon warns at start, once per check that allows plaintext.
func TestRunAllowPlaintextWarns(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	cfgPath := writeFile(t, t.TempDir(), "c.yaml", strings.Replace(runTestConfig, "    password_env:", "    allow_plaintext: true\n    password_env:", 1))
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	err := runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Ready: func(string, *Runtime) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"allow_plaintext: this check sends its credentials WITHOUT TLS") ||
		!strings.Contains(logs.String(), "check=smtp/basic") {
		t.Errorf("no warning per check:\n%s", logs.String())
	}
}
