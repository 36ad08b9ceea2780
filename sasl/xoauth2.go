package sasl

import (
	"bytes"
	"fmt"

	gosasl "github.com/emersion/go-sasl"
)

// XOAUTH2Response builds the XOAUTH2 initial response (before base64, which
// the protocol layer adds): "user=" user ^A "auth=Bearer " token ^A ^A.
func XOAUTH2Response(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// ParseXOAUTH2 reads an XOAUTH2 initial response. It accepts the order of
// fields loosely, as servers do, but requires both user and a Bearer token.
func ParseXOAUTH2(resp []byte) (user, token string, err error) {
	var haveUser, haveAuth bool
	for _, field := range bytes.Split(resp, []byte{0x01}) {
		if len(field) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(field, []byte{'='})
		if !ok {
			return "", "", fmt.Errorf("%w: xoauth2 field without '='", ErrMalformed)
		}
		switch string(k) {
		case "user":
			user, haveUser = string(v), true
		case "auth":
			scheme, tok, ok := bytes.Cut(v, []byte{' '})
			if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) || len(tok) == 0 {
				return "", "", fmt.Errorf("%w: xoauth2 auth is not a bearer token", ErrMalformed)
			}
			token, haveAuth = string(tok), true
		}
	}
	if !haveUser || !haveAuth {
		return "", "", fmt.Errorf("%w: xoauth2 needs user and auth", ErrMalformed)
	}
	return user, token, nil
}

type xoauth2Client struct {
	user, token string
}

// NewXOAUTH2Client returns a client that sends the XOAUTH2 initial response.
//
// When the server refuses, it sends an error challenge (Google, Dovecot: a
// base64 JSON status) and waits for an empty response before its final
// reply. Next answers every challenge with an empty, non-nil response:
// returning nil would make go-smtp's Client.Auth report success without
// reading the server's refusal.
func NewXOAUTH2Client(user, token string) gosasl.Client {
	return &xoauth2Client{user: user, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAUTH2, XOAUTH2Response(c.user, c.token), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}

// XOAUTH2Authenticator checks one XOAUTH2 login. A non-nil error refuses it;
// the protocol server decides which words to say.
type XOAUTH2Authenticator func(user, token string) error

type xoauth2Server struct {
	auth XOAUTH2Authenticator
	done bool
}

// NewXOAUTH2Server returns a server for one XOAUTH2 exchange. Without an
// initial response it sends an empty challenge, as Exchange does ("334" /
// "+ ").
func NewXOAUTH2Server(auth XOAUTH2Authenticator) gosasl.Server {
	return &xoauth2Server{auth: auth}
}

func (s *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, gosasl.ErrUnexpectedClientResponse
	}
	if response == nil {
		return []byte{}, false, nil
	}
	s.done = true
	user, token, err := ParseXOAUTH2(response)
	if err != nil {
		return nil, true, err
	}
	return nil, true, s.auth(user, token)
}
