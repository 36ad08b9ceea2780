package cmdlet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// exprKind is the kind of an argument value after parsing.
type exprKind int

const (
	eStr  exprKind = iota // bare word or quoted string
	eBool                 // $true / $false
	eNull                 // $null
	eNow                  // the current time, e.g. $([System.DateTime]::UtcNow)
	eList                 // a,b / @("a","b")
)

// expr is one argument value. Time expressions stay unevaluated until the
// command runs, so they read the tenant's clock, not the parser's.
type expr struct {
	kind   exprKind
	s      string
	b      bool
	offset time.Duration // eNow: .AddMinutes(...) and friends
	list   []*expr
	quoted bool
	pos    int
}

// text renders the value the way PowerShell would name it in an error.
func (e *expr) text() string {
	switch e.kind {
	case eBool:
		if e.b {
			return "True"
		}
		return "False"
	case eNull:
		return ""
	case eNow:
		return "System.DateTime"
	case eList:
		return "System.Object[]"
	}
	return e.s
}

// elem is one element of a command's argument list: a parameter name (with a
// value when written -Name:value) or a value.
type elem struct {
	param bool
	name  string
	colon bool
	val   *expr
	pos   int
}

type command struct {
	name  string
	pos   int
	elems []elem
}

type pipeline []*command

var placeholderRe = regexp.MustCompile(`^<[^<>]+>$`)

type parser struct {
	toks []token
	i    int
}

// parse turns a line into pipelines separated by ';' or newlines.
func parse(line string) ([]pipeline, error) {
	toks, err := lex(line)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var out []pipeline
	for {
		for p.peek().kind == tSemi {
			p.i++
		}
		if p.peek().kind == tEOF {
			return out, nil
		}
		pl, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) pipeline() (pipeline, error) {
	var pl pipeline
	for {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		pl = append(pl, c)
		switch t := p.peek(); t.kind {
		case tPipe:
			p.i++
			if k := p.peek().kind; k == tEOF || k == tSemi || k == tPipe {
				return nil, &SyntaxError{t.pos, "an empty pipe element is not allowed"}
			}
		case tSemi, tEOF:
			return pl, nil
		default:
			return nil, &SyntaxError{t.pos, fmt.Sprintf("unexpected %s", t.kind)}
		}
	}
}

func (p *parser) command() (*command, error) {
	t := p.next()
	switch t.kind {
	case tWord:
	case tPlaceholder:
		return nil, &PlaceholderError{t.text}
	default:
		return nil, &SyntaxError{t.pos, fmt.Sprintf("expected a cmdlet name, found %s", t.kind)}
	}
	c := &command{name: t.text, pos: t.pos}
	for {
		t := p.peek()
		switch t.kind {
		case tPipe, tSemi, tEOF:
			return c, nil
		case tParam:
			p.i++
			e := elem{param: true, name: t.text, colon: t.colon, pos: t.pos}
			if t.colon {
				if k := p.peek().kind; k == tPipe || k == tSemi || k == tEOF {
					return nil, &SyntaxError{t.pos, fmt.Sprintf("missing an argument after -%s:", t.text)}
				}
				v, err := p.valueAllowDash()
				if err != nil {
					return nil, err
				}
				e.val = v
			}
			c.elems = append(c.elems, e)
		default:
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.elems = append(c.elems, elem{val: v, pos: t.pos})
		}
	}
}

// valueAllowDash parses the value after "-Name:", where "-5" or even
// "-Something" is a value, not a parameter.
func (p *parser) valueAllowDash() (*expr, error) {
	if t := p.peek(); t.kind == tParam {
		p.i++
		s := "-" + t.text
		if t.colon {
			s += ":"
		}
		return &expr{kind: eStr, s: s, pos: t.pos}, nil
	}
	return p.value()
}

// value parses a primary and, if commas follow, a list.
func (p *parser) value() (*expr, error) {
	first, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tComma {
		return first, nil
	}
	list := &expr{kind: eList, list: []*expr{first}, pos: first.pos}
	for p.peek().kind == tComma {
		p.i++
		e, err := p.primary()
		if err != nil {
			return nil, err
		}
		list.list = append(list.list, e)
	}
	return list, nil
}

func (p *parser) primary() (*expr, error) {
	t := p.next()
	switch t.kind {
	case tWord:
		return &expr{kind: eStr, s: t.text, pos: t.pos}, nil
	case tString:
		if placeholderRe.MatchString(strings.TrimSpace(t.text)) {
			return nil, &PlaceholderError{strings.TrimSpace(t.text)}
		}
		return &expr{kind: eStr, s: t.text, quoted: true, pos: t.pos}, nil
	case tPlaceholder:
		return nil, &PlaceholderError{t.text}
	case tVar:
		switch strings.ToLower(t.text) {
		case "true":
			return &expr{kind: eBool, b: true, pos: t.pos}, nil
		case "false":
			return &expr{kind: eBool, b: false, pos: t.pos}, nil
		case "null":
			return &expr{kind: eNull, pos: t.pos}, nil
		}
		return nil, &SyntaxError{t.pos, fmt.Sprintf("the variable '$%s' cannot be retrieved because it has not been set (the emulator knows only $true, $false and $null)", t.text)}
	case tArray:
		e := &expr{kind: eList, pos: t.pos}
		if p.peek().kind == tRParen {
			p.i++
			return e, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen, t); err != nil {
			return nil, err
		}
		if v.kind == eList {
			e.list = v.list
		} else {
			e.list = []*expr{v}
		}
		return e, nil
	case tSubExpr, tLParen:
		e, err := p.inner()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen, t); err != nil {
			return nil, err
		}
		return p.methods(e)
	}
	return nil, &SyntaxError{t.pos, fmt.Sprintf("unexpected %s", t.kind)}
}

func (p *parser) expect(k tokKind, open token) error {
	t := p.next()
	if t.kind != k {
		return &SyntaxError{open.pos, fmt.Sprintf("missing closing ')' for %s", open.kind)}
	}
	return nil
}

var nowWords = map[string]bool{
	"[system.datetime]::utcnow": true,
	"[datetime]::utcnow":        true,
	"[system.datetime]::now":    true,
	"[datetime]::now":           true,
	"get-date":                  true,
}

// inner parses what PowerShell would evaluate inside $( ) or ( ): a clock
// expression, or a plain value.
func (p *parser) inner() (*expr, error) {
	t := p.peek()
	if t.kind == tWord && nowWords[strings.ToLower(t.text)] {
		p.i++
		if strings.EqualFold(t.text, "get-date") && p.peek().kind == tParam {
			// Get-Date -AsUTC (PowerShell 7) is the only parameter worth
			// accepting: the emulator's times are instants anyway.
			if pt := p.peek(); strings.EqualFold(pt.text, "AsUTC") && !pt.colon {
				p.i++
			} else {
				return nil, &SyntaxError{pt.pos, fmt.Sprintf("Get-Date -%s is not supported by the emulator", pt.text)}
			}
		}
		return &expr{kind: eNow, pos: t.pos}, nil
	}
	if t.kind == tWord && strings.HasPrefix(t.text, "[") {
		return nil, &SyntaxError{t.pos, fmt.Sprintf("the emulator cannot evaluate %q; supported: [System.DateTime]::UtcNow, [DateTime]::Now, Get-Date", t.text)}
	}
	return p.value()
}

// methods applies .ToUniversalTime() / .AddMinutes(n)-style calls written
// straight after a parenthesised time expression.
func (p *parser) methods(e *expr) (*expr, error) {
	for {
		t := p.peek()
		if t.kind != tWord || !t.glued || !strings.HasPrefix(t.text, ".") {
			return e, nil
		}
		if e.kind != eNow {
			return nil, &SyntaxError{t.pos, fmt.Sprintf("method %s is not supported by the emulator", t.text)}
		}
		p.i++
		open := p.next()
		if open.kind != tLParen || !open.glued {
			return nil, &SyntaxError{t.pos, fmt.Sprintf("expected '(' after %s", t.text)}
		}
		var arg string
		if p.peek().kind == tWord {
			arg = p.next().text
		} else if p.peek().kind == tParam { // "-5" lexes as a parameter-looking word only with a letter
			return nil, &SyntaxError{t.pos, "expected a number"}
		}
		if err := p.expect(tRParen, open); err != nil {
			return nil, err
		}
		name := strings.ToLower(t.text[1:])
		switch name {
		case "touniversaltime", "tolocaltime":
			if arg != "" {
				return nil, &SyntaxError{t.pos, fmt.Sprintf("%s takes no argument", t.text)}
			}
			continue
		}
		unit, ok := map[string]time.Duration{
			"adddays": 24 * time.Hour, "addhours": time.Hour, "addminutes": time.Minute, "addseconds": time.Second,
		}[name]
		if !ok {
			return nil, &SyntaxError{t.pos, fmt.Sprintf("method %s is not supported by the emulator (supported: .ToUniversalTime(), .AddDays(n), .AddHours(n), .AddMinutes(n), .AddSeconds(n))", t.text)}
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return nil, &SyntaxError{t.pos, fmt.Sprintf("%s needs a number, got %q", t.text, arg)}
		}
		e.offset += time.Duration(f * float64(unit))
	}
}
