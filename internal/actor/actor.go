// Package actor carries who made an HTTP request (an authenticated user,
// the write token, or an unauthenticated loopback client) from the web
// layer that checked it to the handlers that log what was done.
package actor

import "context"

type key struct{}

// With returns ctx carrying who.
func With(ctx context.Context, who string) context.Context { return context.WithValue(ctx, key{}, who) }

// From returns who made the request, or "" when nobody checked.
func From(ctx context.Context) string {
	s, _ := ctx.Value(key{}).(string)
	return s
}
