package sasl

import (
	"bytes"
	"errors"
	"testing"

	gosasl "github.com/emersion/go-sasl"
)

// exchange runs a client against a server the way a protocol layer does:
// the initial response (with SASL-IR on the command line; without, after
// the server's first empty continuation), then challenge/response until the
// server is done.
func exchange(t *testing.T, c gosasl.Client, s gosasl.Server, useIR bool) error {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		t.Fatalf("client start: %v", err)
	}
	resp := ir
	if !useIR {
		chal, done, err := s.Next(nil)
		if done || err != nil || len(chal) != 0 {
			t.Fatalf("server without IR: challenge %q done=%v err=%v; want an empty continuation", chal, done, err)
		}
	}
	for range 10 {
		chal, done, err := s.Next(resp)
		if done || err != nil {
			return err
		}
		resp, err = c.Next(chal)
		if err != nil {
			t.Fatalf("client next: %v", err)
		}
		if resp == nil {
			t.Fatal("client answered a challenge with nil: go-smtp would report success without reading the reply")
		}
	}
	t.Fatal("exchange did not finish")
	return nil
}

func TestXOAUTH2RoundTrip(t *testing.T) {
	for _, useIR := range []bool{true, false} {
		var gotUser, gotToken string
		srv := NewXOAUTH2Server(func(user, token string) error {
			gotUser, gotToken = user, token
			return nil
		})
		if err := exchange(t, NewXOAUTH2Client("a@contoso.com", "tok.en.sig"), srv, useIR); err != nil {
			t.Fatalf("ir=%v: %v", useIR, err)
		}
		if gotUser != "a@contoso.com" || gotToken != "tok.en.sig" {
			t.Fatalf("ir=%v: got %q %q", useIR, gotUser, gotToken)
		}
	}
}

func TestXOAUTH2Wire(t *testing.T) {
	want := "user=a@contoso.com\x01auth=Bearer T\x01\x01"
	if got := string(XOAUTH2Response("a@contoso.com", "T")); got != want {
		t.Fatalf("initial response %q, want %q", got, want)
	}
	// After a refusal challenge (Dovecot, Google) the client sends an empty
	// line, not nil.
	c := NewXOAUTH2Client("u", "t")
	resp, err := c.Next([]byte(`{"status":"401"}`))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("Next after error challenge = %q, %v; want empty non-nil", resp, err)
	}
}

func TestXOAUTH2Refused(t *testing.T) {
	refusal := errors.New("refused")
	srv := NewXOAUTH2Server(func(user, token string) error { return refusal })
	if err := exchange(t, NewXOAUTH2Client("u", "t"), srv, true); !errors.Is(err, refusal) {
		t.Fatalf("got %v, want the authenticator's error", err)
	}
}

func TestParseXOAUTH2(t *testing.T) {
	cases := []struct {
		in        string
		user, tok string
		ok        bool
	}{
		{"user=u\x01auth=Bearer t\x01\x01", "u", "t", true},
		{"auth=bearer t\x01user=u\x01\x01", "u", "t", true},  // order and scheme case are loose
		{"user=u\x01\x01", "", "", false},                    // no token
		{"auth=Bearer t\x01\x01", "", "", false},             // no user
		{"user=u\x01auth=Basic dTpw\x01\x01", "", "", false}, // not a bearer token
		{"user=u\x01auth=Bearer \x01\x01", "", "", false},    // empty token
		{"garbage", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range cases {
		u, tok, err := ParseXOAUTH2([]byte(tc.in))
		if tc.ok != (err == nil) || u != tc.user || tok != tc.tok {
			t.Errorf("ParseXOAUTH2(%q) = %q, %q, %v", tc.in, u, tok, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseXOAUTH2(%q): error %v is not ErrMalformed", tc.in, err)
		}
		if err != nil && tc.in != "" && bytes.Contains([]byte(err.Error()), []byte("dTpw")) {
			t.Errorf("error echoes the credential: %v", err)
		}
	}
}

func TestLoginRoundTrip(t *testing.T) {
	var gotUser, gotPass string
	srv := NewLoginServer(func(user, password string) error {
		gotUser, gotPass = user, password
		return nil
	})
	c := NewLoginClient("a@contoso.com", "pw")
	mech, ir, _ := c.Start()
	if mech != Login || ir != nil {
		t.Fatalf("Start = %q, %q; LOGIN has no initial response", mech, ir)
	}
	chal, done, err := srv.Next(nil)
	if done || err != nil || string(chal) != LoginUsernamePrompt {
		t.Fatalf("first challenge %q %v %v", chal, done, err)
	}
	resp, _ := c.Next(chal)
	chal, done, err = srv.Next(resp)
	if done || err != nil || string(chal) != LoginPasswordPrompt {
		t.Fatalf("second challenge %q %v %v", chal, done, err)
	}
	resp, _ = c.Next(chal)
	if _, done, err = srv.Next(resp); !done || err != nil {
		t.Fatalf("final %v %v", done, err)
	}
	if gotUser != "a@contoso.com" || gotPass != "pw" {
		t.Fatalf("got %q %q", gotUser, gotPass)
	}
	if _, err := c.Next([]byte("again")); err == nil {
		t.Fatal("client answered a third challenge")
	}
	if _, _, err := srv.Next([]byte("more")); err == nil {
		t.Fatal("server accepted a response after finishing")
	}
}

// An initial response to LOGIN is taken as the user name.
func TestLoginInitialResponse(t *testing.T) {
	var gotUser string
	srv := NewLoginServer(func(user, password string) error { gotUser = user; return nil })
	chal, _, _ := srv.Next([]byte("u@contoso.com"))
	if string(chal) != LoginPasswordPrompt {
		t.Fatalf("challenge %q", chal)
	}
	if _, done, err := srv.Next([]byte("pw")); !done || err != nil || gotUser != "u@contoso.com" {
		t.Fatalf("done=%v err=%v user=%q", done, err, gotUser)
	}
}

func FuzzParseXOAUTH2(f *testing.F) {
	f.Add([]byte("user=u\x01auth=Bearer t\x01\x01"))
	f.Add([]byte("\x01\x01=\x01auth="))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, tok, err := ParseXOAUTH2(b)
		if err == nil && tok == "" {
			t.Fatalf("accepted %q with an empty token (user %q)", b, u)
		}
	})
}
