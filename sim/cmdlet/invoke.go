package cmdlet

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The interpreter's side of Exchange's admin InvokeCommand endpoint
// (../shared/tenant-api.md §8): the Exchange Get- cmdlets run from a JSON
// CmdletInput, results as typed property lists with Exchange's names.

// Property is one property of a cmdlet result. Value is a JSON-ready
// value: string, bool, nil, int, []string, or a string for dates and
// TimeSpans.
type Property struct {
	Name  string
	Value any
}

// Row is one result object.
type Row []Property

// InvokeErrorKind classifies a refused InvokeCommand call the way the
// endpoint answers it (tenant-api.md §8.5).
type InvokeErrorKind int

const (
	// InvokeUnknownCmdlet: not a cmdlet the endpoint runs for this caller
	// (unknown, or not a read): 403 with NUL bytes.
	InvokeUnknownCmdlet InvokeErrorKind = iota
	// InvokeBadParameter: a parameter the cmdlet does not have
	// (AmbiguousParameterSetException).
	InvokeBadParameter
	// InvokeTransform: a value that does not convert
	// (ParameterTransformationException).
	InvokeTransform
	// InvokeNotFound: the identity does not resolve
	// (ManagementObjectNotFoundException, inferred).
	InvokeNotFound
	// InvokeFailed: anything else the cmdlet refused.
	InvokeFailed
)

// InvokeError is a refused InvokeCommand call.
type InvokeError struct {
	Kind InvokeErrorKind
	Msg  string
}

func (e *InvokeError) Error() string { return e.Msg }

// ReadCmdlet returns the canonical name of an Exchange Get- cmdlet the
// admin API runs, case-insensitively (§8.2: "cmdlet names are
// case-insensitive"). Graph SDK cmdlets, emulator knobs and the module-only
// Get-EXOCasMailbox are not Exchange server cmdlets (§8.8: whether
// InvokeCommand accepts Get-EXOCasMailbox "is not confirmed"; refused).
func ReadCmdlet(name string) (string, bool) {
	for _, sp := range exchangeCmdlets() {
		if !strings.EqualFold(sp.name, name) {
			continue
		}
		n := sp.name
		if !strings.HasPrefix(n, "Get-") || strings.HasPrefix(n, "Get-Mg") || n == "Get-EXOCasMailbox" {
			return "", false
		}
		return n, true
	}
	return "", false
}

// Invoke runs a read cmdlet with JSON parameters (from a decoder with
// UseNumber) and returns its rows and warnings.
func (in *Interpreter) Invoke(name string, params map[string]any) ([]Row, []string, error) {
	canon, ok := ReadCmdlet(name)
	if !ok {
		return nil, nil, &InvokeError{Kind: InvokeUnknownCmdlet, Msg: fmt.Sprintf("cmdlet %q is not served", name)}
	}
	sp := findSpec(cmdlets, canon)
	c := &command{name: canon}
	for k, v := range params {
		p := exactParam(sp, k)
		if p == nil {
			// §8.5, live: "Parameter set cannot be resolved using the
			// specified named parameters. Invalid cmdlet parameters
			// specified. BogusParameter".
			return nil, nil, &InvokeError{Kind: InvokeBadParameter,
				Msg: "Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. " + k}
		}
		e, err := jsonExpr(v)
		if err != nil {
			return nil, nil, &InvokeError{Kind: InvokeTransform,
				Msg: fmt.Sprintf("Cannot process argument transformation on parameter '%s'. %v", p.name, err)}
		}
		c.elems = append(c.elems, elem{param: true, name: p.name, colon: true, val: e})
	}
	a, err := bind(c, sp, in.t.Now())
	if err != nil {
		return nil, nil, &InvokeError{Kind: InvokeTransform, Msg: err.Error()}
	}
	items, err := sp.run(in, a)
	if err != nil {
		if _, nf := err.(*NotFoundError); nf {
			return nil, nil, &InvokeError{Kind: InvokeNotFound, Msg: err.Error()}
		}
		if strings.HasPrefix(err.Error(), "Cannot process argument transformation") {
			// e.g. ResultSize "lots" (§8.5's ParameterTransformationException).
			return nil, nil, &InvokeError{Kind: InvokeTransform, Msg: err.Error()}
		}
		return nil, nil, &InvokeError{Kind: InvokeFailed, Msg: err.Error()}
	}
	var rows []Row
	var warnings []string
	for _, it := range items {
		switch x := it.(type) {
		case *object:
			row := Row{}
			for _, p := range x.props {
				row = append(row, Property{Name: p.name, Value: jsonValue(p.val)})
			}
			rows = append(rows, row)
		case text:
			warnings = append(warnings, strings.TrimPrefix(string(x), "WARNING: "))
		}
	}
	return rows, warnings, nil
}

// exactParam finds a parameter by its full name or alias: the admin API
// binds named parameters only, without PowerShell's prefix matching
// (inferred).
func exactParam(sp *spec, name string) *param {
	for i := range sp.params {
		p := &sp.params[i]
		if strings.EqualFold(p.name, name) {
			return p
		}
		for _, al := range p.aliases {
			if strings.EqualFold(al, name) {
				return p
			}
		}
	}
	return nil
}

// jsonExpr turns a JSON parameter value into an argument expression.
func jsonExpr(v any) (*expr, error) {
	switch x := v.(type) {
	case nil:
		return &expr{kind: eNull}, nil
	case bool:
		return &expr{kind: eBool, b: x}, nil
	case string:
		return &expr{kind: eStr, s: x, quoted: true}, nil
	case json.Number:
		return &expr{kind: eStr, s: x.String()}, nil
	case float64:
		return &expr{kind: eStr, s: fmt.Sprint(x)}, nil
	case []any:
		e := &expr{kind: eList}
		for _, it := range x {
			sub, err := jsonExpr(it)
			if err != nil {
				return nil, err
			}
			e.list = append(e.list, sub)
		}
		return e, nil
	}
	return nil, fmt.Errorf("Cannot convert the value of type %T", v)
}

// jsonValue maps a property value to JSON as the admin API types it
// (§8.3: "Values are JSON-typed: booleans, null for unset tri-states,
// strings for enums and TimeSpans"). An empty string is an unset value:
// null (as DefaultAuthenticationPolicy in the live record, §8.8).
func jsonValue(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return x
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case time.Time:
		if x.IsZero() {
			return nil
		}
		return x.UTC().Format(time.RFC3339) // inferred: ISO 8601
	case time.Duration:
		return formatTimeSpan(x)
	case []string:
		if x == nil {
			return []string{}
		}
		return x
	}
	return v
}
