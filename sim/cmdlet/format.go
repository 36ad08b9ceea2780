package cmdlet

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// prop is one property of an output object. Values are string, bool, *bool
// (nil prints blank, like $null), int, time.Time (zero prints blank),
// []string (printed {a, b}) or nil.
type prop struct {
	name string
	val  any
}

// object is what a cmdlet writes to the pipeline, with the default view
// PowerShell's format data would pick for it.
type object struct {
	props []prop
	// table: columns of the default table view; nil means the default view
	// is a list of every property.
	table []string
	// hint explains properties the object leaves out unless asked for.
	hint string
}

// text is a line written outside the object pipeline (WARNING: ...).
type text string

func (o *object) get(name string) (prop, bool) {
	for _, p := range o.props {
		if strings.EqualFold(p.name, name) {
			return p, true
		}
	}
	return prop{}, false
}

func (o *object) names() []string {
	n := make([]string, len(o.props))
	for i, p := range o.props {
		n[i] = p.name
	}
	return n
}

// resolve expands property patterns (wildcards allowed, case-insensitive)
// against an object. A plain name that matches nothing is an error: real
// PowerShell prints a blank column, which would silently hide a typo in a
// property whose blank value means something (SmtpClientAuthenticationDisabled).
func (o *object) resolve(patterns []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, pat := range patterns {
		if strings.ContainsAny(pat, "*?[") {
			for _, p := range o.props {
				if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(p.name)); ok {
					add(p.name)
				}
			}
			continue
		}
		p, ok := o.get(pat)
		if !ok {
			return nil, fmt.Errorf("property '%s' does not exist on this object; its properties are: %s", pat, strings.Join(o.names(), ", "))
		}
		add(p.name)
	}
	return out, nil
}

func (o *object) pick(names []string) *object {
	n := &object{}
	for _, name := range names {
		p, _ := o.get(name)
		n.props = append(n.props, p)
	}
	// PowerShell shows objects with up to four properties as a table.
	if len(n.props) <= 4 {
		n.table = names
	}
	return n
}

// psDate is how an en-US PowerShell session prints a DateTime.
const psDate = "1/2/2006 3:04:05 PM"

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case *bool:
		if x == nil {
			return ""
		}
		return formatValue(*x)
	case int:
		return strconv.Itoa(x)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(psDate)
	case time.Duration:
		return formatTimeSpan(x)
	case []string:
		return "{" + strings.Join(x, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// formatTimeSpan prints a duration as .NET prints a TimeSpan: [d.]hh:mm:ss.
func formatTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60)
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// rightAligned: PowerShell right-aligns numbers, booleans and dates in
// tables and left-aligns strings and everything else.
func rightAligned(v any) bool {
	switch x := v.(type) {
	case bool, int, time.Duration:
		return true
	case *bool:
		return x != nil
	case time.Time:
		return !x.IsZero()
	}
	return false
}

// renderList writes objects as Format-List does.
func renderList(b *strings.Builder, objs []*object, props []string) error {
	b.WriteString("\n")
	for _, o := range objs {
		names := o.names()
		if props != nil {
			var err error
			if names, err = o.resolve(props); err != nil {
				return err
			}
		}
		w := 0
		for _, n := range names {
			w = max(w, len(n))
		}
		for _, n := range names {
			p, _ := o.get(n)
			line := fmt.Sprintf("%-*s : %s", w, p.name, formatValue(p.val))
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
		b.WriteString("\n")
	}
	return nil
}

// renderTable writes objects as Format-Table does; columns come from the
// first object, as in PowerShell.
func renderTable(b *strings.Builder, objs []*object, cols []string) error {
	if len(objs) == 0 {
		return nil
	}
	if cols == nil {
		cols = objs[0].table
		if cols == nil {
			cols = objs[0].names()
		}
	} else {
		var err error
		if cols, err = objs[0].resolve(cols); err != nil {
			return err
		}
	}
	cells := make([][]string, len(objs))
	width := make([]int, len(cols))
	right := make([]bool, len(cols))
	headers := make([]string, len(cols))
	for j, c := range cols {
		p, ok := objs[0].get(c)
		if ok {
			headers[j] = p.name
		} else {
			headers[j] = c
		}
		width[j] = len(headers[j])
		right[j] = ok && rightAligned(p.val)
	}
	for i, o := range objs {
		cells[i] = make([]string, len(cols))
		for j, c := range cols {
			p, _ := o.get(c)
			cells[i][j] = formatValue(p.val)
			width[j] = max(width[j], len(cells[i][j]))
		}
	}
	row := func(vals []string) {
		parts := make([]string, len(vals))
		for j, v := range vals {
			if right[j] {
				parts[j] = fmt.Sprintf("%*s", width[j], v)
			} else {
				parts[j] = fmt.Sprintf("%-*s", width[j], v)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, " "), " ") + "\n")
	}
	dashes := make([]string, len(cols))
	for j, h := range headers {
		dashes[j] = strings.Repeat("-", len(h))
	}
	b.WriteString("\n")
	row(headers)
	row(dashes)
	for _, c := range cells {
		row(c)
	}
	b.WriteString("\n")
	return nil
}

// renderDefault writes pipeline output with each object's default view,
// one table for a run of objects that share the same columns.
func renderDefault(b *strings.Builder, items []any) {
	for i := 0; i < len(items); {
		switch x := items[i].(type) {
		case text:
			b.WriteString(string(x) + "\n")
			i++
		case *object:
			if x.table == nil {
				_ = renderList(b, []*object{x}, nil)
				i++
				continue
			}
			run := []*object{x}
			j := i + 1
			for ; j < len(items); j++ {
				y, ok := items[j].(*object)
				if !ok || y.table == nil || strings.Join(y.table, "\x00") != strings.Join(x.table, "\x00") {
					break
				}
				run = append(run, y)
			}
			_ = renderTable(b, run, nil)
			i = j
		default:
			i++
		}
	}
}
