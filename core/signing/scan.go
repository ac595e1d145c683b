package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"hearth/core/canonicaljson"
)

// The functions in this file walk JSON text that is already canonical (no
// whitespace, keys sorted by code point, one spelling per value), which lets
// signing find, remove and insert object members by byte offsets instead of
// decoding and re-encoding whole objects. They still check every bound so
// that malformed input yields an error rather than a panic.

var errMalformed = errors.New("malformed canonical JSON")

// member is one member of a canonical object: key is the quoted key as
// written, start the offset of its opening quote, val the offset of its
// value and end the offset just past the value.
type member struct {
	key             []byte
	start, val, end int
}

// objectScanner yields the members of one canonical JSON object in order.
type objectScanner struct {
	b   []byte
	pos int
}

func newObjectScanner(obj []byte) (objectScanner, error) {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return objectScanner{}, errors.New("not a JSON object")
	}
	return objectScanner{b: obj, pos: 1}, nil
}

// next returns the next member, or ok == false after the last one.
func (s *objectScanner) next() (m member, ok bool, err error) {
	b := s.b
	if s.pos >= len(b)-1 {
		return member{}, false, nil
	}
	if b[s.pos] != '"' {
		return member{}, false, fmt.Errorf("%w: want a key at offset %d", errMalformed, s.pos)
	}
	start := s.pos
	keyEnd, err := skipString(b, start)
	if err != nil {
		return member{}, false, err
	}
	if keyEnd >= len(b) || b[keyEnd] != ':' {
		return member{}, false, fmt.Errorf("%w: want ':' at offset %d", errMalformed, keyEnd)
	}
	end, err := skipValue(b, keyEnd+1)
	if err != nil {
		return member{}, false, err
	}
	switch {
	case end == len(b)-1:
		s.pos = end
	case end < len(b)-1 && b[end] == ',':
		s.pos = end + 1
	default:
		return member{}, false, fmt.Errorf("%w: want ',' or '}' at offset %d", errMalformed, end)
	}
	return member{key: b[start:keyEnd], start: start, val: keyEnd + 1, end: end}, true, nil
}

// skipString returns the offset just past the string that opens at b[i].
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string", errMalformed)
}

// skipValue returns the offset just past the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", errMalformed)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				next, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = next
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, fmt.Errorf("%w: unterminated container", errMalformed)
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	if i == start {
		return 0, fmt.Errorf("%w: empty value at offset %d", errMalformed, start)
	}
	return i, nil
}

// unquote returns the text of a canonical JSON string literal, quotes
// included in raw. Literals without escapes, nearly all of them, cost no
// decoding.
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("%w: not a string", errMalformed)
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: string: %v", errMalformed, err)
	}
	return s, nil
}

// compareKey orders the quoted key raw against the plain string key by
// code point, which for UTF-8 is byte order; it returns -1, 0 or +1.
func compareKey(raw []byte, key string) (int, error) {
	if len(raw) >= 2 {
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return bytes.Compare(inner, []byte(key)), nil
		}
	}
	s, err := unquote(raw)
	if err != nil {
		return 0, err
	}
	switch {
	case s < key:
		return -1, nil
	case s > key:
		return 1, nil
	}
	return 0, nil
}

// find looks key up in the canonical object obj. It returns the member and
// true if present; otherwise it returns in m.start the offset at which a
// member with that key belongs to keep the object sorted.
func find(obj []byte, key string) (m member, found bool, err error) {
	s, err := newObjectScanner(obj)
	if err != nil {
		return member{}, false, err
	}
	for {
		m, ok, err := s.next()
		if err != nil {
			return member{}, false, err
		}
		if !ok {
			return member{start: len(obj) - 1}, false, nil
		}
		c, err := compareKey(m.key, key)
		if err != nil {
			return member{}, false, err
		}
		if c == 0 {
			return m, true, nil
		}
		if c > 0 {
			return member{start: m.start}, false, nil
		}
	}
}

// splice returns a copy of obj with the value of m replaced by val when
// found, or else with the member key:val inserted at offset m.start, where
// find said it belongs.
func splice(obj []byte, m member, found bool, key string, val []byte) ([]byte, error) {
	if found {
		out := make([]byte, 0, len(obj)-(m.end-m.val)+len(val))
		out = append(out, obj[:m.val]...)
		out = append(out, val...)
		return append(out, obj[m.end:]...), nil
	}
	out := make([]byte, 0, len(obj)+len(key)+len(val)+4)
	at := m.start
	out = append(out, obj[:at]...)
	if at == len(obj)-1 && len(obj) > 2 {
		out = append(out, ',')
	}
	out, err := appendString(out, key)
	if err != nil {
		return nil, err
	}
	out = append(out, ':')
	out = append(out, val...)
	if at < len(obj)-1 {
		out = append(out, ',')
	}
	return append(out, obj[at:]...), nil
}

// upsert sets key to the canonical value val in the canonical object obj.
func upsert(obj []byte, key string, val []byte) ([]byte, error) {
	m, found, err := find(obj, key)
	if err != nil {
		return nil, err
	}
	return splice(obj, m, found, key, val)
}

// appendString appends s as a canonical JSON string. Plain printable ASCII,
// the usual server name or key ID, is copied as is; anything else goes
// through the canonicaliser so that the escapes match canonical JSON.
func appendString(dst []byte, s string) ([]byte, error) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("string %q is not valid UTF-8", s)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode string %q: %w", s, err)
	}
	return canonicaljson.AppendCanonical(dst, raw, false)
}
