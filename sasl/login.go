package sasl

import (
	"fmt"

	gosasl "github.com/emersion/go-sasl"
)

// The LOGIN mechanism's prompts. Servers send them base64-encoded
// ("334 VXNlcm5hbWU6"); clients ignore their content.
const (
	LoginUsernamePrompt = "Username:"
	LoginPasswordPrompt = "Password:"
)

type loginClient struct {
	user, password string
	step           int
}

// NewLoginClient returns a client for the LOGIN mechanism. It sends no
// initial response and answers the two prompts in order.
func NewLoginClient(user, password string) gosasl.Client {
	return &loginClient{user: user, password: password}
}

func (c *loginClient) Start() (string, []byte, error) {
	c.step = 0
	return Login, nil, nil
}

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	c.step++
	switch c.step {
	case 1:
		return []byte(c.user), nil
	case 2:
		return []byte(c.password), nil
	default:
		return nil, gosasl.ErrUnexpectedServerChallenge
	}
}

// LoginAuthenticator checks one username and password.
type LoginAuthenticator func(user, password string) error

type loginServer struct {
	auth LoginAuthenticator
	user string
	step int
}

// NewLoginServer returns a server for one LOGIN exchange. An initial
// response, if the client sends one, is taken as the username.
func NewLoginServer(auth LoginAuthenticator) gosasl.Server {
	return &loginServer{auth: auth}
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if response == nil {
			s.step = 1
			return []byte(LoginUsernamePrompt), false, nil
		}
		s.user = string(response)
		s.step = 2
		return []byte(LoginPasswordPrompt), false, nil
	case 1:
		s.user = string(response)
		s.step = 2
		return []byte(LoginPasswordPrompt), false, nil
	case 2:
		s.step = 3
		return nil, true, s.auth(s.user, string(response))
	default:
		return nil, true, fmt.Errorf("%w: login already finished", ErrMalformed)
	}
}
