package probe

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Token is an OAuth 2.0 access token ready for XOAUTH2. AccessToken is a
// secret: it is never logged, marshalled or put in an error.
type Token struct {
	AccessToken string `json:"-"`
	ExpiresAt   time.Time
	// Flow names how the token was obtained: "client_credentials",
	// "refresh_token", "password", "static".
	Flow string
}

// String never shows the token itself, so that a stray %v cannot leak it.
func (t Token) String() string {
	return fmt.Sprintf("Token{flow=%s expires=%s}", t.Flow, t.ExpiresAt.Format(time.RFC3339))
}

// GoString keeps %#v as safe as %v.
func (t Token) GoString() string { return t.String() }

// TokenSource hands out access tokens. Implementations cache: asking twice
// must not mean two requests to the token endpoint (package probe/token).
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// TokenError is a refusal from a token endpoint, parsed from its JSON body
// ({"error": ..., "error_codes": [...], "error_description": ...}), or a
// local failure to reach it (then Err is set and Code is empty).
type TokenError struct {
	Flow string
	// Code is the OAuth "error" field, e.g. "invalid_grant".
	Code string
	// ErrorCodes are Entra's AADSTS numbers.
	ErrorCodes  []int
	Description string
	// HTTPStatus of the token endpoint's answer, 0 when none came.
	HTTPStatus int
	// Err is the underlying transport or decoding error, if any.
	Err error
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("token")
	if e.Flow != "" {
		b.WriteString(" (" + e.Flow + ")")
	}
	b.WriteString(": ")
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
		if len(e.ErrorCodes) > 0 {
			codes := make([]string, len(e.ErrorCodes))
			for i, c := range e.ErrorCodes {
				codes[i] = "AADSTS" + strconv.Itoa(c)
			}
			b.WriteString(" [" + strings.Join(codes, ",") + "]")
		}
		if e.Description != "" {
			// Entra's descriptions carry trace ids and timestamps on
			// further lines; the first line names the problem.
			d, _, _ := strings.Cut(e.Description, "\n")
			b.WriteString(": " + strings.TrimSpace(d))
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.HTTPStatus != 0:
		b.WriteString("token endpoint answered HTTP " + strconv.Itoa(e.HTTPStatus))
	default:
		b.WriteString("unknown failure")
	}
	return b.String()
}

func (e *TokenError) Unwrap() error { return e.Err }

// StaticToken is a TokenSource for a ready-made access token (--token-file,
// --token-env). Its expiry is read from the token's own exp claim.
type StaticToken string

// Token returns the token as is; an empty one is a configuration error.
func (s StaticToken) Token(ctx context.Context) (Token, error) {
	tok := strings.TrimSpace(string(s))
	if tok == "" {
		return Token{}, &TokenError{Flow: "static", Err: fmt.Errorf("empty access token")}
	}
	t := Token{AccessToken: tok, Flow: "static"}
	if c, err := ParseClaims(tok); err == nil {
		t.ExpiresAt = c.ExpiresAt
	}
	return t, nil
}
