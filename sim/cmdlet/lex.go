package cmdlet

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the lexical class of a token. The lexer follows PowerShell's
// argument mode: anything that is not a parameter, quote, variable, paren or
// operator is a bare word, so "user@contoso.com" and "30s" need no quotes.
type tokKind int

const (
	tEOF         tokKind = iota
	tWord                // bare word
	tString              // quoted string, text unescaped
	tParam               // -Name or -Name: (colon set)
	tVar                 // $name (text without the $)
	tSubExpr             // $(
	tArray               // @(
	tLParen              // (
	tRParen              // )
	tComma               // ,
	tPipe                // |
	tSemi                // ; or newline
	tPlaceholder         // <...> as printed in documentation
)

func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of line"
	case tWord:
		return "word"
	case tString:
		return "string"
	case tParam:
		return "parameter"
	case tVar:
		return "variable"
	case tSubExpr:
		return "'$('"
	case tArray:
		return "'@('"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	case tPipe:
		return "'|'"
	case tSemi:
		return "';'"
	case tPlaceholder:
		return "placeholder"
	}
	return "token"
}

type token struct {
	kind  tokKind
	text  string
	colon bool // tParam written as -Name:value
	pos   int  // byte offset in the line
	end   int  // byte offset just after the token
	// glued: no whitespace between this token and the previous one, which
	// matters for "(Get-Date).ToUniversalTime()".
	glued bool
}

// SyntaxError is a line PowerShell itself would refuse to parse, or one that
// still holds a documentation placeholder.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s (at character %d)", e.Msg, e.Pos+1)
}

// PlaceholderError reports a "<mailbox account>"-style placeholder copied
// from documentation without being filled in.
type PlaceholderError struct {
	Placeholder string // including the angle brackets
}

func (e *PlaceholderError) Error() string {
	return fmt.Sprintf("replace %s with a real value: it is a placeholder from the documentation, not PowerShell", e.Placeholder)
}

// Typographic quotes and dashes: PowerShell accepts them because admins paste
// commands from web pages and Word documents, so the emulator does too.
func isSingleQuote(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b'
}

func isDoubleQuote(r rune) bool {
	return r == '"' || r == '\u201c' || r == '\u201d' || r == '\u201e'
}

func isDash(r rune) bool {
	return r == '-' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

// wordEnd reports whether r ends a bare word.
func wordEnd(r rune) bool {
	return unicode.IsSpace(r) || r == '|' || r == ';' || r == ',' || r == '(' || r == ')' ||
		isSingleQuote(r) || isDoubleQuote(r) || r == '{' || r == '}'
}

func isParamNameRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// lex splits one input line into tokens.
func lex(line string) ([]token, error) {
	var toks []token
	i := 0
	lastEnd := -1
	emit := func(t token, end int) {
		t.glued = lastEnd == t.pos
		t.end = end
		toks = append(toks, t)
		lastEnd = end
	}
	for i < len(line) {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == '\n':
			emit(token{kind: tSemi, text: "\n", pos: i}, i+size)
			i += size
		case r == '`' && i+size < len(line) && (line[i+size] == '\n' || line[i+size] == '\r'):
			// Line continuation.
			i += size
			for i < len(line) && (line[i] == '\r' || line[i] == '\n') {
				i++
			}
		case unicode.IsSpace(r):
			i += size
		case r == '#':
			// Comment to end of line.
			for i < len(line) && line[i] != '\n' {
				i++
			}
		case r == '|':
			if strings.HasPrefix(line[i:], "||") {
				return nil, &SyntaxError{i, "the '||' operator is not supported by the emulator"}
			}
			emit(token{kind: tPipe, text: "|", pos: i}, i+1)
			i++
		case r == ';':
			emit(token{kind: tSemi, text: ";", pos: i}, i+1)
			i++
		case r == ',':
			emit(token{kind: tComma, text: ",", pos: i}, i+1)
			i++
		case r == '(':
			emit(token{kind: tLParen, text: "(", pos: i}, i+1)
			i++
		case r == ')':
			emit(token{kind: tRParen, text: ")", pos: i}, i+1)
			i++
		case r == '{' || r == '}':
			return nil, &SyntaxError{i, "script blocks ({ ... }) are not supported by the emulator"}
		case r == '&':
			return nil, &SyntaxError{i, "the '&' operator is not supported by the emulator"}
		case r == '>':
			return nil, &SyntaxError{i, "output redirection ('>') is not supported by the emulator"}
		case r == '<':
			end := strings.IndexAny(line[i+1:], "<>\n")
			if end < 0 || line[i+1+end] != '>' {
				return nil, &SyntaxError{i, "the '<' operator is reserved for future use (if this is a placeholder from the documentation, replace it with a real value)"}
			}
			text := line[i : i+1+end+1]
			emit(token{kind: tPlaceholder, text: text, pos: i}, i+len(text))
			i += len(text)
		case r == '@' && i+1 < len(line) && line[i+1] == '(':
			emit(token{kind: tArray, text: "@(", pos: i}, i+2)
			i += 2
		case r == '$' && i+1 < len(line) && line[i+1] == '(':
			emit(token{kind: tSubExpr, text: "$(", pos: i}, i+2)
			i += 2
		case r == '$':
			j := i + 1
			for j < len(line) {
				r2, s2 := utf8.DecodeRuneInString(line[j:])
				if r2 != '_' && r2 != ':' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					break
				}
				j += s2
			}
			if j == i+1 {
				return nil, &SyntaxError{i, "a variable name must follow '$'"}
			}
			emit(token{kind: tVar, text: line[i+1 : j], pos: i}, j)
			i = j
		case isSingleQuote(r):
			s, end, err := lexSingle(line, i)
			if err != nil {
				return nil, err
			}
			emit(token{kind: tString, text: s, pos: i}, end)
			i = end
		case isDoubleQuote(r):
			s, end, err := lexDouble(line, i)
			if err != nil {
				return nil, err
			}
			emit(token{kind: tString, text: s, pos: i}, end)
			i = end
		case isDash(r) && i+size < len(line) && startsParamName(line[i+size:]):
			j := i + size
			for j < len(line) {
				r2, s2 := utf8.DecodeRuneInString(line[j:])
				if !isParamNameRune(r2) {
					break
				}
				j += s2
			}
			t := token{kind: tParam, text: line[i+size : j], pos: i}
			if j < len(line) && line[j] == ':' {
				t.colon = true
				j++
			}
			emit(t, j)
			i = j
		default:
			var b strings.Builder
			j := i
			for j < len(line) {
				r2, s2 := utf8.DecodeRuneInString(line[j:])
				if wordEnd(r2) {
					break
				}
				if r2 == '`' && j+s2 < len(line) {
					r3, s3 := utf8.DecodeRuneInString(line[j+s2:])
					b.WriteRune(r3)
					j += s2 + s3
					continue
				}
				b.WriteRune(r2)
				j += s2
			}
			emit(token{kind: tWord, text: b.String(), pos: i}, j)
			i = j
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(line)})
	return toks, nil
}

func startsParamName(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

func lexSingle(line string, start int) (string, int, error) {
	_, size := utf8.DecodeRuneInString(line[start:])
	var b strings.Builder
	i := start + size
	for i < len(line) {
		r, s := utf8.DecodeRuneInString(line[i:])
		if isSingleQuote(r) {
			// A doubled quote is a literal quote.
			if i+s < len(line) {
				if r2, s2 := utf8.DecodeRuneInString(line[i+s:]); isSingleQuote(r2) {
					b.WriteRune(r2)
					i += s + s2
					continue
				}
			}
			return b.String(), i + s, nil
		}
		b.WriteRune(r)
		i += s
	}
	return "", 0, &SyntaxError{start, "the string is missing the terminator: '"}
}

func lexDouble(line string, start int) (string, int, error) {
	_, size := utf8.DecodeRuneInString(line[start:])
	var b strings.Builder
	i := start + size
	for i < len(line) {
		r, s := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == '`' && i+s < len(line):
			r2, s2 := utf8.DecodeRuneInString(line[i+s:])
			switch r2 {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteRune(r2)
			}
			i += s + s2
			continue
		case r == '$' && i+s < len(line):
			r2, _ := utf8.DecodeRuneInString(line[i+s:])
			if r2 == '(' || r2 == '{' || r2 == '_' || unicode.IsLetter(r2) {
				return "", 0, &SyntaxError{i, "variables and $(...) inside double-quoted strings are not supported by the emulator; use single quotes"}
			}
		case isDoubleQuote(r):
			if i+s < len(line) {
				if r2, s2 := utf8.DecodeRuneInString(line[i+s:]); isDoubleQuote(r2) {
					b.WriteRune(r2)
					i += s + s2
					continue
				}
			}
			return b.String(), i + s, nil
		}
		b.WriteRune(r)
		i += s
	}
	return "", 0, &SyntaxError{start, `the string is missing the terminator: "`}
}
