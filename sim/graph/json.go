package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// obj is a JSON object that keeps its keys in the order Microsoft's
// examples show them (tenant-api.md quotes them; clients must not care, but
// a reader comparing with the docs should not have to hunt).
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o obj) get(k string) (any, bool) {
	for _, e := range o {
		if strings.EqualFold(e.k, k) {
			return e.v, true
		}
	}
	return nil, false
}

// project keeps the $select properties, in the order asked; unknown names
// are an error (Graph: 400 "Could not find a property named …").
func (o obj) project(sel []string, typ string) (obj, *apiError) {
	if len(sel) == 0 {
		return o, nil
	}
	var out obj
	for _, name := range sel {
		found := false
		for _, e := range o {
			if strings.EqualFold(e.k, name) {
				out = append(out, e)
				found = true
				break
			}
		}
		if !found {
			return nil, errNoProperty(name, typ)
		}
	}
	return out, nil
}

// graphTime formats a DateTimeOffset as Graph does: UTC, "Z", up to seven
// fractional digits (tenant-api.md §5.6: "2020-03-13T19:15:41.6195833Z").
func graphTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z")
}

// strOrNil renders "" as null.
func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// list makes a JSON array of a possibly nil slice ([] rather than null).
func list[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
