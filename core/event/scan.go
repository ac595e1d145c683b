package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// The helpers in this file read and edit JSON that is already in canonical
// form (the output of package canonicaljson): no whitespace, minimal string
// escapes, sorted unique object keys. Working on canonical bytes by offset is
// what lets the event code redact, hash and sign an event without decoding it
// into maps and encoding it again. They never panic on other input: a
// malformed document is reported as errMalformed.

// errMalformed reports bytes that are not the canonical JSON the helpers
// expect. Callers wrap it in ErrInvalid.
var errMalformed = errors.New("malformed canonical JSON")

// member locates one member of a canonical JSON object b: b[start:colon] is
// the quoted key, b[colon+1:end] the value.
type member struct {
	start, colon, end int
}

// key returns the member's key as written, quotes included.
func (m member) key(b []byte) []byte { return b[m.start:m.colon] }

// value returns the member's value as written.
func (m member) value(b []byte) []byte { return b[m.colon+1 : m.end] }

// objectScanner walks the members of one canonical JSON object in order.
type objectScanner struct {
	b    []byte
	pos  int
	done bool
}

// newObjectScanner starts a walk over the object obj.
func newObjectScanner(obj []byte) (objectScanner, error) {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return objectScanner{}, errMalformed
	}
	return objectScanner{b: obj, pos: 1, done: len(obj) == 2}, nil
}

// next returns the next member, or ok == false after the last one.
func (s *objectScanner) next() (m member, ok bool, err error) {
	if s.done {
		return member{}, false, nil
	}
	b := s.b
	if s.pos >= len(b) || b[s.pos] != '"' {
		return member{}, false, errMalformed
	}
	m.start = s.pos
	colon, err := skipString(b, s.pos)
	if err != nil {
		return member{}, false, err
	}
	if colon >= len(b) || b[colon] != ':' {
		return member{}, false, errMalformed
	}
	m.colon = colon
	end, err := skipValue(b, colon+1)
	if err != nil {
		return member{}, false, err
	}
	m.end = end
	if end >= len(b) {
		return member{}, false, errMalformed
	}
	switch b[end] {
	case ',':
		s.pos = end + 1
	case '}':
		if end != len(b)-1 {
			return member{}, false, errMalformed
		}
		s.done = true
	default:
		return member{}, false, errMalformed
	}
	return m, true, nil
}

// skipString returns the offset just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errMalformed
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errMalformed
}

// skipValue returns the offset just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
			j++
		}
		return 0, errMalformed
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		if j == i {
			return 0, errMalformed
		}
		return j, nil
	}
}

// arrayElements calls fn with each element of the canonical JSON array arr.
func arrayElements(arr []byte, fn func(elem []byte) error) error {
	if len(arr) < 2 || arr[0] != '[' || arr[len(arr)-1] != ']' {
		return errMalformed
	}
	if len(arr) == 2 {
		return nil
	}
	for i := 1; ; {
		end, err := skipValue(arr, i)
		if err != nil {
			return err
		}
		if err := fn(arr[i:end]); err != nil {
			return err
		}
		if end >= len(arr) {
			return errMalformed
		}
		switch arr[end] {
		case ',':
			i = end + 1
		case ']':
			if end != len(arr)-1 {
				return errMalformed
			}
			return nil
		default:
			return errMalformed
		}
	}
}

// findMember returns the member of the canonical object obj whose key is
// key. Keys are sorted, so the walk stops at the first larger key.
func findMember(obj []byte, key string) (member, bool, error) {
	s, err := newObjectScanner(obj)
	if err != nil {
		return member{}, false, err
	}
	for {
		m, ok, err := s.next()
		if err != nil || !ok {
			return member{}, false, err
		}
		c, err := compareKey(m.key(obj), key)
		if err != nil {
			return member{}, false, err
		}
		if c == 0 {
			return m, true, nil
		}
		if c > 0 {
			return member{}, false, nil
		}
	}
}

// compareKey orders the quoted canonical key raw against the plain key, by
// code point as canonical JSON sorts keys (byte order of UTF-8 is code point
// order).
func compareKey(raw []byte, key string) (int, error) {
	if len(raw) < 2 {
		return 0, errMalformed
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return compareBytes(inner, key), nil
	}
	decoded, err := unquote(raw)
	if err != nil {
		return 0, err
	}
	return strings.Compare(decoded, key), nil
}

// compareBytes is strings.Compare(string(b), s) without the conversion.
func compareBytes(b []byte, s string) int {
	for i := 0; i < len(b) && i < len(s); i++ {
		if b[i] != s[i] {
			if b[i] < s[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(b) < len(s):
		return -1
	case len(b) > len(s):
		return 1
	}
	return 0
}

// unquote decodes a JSON string literal, quotes included.
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errMalformed
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errMalformed
	}
	return s, nil
}

// isString reports whether the JSON value v is a string.
func isString(v []byte) bool { return len(v) >= 2 && v[0] == '"' }

// isObject reports whether the JSON value v is an object.
func isObject(v []byte) bool { return len(v) >= 2 && v[0] == '{' }

// isArray reports whether the JSON value v is an array.
func isArray(v []byte) bool { return len(v) >= 2 && v[0] == '[' }

const hexDigits = "0123456789abcdef"

// appendString appends s as a canonical JSON string: quote, backslash and
// control characters escaped (the short forms where JSON has them), all else
// raw UTF-8. s must be valid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validString reports whether s can be written as a JSON string: canonical
// JSON carries only valid UTF-8.
func validString(s string) bool { return utf8.ValidString(s) }

// setMember returns a copy of the canonical object obj with the member key
// set to the canonical JSON value val: replaced if present, otherwise
// inserted where key order puts it.
func setMember(obj []byte, key string, val []byte) ([]byte, error) {
	s, err := newObjectScanner(obj)
	if err != nil {
		return nil, err
	}
	at, replaceEnd := len(obj)-1, -1
	for {
		m, ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		c, err := compareKey(m.key(obj), key)
		if err != nil {
			return nil, err
		}
		if c >= 0 {
			at = m.start
			if c == 0 {
				replaceEnd = m.end
			}
			break
		}
	}
	out := make([]byte, 0, len(obj)+len(key)+len(val)+4)
	out = append(out, obj[:at]...)
	if at == len(obj)-1 && len(obj) > 2 {
		out = append(out, ',') // appending after the last member
	}
	out = appendString(out, key)
	out = append(out, ':')
	out = append(out, val...)
	switch {
	case replaceEnd >= 0:
		out = append(out, obj[replaceEnd:]...)
	case at == len(obj)-1:
		out = append(out, '}')
	default:
		out = append(out, ',')
		out = append(out, obj[at:]...)
	}
	return out, nil
}
