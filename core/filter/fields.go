package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hearth/core/internal/dotpath"
)

// ProjectFields applies f's event_fields to a client-format event: it returns
// a copy of event holding only the properties at the listed dot-separated
// paths (spec appendix "Dot-separated property paths", where "\." is a
// literal dot and "\\" a literal backslash), with the nested objects that
// lead to them. Paths that name nothing are skipped, as is a path through a
// value that is not an object. Without event_fields (nil or empty,
// which the spec allows a server to treat alike since it "may include more
// fields than were requested"), event is returned unchanged. Values are
// copied byte for byte.
func (f *Filter) ProjectFields(event []byte) ([]byte, error) {
	if f == nil || len(f.EventFields) == 0 {
		return event, nil
	}
	root := &fieldTree{}
	for _, p := range f.EventFields {
		root.add(dotpath.Split(p))
	}
	out, err := root.project(event)
	if err != nil {
		return nil, fmt.Errorf("filter: projecting event fields: %w", err)
	}
	return out, nil
}

// fieldTree is the set of requested paths as a tree of property names. A
// node with whole set takes the entire value, whatever deeper paths ask for.
type fieldTree struct {
	whole bool
	kids  map[string]*fieldTree
}

// add inserts one path.
func (t *fieldTree) add(path []string) {
	for _, name := range path {
		if t.whole {
			return
		}
		if t.kids == nil {
			t.kids = make(map[string]*fieldTree)
		}
		next := t.kids[name]
		if next == nil {
			next = &fieldTree{}
			t.kids[name] = next
		}
		t = next
	}
	t.whole, t.kids = true, nil
}

// project keeps the parts of the JSON object raw that t asks for.
func (t *fieldTree) project(raw []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(t.kids))
	for name, kid := range t.kids {
		v, ok := obj[name]
		if !ok {
			continue
		}
		if kid.whole {
			out[name] = v
			continue
		}
		if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '{' {
			continue
		}
		sub, err := kid.project(v)
		if err != nil {
			return nil, err
		}
		if string(sub) != "{}" { // leads to none of the requested fields
			out[name] = sub
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
