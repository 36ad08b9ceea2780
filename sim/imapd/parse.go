package imapd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// arg is one command argument: an atom, a quoted string or a literal
// (str), or a parenthesised list.
type arg struct {
	str    string
	list   []arg
	isList bool
}

// errSyntax marks a command line that does not parse; it is answered with
// I14's "BAD Command Argument Error. 12" and the session goes on.
var errSyntax = errors.New("imapd: syntax error")

// errLineTooLong marks a line over the limit; the connection is dropped,
// since the rest of the line cannot be told from the next command.
var errLineTooLong = errors.New("imapd: line too long")

// readLine reads one CRLF- (or LF-) terminated line without its ending.
func (ss *session) readLine() (string, error) {
	max := ss.srv.cfg.MaxLineLength
	var b []byte
	for {
		frag, err := ss.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > max+2 {
			return "", errLineTooLong
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// readCommand reads a tagged command with its arguments, fetching literals
// ({n} with a continuation, {n+} without, RFC 7888) as they come. A syntax
// error still returns the tag, so that the BAD can carry it.
func (ss *session) readCommand() (tag, name string, args []arg, err error) {
	line, err := ss.readLine()
	if err != nil {
		return "", "", nil, err
	}
	p := &parser{ss: ss, line: line}
	tag = p.atom()
	if tag == "" || !p.sp() {
		p.skipAll()
		return tag, "", nil, errSyntax
	}
	name = strings.ToUpper(p.atom())
	if name == "" {
		p.skipAll()
		return tag, "", nil, errSyntax
	}
	if name == "UID" {
		if !p.sp() {
			return tag, name, nil, errSyntax
		}
		sub := strings.ToUpper(p.atom())
		if sub == "" {
			p.skipAll()
			return tag, name, nil, errSyntax
		}
		name += " " + sub
	}
	for !p.end() {
		if !p.sp() {
			p.skipAll()
			return tag, name, nil, errSyntax
		}
		a, err := p.value(0)
		if err != nil {
			p.skipAll()
			return tag, name, nil, err
		}
		args = append(args, a)
	}
	if p.err != nil {
		return tag, name, nil, p.err
	}
	return tag, name, args, nil
}

type parser struct {
	ss   *session
	line string
	pos  int
	err  error // I/O error while fetching a literal
}

func (p *parser) end() bool { return p.pos >= len(p.line) }

func (p *parser) sp() bool {
	if p.pos < len(p.line) && p.line[p.pos] == ' ' {
		p.pos++
		return true
	}
	return false
}

// skipAll consumes nothing further: the rest of the line is already read,
// and a literal announced at its end was not accepted (no continuation
// sent), so a client waiting for one sees the BAD instead, as RFC 3501 asks.
func (p *parser) skipAll() { p.pos = len(p.line) }

// isAtomChar is lenient: it takes list wildcards, brackets and the
// backslash of flags (\Seen) as atom characters, as clients send them bare.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', '"':
		return false
	}
	return c > 0x20 && c < 0x7f
}

func (p *parser) atom() string {
	start := p.pos
	for p.pos < len(p.line) && isAtomChar(p.line[p.pos]) {
		p.pos++
	}
	return p.line[start:p.pos]
}

const maxDepth = 8

func (p *parser) value(depth int) (arg, error) {
	if p.end() {
		return arg{}, errSyntax
	}
	switch p.line[p.pos] {
	case '"':
		return p.quoted()
	case '{':
		return p.literal()
	case '(':
		if depth >= maxDepth {
			return arg{}, errSyntax
		}
		p.pos++
		l := arg{isList: true}
		for {
			if p.end() {
				return arg{}, errSyntax
			}
			if p.line[p.pos] == ')' {
				p.pos++
				return l, nil
			}
			if len(l.list) > 0 && !p.sp() {
				return arg{}, errSyntax
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return arg{}, err
			}
			l.list = append(l.list, v)
		}
	}
	a := p.atom()
	if a == "" {
		return arg{}, errSyntax
	}
	return arg{str: a}, nil
}

func (p *parser) quoted() (arg, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		p.pos++
		switch c {
		case '"':
			return arg{str: b.String()}, nil
		case '\\':
			if p.pos >= len(p.line) {
				return arg{}, errSyntax
			}
			c = p.line[p.pos]
			if c != '"' && c != '\\' {
				return arg{}, errSyntax
			}
			p.pos++
		}
		b.WriteByte(c)
	}
	return arg{}, errSyntax
}

// literal reads {n} or {n+} at the end of the line, then n octets, then the
// continuation of the command on the next line.
func (p *parser) literal() (arg, error) {
	rest := p.line[p.pos:]
	if !strings.HasSuffix(rest, "}") {
		return arg{}, errSyntax
	}
	spec := rest[1 : len(rest)-1]
	sync := true
	if s, ok := strings.CutSuffix(spec, "+"); ok {
		spec, sync = s, false
	}
	n, err := strconv.Atoi(spec)
	if err != nil || n < 0 {
		return arg{}, errSyntax
	}
	if n > maxLiteral {
		if !sync {
			// The octets are already on their way and would be read as
			// commands: give up on the connection.
			return arg{}, errLineTooLong
		}
		return arg{}, errSyntax
	}
	if sync {
		if err := p.ss.writeLine(contLiteral); err != nil {
			p.err = err
			return arg{}, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.ss.br, buf); err != nil {
		p.err = fmt.Errorf("imapd: literal: %w", err)
		return arg{}, p.err
	}
	next, err := p.ss.readLine()
	if err != nil {
		p.err = err
		return arg{}, err
	}
	p.line, p.pos = next, 0
	return arg{str: string(buf)}, nil
}
