package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/redact"
)

// MaxBody bounds every response body the reader decodes: a tenant read
// never holds more than this much of one answer in memory.
const MaxBody = 4 << 20

// maxPages bounds how many @odata.nextLink pages one collection read
// follows (signIns at 1,000 rows a page: 20,000 sign-ins).
const maxPages = 20

// ReadError is one read that failed, classified so that callers can
// branch on Kind (tenant-api.md §11: permission, licence, throttled, ...).
type ReadError struct {
	What   string // "GET /policies/identitySecurityDefaultsEnforcementPolicy", "Get-TransportConfig"
	Kind   string // snapshot.Kind*
	Status int
	// Code is Graph's error.code or Exchange's internalexception type;
	// Message the server's text, cleaned (never our request).
	Code, Message string
	RetryAfter    time.Duration
	// Need names the permission or role the read needs, for the sentence.
	Need string
	Err  error
}

func (e *ReadError) Error() string { return e.Problem().String() }
func (e *ReadError) Unwrap() error { return e.Err }

// Problem is the "could not read X because Y" form.
func (e *ReadError) Problem() snapshot.Problem {
	p := snapshot.Problem{What: e.What, Kind: e.Kind, RetryAfter: e.RetryAfter}
	status := ""
	if e.Status != 0 {
		status = "HTTP " + strconv.Itoa(e.Status)
		if e.Code != "" {
			status += " " + e.Code
		}
	}
	switch e.Kind {
	case snapshot.KindPermission:
		p.Why = "the reader app lacks the permission (" + status + ")"
		if e.Need != "" {
			p.Why += "; it needs " + e.Need
		}
	case snapshot.KindLicence:
		p.Why = "the tenant has no Microsoft Entra ID P1 or P2 licence, which sign-in logs need (" + status + ")"
	case snapshot.KindThrottled:
		p.Why = "the service is throttling the reader (" + status
		if e.RetryAfter > 0 {
			p.Why += ", Retry-After " + e.RetryAfter.String()
		}
		p.Why += "); the last good read is kept and the next read waits"
	case snapshot.KindTimeout:
		p.Why = "the request timed out"
		if e.Err != nil {
			p.Why += " (" + cleanText(e.Err.Error(), 160) + ")"
		}
	case snapshot.KindToken:
		p.Why = "the reader app could not get a token: " + cleanText(errText(e.Err), 240)
	case snapshot.KindTruncated:
		p.Why = cleanText(errText(e.Err), 200)
	case snapshot.KindNotFound:
		p.Why = "it does not exist (" + status + ")"
	case snapshot.KindUnavailable:
		if e.Status != 0 {
			p.Why = "the service answered " + status
		} else {
			p.Why = "the endpoint is unreachable (" + cleanText(errText(e.Err), 200) + ")"
		}
	default:
		p.Why = "the answer was not understood"
		if status != "" {
			p.Why += " (" + status + ")"
		}
		if e.Err != nil {
			p.Why += ": " + cleanText(e.Err.Error(), 160)
		}
	}
	if e.Message != "" && e.Kind != snapshot.KindToken {
		p.Why += `; the server said "` + e.Message + `"`
	}
	return p
}

func errText(err error) string {
	if err == nil {
		return "no detail"
	}
	return err.Error()
}

// cleanText makes server or error text safe to show: credentials
// redacted, control characters dropped, length bounded.
func cleanText(s string, n int) string {
	s = redact.Free(s)
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// tokenSource is probe.TokenSource; one per resource (Graph, Exchange).
type tokenSource = probe.TokenSource

// client makes the HTTP calls of one tenant's reads: bounded bodies,
// classified errors, a pace per workload below Microsoft's limits.
type client struct {
	http       *http.Client
	graph      string // base URL ending in /v1.0 (or the emulator's)
	exchange   string // base URL ending in /adminapi/beta/{tenant}
	graphTok   tokenSource
	exoTok     tokenSource
	timeout    time.Duration
	exoTimeout time.Duration

	mu sync.Mutex
	// next is the earliest time each workload may be called again: the
	// pace (tenant-api.md §2.6, §8.7) and any Retry-After the service sent.
	next map[string]time.Time
	pace map[string]time.Duration
	now  func() time.Time
}

// Workloads and their default spacing between requests (tenant-api.md
// §2.6: CA 1/s per tenant, reports 5 per 10 s per app and tenant; §8.7:
// InvokeCommand ~1/s, a conservative guess; directory reads have room).
const (
	wlDirectory = "directory"
	wlCA        = "conditional_access"
	wlReports   = "reports"
	wlExchange  = "exchange"
)

var defaultPace = map[string]time.Duration{
	wlDirectory: 100 * time.Millisecond,
	wlCA:        time.Second,
	wlReports:   2 * time.Second,
	wlExchange:  time.Second,
}

// wait blocks until workload may be called, or ctx ends.
func (c *client) wait(ctx context.Context, workload string) error {
	c.mu.Lock()
	now := c.now()
	at := c.next[workload]
	start := now
	if at.After(now) {
		start = at
	}
	c.next[workload] = start.Add(c.pace[workload])
	c.mu.Unlock()
	if d := start.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// backoff records a Retry-After: nothing goes to workload before it.
func (c *client) backoff(workload string, d time.Duration) {
	if d <= 0 {
		d = 10 * time.Second // reports and CA send no Retry-After
	}
	c.mu.Lock()
	if at := c.now().Add(d); at.After(c.next[workload]) {
		c.next[workload] = at
	}
	c.mu.Unlock()
}

// throttledUntil reports whether workload is still in a Retry-After.
func (c *client) throttledUntil(workload string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.next[workload]
	return at, at.After(c.now().Add(c.pace[workload]))
}

// do sends req with a token from ts and returns the (bounded) body of a
// 2xx answer, or a *ReadError.
func (c *client) do(ctx context.Context, what, workload string, ts tokenSource, timeout time.Duration, mk func() (*http.Request, error)) ([]byte, error) {
	if err := c.wait(ctx, workload); err != nil {
		return nil, &ReadError{What: what, Kind: snapshot.KindTimeout, Err: err}
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return nil, &ReadError{What: what, Kind: snapshot.KindToken, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := mk()
	if err != nil {
		return nil, &ReadError{What: what, Kind: snapshot.KindInvalid, Err: err}
	}
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		kind := snapshot.KindUnavailable
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			kind = snapshot.KindTimeout
		}
		// url.Error's text holds the URL, never the Authorization header.
		return nil, &ReadError{What: what, Kind: kind, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		kind := snapshot.KindUnavailable
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			kind = snapshot.KindTimeout
		}
		return nil, &ReadError{What: what, Kind: kind, Status: resp.StatusCode, Err: err}
	}
	if len(body) > MaxBody {
		return nil, &ReadError{What: what, Kind: snapshot.KindTruncated, Status: resp.StatusCode,
			Err: fmt.Errorf("the answer is larger than %d MiB", MaxBody>>20)}
	}
	if resp.StatusCode/100 == 2 {
		return body, nil
	}
	re := classify(what, resp, body)
	if re.Kind == snapshot.KindThrottled {
		c.backoff(workload, re.RetryAfter)
	}
	return nil, re
}

// stripURL keeps a transport error's cause without the URL (which may
// carry a $filter with addresses) around it.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classify reads an error answer: Graph's {"error":{"code","message"}},
// Exchange's InvokeCommand error (message in innererror.internalexception),
// or a body that is not JSON at all (Exchange's 403 of NUL bytes).
func classify(what string, resp *http.Response, body []byte) *ReadError {
	re := &ReadError{What: what, Status: resp.StatusCode}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Message string `json:"message"`
			} `json:"details"`
			InnerError struct {
				InternalException struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"internalexception"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		re.Code = e.Error.Code
		msg := e.Error.Message
		if ie := e.Error.InnerError.InternalException; ie.Message != "" {
			msg = ie.Message
			if ie.Type != "" {
				t := ie.Type
				if i := strings.LastIndexByte(t, '.'); i >= 0 {
					t = t[i+1:]
				}
				re.Code = t
			}
		} else if len(e.Error.Details) > 0 && e.Error.Details[0].Message != "" {
			msg = e.Error.Details[0].Message
			if strings.HasPrefix(msg, "|") {
				if i := strings.Index(msg[1:], "|"); i >= 0 {
					msg = msg[i+2:]
				}
			}
		}
		re.Message = cleanText(msg, 200)
	}
	// Match on error.code, never on the message (tenant-api.md §2.3, §2.5).
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		re.Kind = snapshot.KindThrottled
		re.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case e.Error.Code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		re.Kind = snapshot.KindLicence
	case resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusUnauthorized:
		re.Kind = snapshot.KindPermission
	case resp.StatusCode == http.StatusNotFound, strings.Contains(re.Code, "NotFound"):
		re.Kind = snapshot.KindNotFound
	case resp.StatusCode >= 500:
		re.Kind = snapshot.KindUnavailable
	default:
		re.Kind = snapshot.KindInvalid
	}
	return re
}

// retryAfter parses Retry-After as (fractional) seconds or an HTTP date;
// Graph sends "2.128" (tenant-api.md §2.6). Bounded to an hour.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		d = time.Duration(f * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), time.Hour)
}

// graphGet reads one Graph object into out.
func (c *client) graphGet(ctx context.Context, what, workload, path string, out any) error {
	body, err := c.do(ctx, what, workload, c.graphTok, c.timeout, func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, c.graph+path, nil)
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("not the JSON Graph documents")}
	}
	return nil
}

// graphList reads a collection, following @odata.nextLink (on the same
// host only: a link elsewhere would get our token) up to maxPages.
func (c *client) graphList(ctx context.Context, what, workload, path string, each func(json.RawMessage) error) (truncated bool, err error) {
	next := c.graph + path
	base, _ := url.Parse(c.graph)
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return true, nil
		}
		u := next
		if nu, perr := url.Parse(u); perr != nil || base == nil || !strings.EqualFold(nu.Host, base.Host) || nu.Scheme != base.Scheme {
			return false, &ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("@odata.nextLink points to another host")}
		}
		body, err := c.do(ctx, what, workload, c.graphTok, c.timeout, func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodGet, u, nil)
			if err == nil && workload == wlReports {
				r.Header.Set("Prefer", "include-unknown-enum-members")
			}
			return r, err
		})
		if err != nil {
			return false, err
		}
		var pg struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &pg); err != nil {
			return false, &ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("not a Graph collection")}
		}
		for _, v := range pg.Value {
			if err := each(v); err != nil {
				return false, &ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: err}
			}
		}
		next = pg.Next
	}
	return false, nil
}

// invoke runs one Get- cmdlet through Exchange's InvokeCommand endpoint
// (tenant-api.md §8.2) and returns its rows. Only Get- cmdlets: the reader
// never changes a tenant, whatever its caller asks.
func (c *client) invoke(ctx context.Context, cmdlet string, params map[string]any) ([]json.RawMessage, bool, error) {
	what := cmdlet
	if id, ok := params["Identity"].(string); ok {
		what += " -Identity " + id
	}
	if rs, ok := params["ResultSize"].(string); ok {
		what += " -ResultSize " + rs
	}
	if !strings.HasPrefix(strings.ToLower(cmdlet), "get-") {
		return nil, false, &ReadError{What: what, Kind: snapshot.KindInvalid, Err: errors.New("only Get- cmdlets are read")}
	}
	if params == nil {
		params = map[string]any{} // "Parameters": null is another request
	}
	payload, err := json.Marshal(map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}})
	if err != nil {
		return nil, false, &ReadError{What: what, Kind: snapshot.KindInvalid, Err: err}
	}
	body, err := c.do(ctx, what, wlExchange, c.exoTok, c.exoTimeout, func() (*http.Request, error) {
		r, err := http.NewRequest(http.MethodPost, c.exchange+"/InvokeCommand", bytes.NewReader(payload))
		if err == nil {
			r.Header.Set("Content-Type", "application/json")
		}
		return r, err
	})
	if err != nil {
		if re, ok := err.(*ReadError); ok && re.Kind == snapshot.KindNotFound && !strings.Contains(re.Code, "NotFound") {
			// A bare 404 is the endpoint, not the object: InvokeCommand
			// is undocumented and may be withdrawn (tenant-api.md §8.1).
			re.Kind = snapshot.KindUnavailable
		}
		if re, ok := err.(*ReadError); ok && re.Kind == snapshot.KindPermission {
			if re.Status == http.StatusUnauthorized {
				re.Need = "the Office 365 Exchange Online application permission Exchange.ManageAsApp"
			} else {
				re.Need = "an Exchange role: the Entra role Global Reader, or a View-Only Configuration / View-Only Recipients role group"
			}
		}
		return nil, false, err
	}
	var env struct {
		Value    []json.RawMessage `json:"value"`
		Next     string            `json:"@odata.nextLink"`
		Warnings []string          `json:"@adminapi.warnings"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, false, &ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("not an InvokeCommand answer")}
	}
	// Following nextLink is disputed (tenant-api.md §8.4): report the
	// truncation instead.
	return env.Value, env.Next != "", nil
}
