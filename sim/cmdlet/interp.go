// Package cmdlet is the emulator's PowerShell front end: a small interpreter
// for the Exchange Online, Microsoft Graph and emulator-only (Set-Sim*)
// cmdlet lines an admin types, so that the remedies exoprobe prints can be
// run verbatim against the emulated tenant. It parses PowerShell's argument
// syntax (switches, $true/$false/$null, quoting, arrays, $(...) time
// expressions, pipelines into Select-Object / Format-List / Format-Table),
// binds parameters the way PowerShell does (case-insensitive, unique
// prefixes, positionals, typed conversion with PowerShell's error texts) and
// prints results the way PowerShell would. Unknown cmdlets, unknown
// parameters and documentation placeholders are errors, never ignored.
package cmdlet

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Interpreter runs cmdlet lines against one tenant. It is safe for
// concurrent use: every read goes through Tenant.View and every change
// through Tenant.Update.
type Interpreter struct {
	t *tenant.Tenant
}

// New returns an interpreter for t.
func New(t *tenant.Tenant) *Interpreter { return &Interpreter{t: t} }

// spec describes one cmdlet.
type spec struct {
	name    string
	aliases []string
	params  []param
	summary string
	run     func(in *Interpreter, a args) ([]any, error)
	// needsOne: a Set- cmdlet that changes nothing unless given at least
	// one optional parameter (besides its required ones, such as the
	// identity); a call without one is an error, not a silent no-op.
	needsOne bool
}

// changesSomething reports whether a holds an optional parameter: the
// required ones only say what to change.
func (sp *spec) changesSomething(a args) bool {
	for _, p := range sp.params {
		if !p.required && a.has(p.name) {
			return true
		}
	}
	return false
}

func (sp *spec) requiredNames() []string {
	var names []string
	for _, p := range sp.params {
		if p.required {
			names = append(names, p.name)
		}
	}
	return names
}

// pipeline stages that format or select; they consume the objects the
// first command wrote.
const (
	stageSelect = "Select-Object"
	stageList   = "Format-List"
	stageTable  = "Format-Table"
)

var stageSpecs = []*spec{
	{name: stageSelect, aliases: []string{"select"}, params: []param{
		named("Property", kStrings).at(0), named("ExpandProperty", kString), named("First", kInt),
	}},
	{name: stageList, aliases: []string{"fl"}, params: []param{named("Property", kStrings).at(0)}},
	{name: stageTable, aliases: []string{"ft"}, params: []param{
		named("Property", kStrings).at(0), named("AutoSize", kSwitch), named("Wrap", kSwitch),
	}},
}

func findSpec(list []*spec, name string) *spec {
	for _, s := range list {
		if strings.EqualFold(s.name, name) {
			return s
		}
		for _, a := range s.aliases {
			if strings.EqualFold(a, name) {
				return s
			}
		}
	}
	return nil
}

// Supported lists the cmdlets the interpreter knows, sorted.
func Supported() []string {
	var names []string
	for _, s := range cmdlets {
		names = append(names, s.name)
	}
	slices.Sort(names)
	return names
}

// UnknownCmdletError is returned for a command the emulator does not know.
type UnknownCmdletError struct{ Name string }

func (e *UnknownCmdletError) Error() string {
	return fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet supported by the exoprobe emulator. Supported cmdlets: %s; in pipelines: Select-Object (select), Format-List (fl), Format-Table (ft).",
		e.Name, strings.Join(Supported(), ", "))
}

// Exec runs one line (one or more commands separated by ';' or newlines)
// and returns what PowerShell would print. It stops at the first error;
// the output of the commands before it is returned along with the error.
func (in *Interpreter) Exec(ctx context.Context, line string) (string, error) {
	pls, err := parse(line)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, pl := range pls {
		if err := ctx.Err(); err != nil {
			return b.String(), err
		}
		if err := in.runPipeline(&b, pl); err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

func (in *Interpreter) runPipeline(b *strings.Builder, pl pipeline) error {
	first := pl[0]
	sp := findSpec(cmdlets, first.name)
	if sp == nil {
		if st := findSpec(stageSpecs, first.name); st != nil {
			return fmt.Errorf("%s needs input: pipe a Get- cmdlet into it, e.g. Get-TransportConfig | %s", st.name, first.name)
		}
		return &UnknownCmdletError{first.name}
	}
	a, err := bind(first, sp, in.t.Now())
	if err != nil {
		return err
	}
	if sp.needsOne && !sp.changesSomething(a) {
		what := "no parameter given"
		if req := sp.requiredNames(); len(req) > 0 {
			what = "no parameter besides -" + strings.Join(req, " and -") + " given"
		}
		return fmt.Errorf("%s: %s, so nothing would change. %s", sp.name, what, sp.usage())
	}
	items, err := sp.run(in, a)
	if err != nil {
		return err
	}
	formatted := false
	for _, c := range pl[1:] {
		st := findSpec(stageSpecs, c.name)
		if st == nil {
			if other := findSpec(cmdlets, c.name); other != nil {
				return fmt.Errorf("piping into %s is not supported by the emulator; give it -Identity instead", other.name)
			}
			return &UnknownCmdletError{c.name}
		}
		if formatted {
			return fmt.Errorf("the output of a Format- cmdlet cannot be piped into %s", st.name)
		}
		sa, err := bind(c, st, in.t.Now())
		if err != nil {
			return err
		}
		objs, texts := split(items)
		for _, t := range texts {
			b.WriteString(string(t) + "\n")
		}
		switch st.name {
		case stageSelect:
			items, err = selectObjects(b, objs, sa)
			if err != nil {
				return err
			}
		case stageList:
			var props []string
			if sa.has("Property") {
				props = sa.strs("Property")
			}
			if err := renderList(b, objs, props); err != nil {
				return withHint(err, objs)
			}
			formatted = true
		case stageTable:
			var props []string
			if sa.has("Property") {
				props = sa.strs("Property")
			}
			if err := renderTable(b, objs, props); err != nil {
				return withHint(err, objs)
			}
			formatted = true
		}
	}
	if !formatted {
		renderDefault(b, items)
	}
	return nil
}

func split(items []any) ([]*object, []text) {
	var objs []*object
	var texts []text
	for _, it := range items {
		switch x := it.(type) {
		case *object:
			objs = append(objs, x)
		case text:
			texts = append(texts, x)
		}
	}
	return objs, texts
}

func selectObjects(b *strings.Builder, objs []*object, sa args) ([]any, error) {
	if sa.has("First") && sa[`First`].n < len(objs) {
		objs = objs[:max(sa["First"].n, 0)]
	}
	if sa.has("ExpandProperty") {
		for _, o := range objs {
			names, err := o.resolve([]string{sa.str("ExpandProperty")})
			if err != nil {
				return nil, withHint(err, objs)
			}
			p, _ := o.get(names[0])
			if l, ok := p.val.([]string); ok {
				for _, s := range l {
					b.WriteString(s + "\n")
				}
				continue
			}
			if s := formatValue(p.val); s != "" {
				b.WriteString(s + "\n")
			}
		}
		return nil, nil
	}
	var out []any
	for _, o := range objs {
		names := o.names()
		if sa.has("Property") {
			var err error
			if names, err = o.resolve(sa.strs("Property")); err != nil {
				return nil, withHint(err, objs)
			}
		}
		out = append(out, o.pick(names))
	}
	return out, nil
}

// withHint appends why a property may be missing (Get-EXOCasMailbox returns
// some properties only when asked for).
func withHint(err error, objs []*object) error {
	for _, o := range objs {
		if o.hint != "" {
			return fmt.Errorf("%w (%s)", err, o.hint)
		}
	}
	return err
}
