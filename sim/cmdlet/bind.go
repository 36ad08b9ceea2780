package cmdlet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// kind is a parameter's .NET type as far as binding is concerned.
type kind int

const (
	kString       kind = iota // System.String; $null refused
	kStringOrNull             // System.String where $null clears the setting
	kStrings                  // System.String[] / multi-valued
	kBool                     // System.Boolean: $true/$false/1/0, value required
	kNullableBool             // Nullable<bool>: also $null
	kSwitch                   // SwitchParameter: -X or -X:$false only
	kSwitchOrBool             // Graph SDK style: -X, -X:$false or -X $false
	kDate                     // System.DateTime
	kDuration                 // emulator-only: "30s"
	kInt                      // System.Int32
)

func (k kind) typeName() string {
	switch k {
	case kStrings:
		return "System.String[]"
	case kBool, kSwitchOrBool:
		return "System.Boolean"
	case kNullableBool:
		return "System.Nullable[bool]"
	case kSwitch:
		return "System.Management.Automation.SwitchParameter"
	case kDate:
		return "System.DateTime"
	case kDuration:
		return "System.TimeSpan"
	case kInt:
		return "System.Int32"
	}
	return "System.String"
}

type param struct {
	name     string
	kind     kind
	required bool
	pos      int      // positional index, -1 when named only
	enum     []string // allowed values, case-insensitive (canonical spelling)
	secret   bool     // value never echoed (passwords)
	aliases  []string
}

// named and positional build params tersely in the cmdlet table.
func named(name string, k kind) param { return param{name: name, kind: k, pos: -1} }

func (p param) req() param              { p.required = true; return p }
func (p param) at(i int) param          { p.pos = i; return p }
func (p param) hidden() param           { p.secret = true; return p }
func (p param) oneOf(v ...string) param { p.enum = v; return p }
func (p param) alias(a ...string) param { p.aliases = a; return p }

// value is a bound parameter value.
type value struct {
	set   bool
	null  bool
	s     string
	list  []string
	b     bool
	t     time.Time
	d     time.Duration
	n     int
	param *param
}

// args holds the bound parameters of one invocation, keyed by canonical name.
type args map[string]*value

func (a args) has(name string) bool { v, ok := a[name]; return ok && v.set }

func (a args) str(name string) string {
	if v, ok := a[name]; ok {
		return v.s
	}
	return ""
}

func (a args) strs(name string) []string {
	if v, ok := a[name]; ok {
		return v.list
	}
	return nil
}

func (a args) boolean(name string) bool {
	if v, ok := a[name]; ok {
		return v.b
	}
	return false
}

// nbool returns a Nullable<bool>: nil for $null.
func (a args) nbool(name string) *bool {
	v, ok := a[name]
	if !ok || v.null {
		return nil
	}
	b := v.b
	return &b
}

// bind matches a command's elements to a cmdlet's parameters the way
// PowerShell does: names case-insensitive and abbreviable to any unique
// prefix, positionals in order, every unknown name an error.
func bind(c *command, sp *spec, now time.Time) (args, error) {
	a := args{}
	// Named parameters first, then the positional arguments to the
	// positional parameters still unbound, in position order — PowerShell's
	// order, so that "-Identity X -Switch $false" leaves $false with no
	// parameter to go to instead of colliding with -Identity.
	type positionalArg struct {
		val   *expr
		after *param // the switch just before it, written without a colon
	}
	var positionals []positionalArg
	var prevSwitch *param
	for i := 0; i < len(c.elems); i++ {
		e := c.elems[i]
		if !e.param {
			positionals = append(positionals, positionalArg{val: e.val, after: prevSwitch})
			prevSwitch = nil
			continue
		}
		prevSwitch = nil
		p, err := sp.lookup(e.name)
		if err != nil {
			return nil, err
		}
		if a.has(p.name) {
			return nil, fmt.Errorf("Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\"", p.name)
		}
		var ex *expr
		switch {
		case e.colon:
			ex = e.val
		case p.kind == kSwitch:
			ex = &expr{kind: eBool, b: true}
			prevSwitch = p
		case p.kind == kSwitchOrBool:
			ex = &expr{kind: eBool, b: true}
			if i+1 < len(c.elems) && !c.elems[i+1].param && c.elems[i+1].val.kind == eBool {
				ex = c.elems[i+1].val
				i++
			}
		default:
			if i+1 >= len(c.elems) || c.elems[i+1].param {
				return nil, fmt.Errorf("Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.name, p.kind.typeName())
			}
			i++
			ex = c.elems[i].val
		}
		v, err := convert(p, ex, now)
		if err != nil {
			return nil, err
		}
		a[p.name] = v
	}
	free := sp.unboundPositionals(a)
	for i, pa := range positionals {
		if i >= len(free) {
			hint := ""
			if sw := pa.after; sw != nil && pa.val.kind == eBool {
				// A switch takes no separate value: the admin meant the
				// colon form.
				lit := "$false"
				if pa.val.b {
					lit = "$true"
				}
				hint = fmt.Sprintf(" -%s is a switch: write -%s:%s.", sw.name, sw.name, lit)
			}
			return nil, fmt.Errorf("A positional parameter cannot be found that accepts argument '%s'.%s %s", pa.val.text(), hint, sp.usage())
		}
		v, err := convert(free[i], pa.val, now)
		if err != nil {
			return nil, err
		}
		a[free[i].name] = v
	}
	var missing []string
	for i := range sp.params {
		if sp.params[i].required && !a.has(sp.params[i].name) {
			missing = append(missing, sp.params[i].name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing mandatory parameter(s): -%s (the emulator cannot prompt). %s", sp.name, strings.Join(missing, ", -"), sp.usage())
	}
	return a, nil
}

// unboundPositionals lists the positional parameters not bound by name,
// in position order.
func (sp *spec) unboundPositionals(a args) []*param {
	var out []*param
	for pos := 0; ; pos++ {
		var p *param
		for j := range sp.params {
			if sp.params[j].pos == pos {
				p = &sp.params[j]
			}
		}
		if p == nil {
			return out
		}
		if !a.has(p.name) {
			out = append(out, p)
		}
	}
}

func (sp *spec) lookup(name string) (*param, error) {
	var matches []*param
	for i := range sp.params {
		p := &sp.params[i]
		if strings.EqualFold(p.name, name) {
			return p, nil
		}
		for _, al := range p.aliases {
			if strings.EqualFold(al, name) {
				return p, nil
			}
		}
		if len(name) > 0 && len(name) < len(p.name) && strings.EqualFold(p.name[:len(name)], name) {
			matches = append(matches, p)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, fmt.Errorf("A parameter cannot be found that matches parameter name '%s'. %s", name, sp.usage())
	}
	var names []string
	for _, m := range matches {
		names = append(names, "-"+m.name)
	}
	return nil, fmt.Errorf("Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: %s.", name, strings.Join(names, " "))
}

// usage lists a cmdlet's parameters for error messages.
func (sp *spec) usage() string {
	var parts []string
	for _, p := range sp.params {
		s := "-" + p.name
		switch p.kind {
		case kSwitch:
		case kSwitchOrBool:
			s += "[:$true|$false]"
		default:
			s += " <" + strings.TrimPrefix(p.kind.typeName(), "System.") + ">"
		}
		if !p.required {
			s = "[" + s + "]"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return sp.name + " takes no parameters."
	}
	return "Parameters of " + sp.name + ": " + strings.Join(parts, " ")
}

func boolConvError(p *param, shown string) error {
	return fmt.Errorf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.", p.name, shown)
}

// convert turns a parsed value into the parameter's type, with PowerShell's
// conversion errors.
func convert(p *param, e *expr, now time.Time) (*value, error) {
	v := &value{set: true, param: p}
	if e.kind == eNull {
		switch p.kind {
		case kStringOrNull, kNullableBool:
			v.null = true
			return v, nil
		case kBool, kSwitch, kSwitchOrBool:
			return nil, boolConvError(p, "")
		}
		return nil, fmt.Errorf("Cannot bind argument to parameter '%s' because it is null.", p.name)
	}
	if e.kind == eList && p.kind != kStrings {
		return nil, fmt.Errorf("Cannot convert 'System.Object[]' to the type '%s' required by parameter '%s'. Specified method is not supported.", p.kind.typeName(), p.name)
	}
	switch p.kind {
	case kString, kStringOrNull:
		s, err := scalarString(p, e)
		if err != nil {
			return nil, err
		}
		if err := checkEnum(p, &s); err != nil {
			return nil, err
		}
		v.s = s
	case kStrings:
		items := []*expr{e}
		if e.kind == eList {
			items = e.list
		}
		for _, it := range items {
			if it.kind == eNull {
				return nil, fmt.Errorf("Cannot bind argument to parameter '%s' because it contains a null element.", p.name)
			}
			if it.kind == eList {
				return nil, fmt.Errorf("Cannot bind parameter '%s': nested lists are not supported", p.name)
			}
			s, err := scalarString(p, it)
			if err != nil {
				return nil, err
			}
			if err := checkEnum(p, &s); err != nil {
				return nil, err
			}
			v.list = append(v.list, s)
		}
	case kBool, kNullableBool, kSwitch, kSwitchOrBool:
		switch {
		case e.kind == eBool:
			v.b = e.b
		case e.kind == eStr && !e.quoted && isNumber(e.s):
			// PowerShell converts numbers: 0 is false, anything else true.
			f, _ := strconv.ParseFloat(e.s, 64)
			v.b = f != 0
		default:
			return nil, boolConvError(p, e.text())
		}
	case kDate:
		switch e.kind {
		case eNow:
			v.t = now.Add(e.offset)
		case eStr:
			t, ok := parseDate(e.s)
			if !ok {
				hint := ""
				if strings.HasPrefix(e.s, "[") {
					hint = " (write $(" + e.s + ") to evaluate it)"
				}
				return nil, fmt.Errorf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.DateTime\". Error: \"String was not recognized as a valid DateTime.\"%s", p.name, e.s, hint)
			}
			v.t = t
		default:
			return nil, fmt.Errorf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.DateTime\".", p.name, e.text())
		}
	case kDuration:
		s, err := scalarString(p, e)
		if err != nil {
			return nil, err
		}
		d, err := time.ParseDuration(s)
		if err != nil && isNumber(s) {
			// A bare number is seconds.
			var f float64
			f, err = strconv.ParseFloat(s, 64)
			d = time.Duration(f * float64(time.Second))
		}
		if err != nil || d < 0 {
			return nil, fmt.Errorf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to a duration; write it like 30s, 5m or 1h30m.", p.name, s)
		}
		v.d = d
	case kInt:
		s, err := scalarString(p, e)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", p.name, s)
		}
		v.n = n
	}
	return v, nil
}

func scalarString(p *param, e *expr) (string, error) {
	switch e.kind {
	case eStr:
		return e.s, nil
	case eBool:
		return e.text(), nil
	case eNow:
		return "", fmt.Errorf("Cannot convert a date to the type '%s' required by parameter '%s'.", p.kind.typeName(), p.name)
	}
	return "", fmt.Errorf("Cannot bind parameter '%s' to value %q", p.name, e.text())
}

func checkEnum(p *param, s *string) error {
	if p.enum == nil {
		return nil
	}
	for _, e := range p.enum {
		if strings.EqualFold(e, *s) {
			*s = e
			return nil
		}
	}
	return fmt.Errorf("Cannot bind parameter '%s'. Cannot convert value \"%s\" to the type this parameter takes. Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again: %s\"", p.name, *s, *s, strings.Join(p.enum, ", "))
}

var numberRe = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

func isNumber(s string) bool { return numberRe.MatchString(s) }

// dateLayouts are the forms admins type: ISO 8601 and en-US.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006",
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// intOr is an int parameter's value, or def when it was not given.
func (v *value) intOr(def int) int {
	if v == nil || !v.set {
		return def
	}
	return v.n
}
