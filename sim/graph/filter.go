package graph

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// The $filter subset of /auditLogs/signIns (tenant-api.md §10 "Sign-in
// store"): eq on strings and ints (status/errorCode), ge/le/gt/lt/eq on
// createdDateTime with unquoted ISO literals (§2.1), and, or, parentheses,
// startsWith(prop,'…'), and on beta only signInEventTypes/any(t: t eq '…')
// (v1.0: 400 "Could not find a property named 'signInEventTypes'", §2.4).
// String equality is case-insensitive (§5.4: case sensitivity of
// clientAppUsed is unconfirmed; the emulator accepts either). ne is refused:
// the resource page lists only eq (§5.3, "ne on Graph not confirmed").

type pred func(r *tenant.SignIn) bool

type ftok struct {
	kind byte // 'w' word, 's' string, '(' ')' ',' ':'
	text string
}

func lexFilter(s string) ([]ftok, error) {
	var out []ftok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':':
			out = append(out, ftok{kind: c})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string literal at position %d", i)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, ftok{kind: 's', text: b.String()})
			i = j + 1
		default:
			j := i
			digit := unicode.IsDigit(rune(c)) || c == '-'
			for j < len(s) && !strings.ContainsRune(" \t(),'", rune(s[j])) && (digit || s[j] != ':') {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			out = append(out, ftok{kind: 'w', text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// Bounds on a $filter: the emulator's own (inferred; Graph's are not
// published), so that a hostile query cannot recurse without end.
const (
	maxFilterLen   = 8 << 10
	maxFilterDepth = 32
)

type fparser struct {
	toks  []ftok
	i     int
	depth int
	beta  bool
	// event types named in signInEventTypes/any(...)
	userTypes, spTypes bool
	eventFilter        bool
}

func (p *fparser) peek() ftok {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ftok{}
}

func (p *fparser) next() ftok { t := p.peek(); p.i++; return t }

func (p *fparser) isWord(w string) bool {
	t := p.peek()
	return t.kind == 'w' && strings.EqualFold(t.text, w)
}

// parseFilter compiles a $filter for sign-ins. eventFilter reports whether
// it names signInEventTypes (which changes the default event-type scope).
func parseFilter(s string, beta bool) (pred, bool, *apiError) {
	if len(s) > maxFilterLen {
		return nil, false, badRequest("Invalid filter clause: the filter is too long.") // inferred text
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, false, badRequest("Invalid filter clause: " + err.Error()) // inferred text
	}
	p := &fparser{toks: toks, beta: beta}
	f, aerr := p.or()
	if aerr != nil {
		return nil, false, aerr
	}
	if p.i != len(p.toks) {
		return nil, false, badRequest(fmt.Sprintf("Invalid filter clause: syntax error near '%s'.", p.peek().text)) // inferred text
	}
	if p.userTypes && p.spTypes {
		// §5.3 (doc says): "the filter for getting both user and service
		// principal sign-in event types is not supported". Text inferred.
		return nil, false, badRequest("Filtering on both user and service principal sign-in event types is not supported.")
	}
	return f, p.eventFilter, nil
}

func (p *fparser) or() (pred, *apiError) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(x *tenant.SignIn) bool { return a(x) || b(x) }
	}
	return l, nil
}

func (p *fparser) and() (pred, *apiError) {
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		r, err := p.primary()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(x *tenant.SignIn) bool { return a(x) && b(x) }
	}
	return l, nil
}

func syntax(near string) *apiError {
	return badRequest(fmt.Sprintf("Invalid filter clause: syntax error near '%s'.", near)) // inferred text
}

func (p *fparser) expect(kind byte) *apiError {
	if t := p.next(); t.kind != kind {
		return syntax(t.text)
	}
	return nil
}

func (p *fparser) primary() (pred, *apiError) {
	t := p.next()
	switch {
	case t.kind == '(':
		if p.depth++; p.depth > maxFilterDepth {
			return nil, badRequest("Invalid filter clause: parentheses nested too deeply.") // inferred text
		}
		defer func() { p.depth-- }()
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		return f, p.expect(')')
	case t.kind != 'w':
		return nil, syntax(t.text)
	case strings.EqualFold(t.text, "startsWith"):
		if err := p.expect('('); err != nil {
			return nil, err
		}
		name := p.next()
		if err := p.expect(','); err != nil {
			return nil, err
		}
		lit := p.next()
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		f, ok := p.field(name.text)
		if !ok {
			return nil, errNoProperty(name.text, "microsoft.graph.signIn")
		}
		if lit.kind != 's' || f.kind != 's' {
			return nil, badRequest("Invalid filter clause: startsWith needs a string property and a string literal.") // inferred
		}
		want := strings.ToLower(lit.text)
		return func(x *tenant.SignIn) bool { return strings.HasPrefix(strings.ToLower(f.str(x)), want) }, nil
	case strings.HasSuffix(strings.ToLower(t.text), "/any"):
		return p.any(strings.TrimSuffix(t.text[:len(t.text)-4], "/"))
	}
	f, ok := p.field(t.text)
	if !ok {
		return nil, errNoProperty(t.text, "microsoft.graph.signIn")
	}
	op := p.next()
	lit := p.next()
	if op.kind != 'w' {
		return nil, syntax(op.text)
	}
	return f.compare(strings.ToLower(op.text), lit)
}

// any is signInEventTypes/any(t: t eq 'x'), beta only.
func (p *fparser) any(prop string) (pred, *apiError) {
	if !strings.EqualFold(prop, "signInEventTypes") || !p.beta {
		return nil, errNoProperty(prop, "microsoft.graph.signIn")
	}
	p.eventFilter = true
	if err := p.expect('('); err != nil {
		return nil, err
	}
	v := p.next()
	if err := p.expect(':'); err != nil {
		return nil, err
	}
	var types []string
	for {
		if w := p.next(); w.kind != 'w' || w.text != v.text {
			return nil, syntax(w.text)
		}
		if op := p.next(); !strings.EqualFold(op.text, "eq") {
			return nil, syntax(op.text)
		}
		lit := p.next()
		if lit.kind != 's' {
			return nil, syntax(lit.text)
		}
		types = append(types, lit.text)
		if strings.EqualFold(lit.text, tenant.EventServicePrincipal) || strings.EqualFold(lit.text, "managedIdentity") {
			p.spTypes = true
		} else {
			p.userTypes = true
		}
		if !p.isWord("or") {
			break
		}
		p.next()
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return func(x *tenant.SignIn) bool {
		for _, t := range types {
			if strings.EqualFold(t, x.EventType) {
				return true
			}
		}
		return false
	}, nil
}

// field is one filterable property.
type field struct {
	name string
	kind byte // 's' string, 'i' int, 't' time, 'b' bool
	str  func(*tenant.SignIn) string
	num  func(*tenant.SignIn) int
	tm   func(*tenant.SignIn) time.Time
	bl   func(*tenant.SignIn) bool
}

func strField(name string, f func(*tenant.SignIn) string) field {
	return field{name: name, kind: 's', str: f}
}

// v1.0 filterable properties (tenant-api.md §5.2 "Supports $filter").
var v1Fields = []field{
	strField("id", func(x *tenant.SignIn) string { return x.ID }),
	{name: "createdDateTime", kind: 't', tm: func(x *tenant.SignIn) time.Time { return x.CreatedDateTime }},
	strField("userPrincipalName", func(x *tenant.SignIn) string { return x.UserPrincipalName }),
	strField("userId", func(x *tenant.SignIn) string { return x.UserID }),
	strField("userDisplayName", func(x *tenant.SignIn) string { return x.UserDisplayName }),
	strField("appId", func(x *tenant.SignIn) string { return x.AppID }),
	strField("appDisplayName", func(x *tenant.SignIn) string { return x.AppDisplayName }),
	strField("ipAddress", func(x *tenant.SignIn) string { return x.IPAddress }),
	strField("clientAppUsed", func(x *tenant.SignIn) string { return x.ClientAppUsed }),
	strField("resourceId", func(x *tenant.SignIn) string { return x.ResourceID }),
	strField("resourceDisplayName", func(x *tenant.SignIn) string { return x.ResourceDisplayName }),
	strField("conditionalAccessStatus", func(x *tenant.SignIn) string { return x.ConditionalAccessStatus }),
	strField("correlationId", func(x *tenant.SignIn) string { return x.CorrelationID }),
	{name: "status/errorCode", kind: 'i', num: func(x *tenant.SignIn) int { return x.ErrorCode }},
	{name: "isInteractive", kind: 'b', bl: func(x *tenant.SignIn) bool { return x.IsInteractive }},
}

// Beta-only filterable properties (§5.2).
var betaFields = []field{
	strField("servicePrincipalId", func(x *tenant.SignIn) string { return x.ServicePrincipalID }),
	strField("servicePrincipalName", func(x *tenant.SignIn) string { return x.ServicePrincipalName }),
	strField("clientCredentialType", func(x *tenant.SignIn) string { return x.ClientCredentialType }),
	strField("authenticationProtocol", func(x *tenant.SignIn) string { return x.AuthenticationProtocol }),
}

func (p *fparser) field(name string) (field, bool) {
	fs := v1Fields
	if p.beta {
		fs = append(append([]field{}, v1Fields...), betaFields...)
	}
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return field{}, false
}

func (f field) compare(op string, lit ftok) (pred, *apiError) {
	unsupported := func() (pred, *apiError) {
		return nil, badRequest(fmt.Sprintf("Invalid filter clause: operator '%s' is not supported on property '%s'.", op, f.name)) // inferred text
	}
	switch op {
	case "eq", "ge", "le", "gt", "lt":
	default:
		return unsupported()
	}
	if op != "eq" && f.kind != 't' {
		return unsupported()
	}
	switch f.kind {
	case 's':
		if lit.kind != 's' {
			return nil, badRequest(fmt.Sprintf("Invalid filter clause: '%s' needs a quoted string.", f.name)) // inferred
		}
		return func(x *tenant.SignIn) bool { return strings.EqualFold(f.str(x), lit.text) }, nil
	case 'i':
		n, err := strconv.Atoi(lit.text)
		if lit.kind != 'w' || err != nil {
			return nil, badRequest(fmt.Sprintf("Invalid filter clause: '%s' needs an integer.", f.name)) // inferred
		}
		return func(x *tenant.SignIn) bool { return f.num(x) == n }, nil
	case 'b':
		if lit.kind != 'w' || (lit.text != "true" && lit.text != "false") {
			return nil, badRequest(fmt.Sprintf("Invalid filter clause: '%s' needs true or false.", f.name)) // inferred
		}
		want := lit.text == "true"
		return func(x *tenant.SignIn) bool { return f.bl(x) == want }, nil
	}
	// §2.1: "Date literals are unquoted ISO-8601 UTC".
	t, err := time.Parse(time.RFC3339Nano, lit.text)
	if lit.kind != 'w' || err != nil {
		return nil, badRequest(fmt.Sprintf("Invalid filter clause: '%s' is not a valid DateTimeOffset literal (write it unquoted, e.g. 2026-12-03T09:00:00Z).", lit.text)) // inferred
	}
	return func(x *tenant.SignIn) bool {
		c := x.CreatedDateTime.Compare(t)
		switch op {
		case "eq":
			return c == 0
		case "ge":
			return c >= 0
		case "le":
			return c <= 0
		case "gt":
			return c > 0
		}
		return c < 0
	}, nil
}
