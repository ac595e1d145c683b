package pushrules

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Push rules read a few properties of an event's content, and most of a
// message's content is text that no rule looks at: decoding all of it
// into maps was most of the cost of evaluating. So a view keeps the
// content as JSON text, checked and indexed by top-level key in one pass,
// and decodes only the values that rules look up. The checks follow
// encoding/json's grammar exactly, so that a view accepts and refuses
// what decoding with encoding/json did, and every decoded value is what
// encoding/json (with UseNumber) gives for the same text.

// maxDepth is the deepest nesting of objects and arrays that
// encoding/json accepts.
const maxDepth = 10000

// member is one member of a JSON object.
type member struct {
	// name is the key's JSON text between its quotes when that is the
	// key itself (no escapes, valid UTF-8), else the decoded key.
	name string
	// value is the value's JSON text.
	value string
}

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data string, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// checkValue checks the JSON value that starts at data[i], inside depth
// objects and arrays, and returns the index just after it, or ok false if
// the text there is not a JSON value (or nests deeper than encoding/json
// allows). What follows the value is not looked at.
func checkValue(data string, i, depth int) (end int, ok bool) {
	var small [32]bool
	open := small[:0] // for each container the value is inside, whether it is an object
	for {
		// A value starts at i.
		if i >= len(data) {
			return 0, false
		}
		switch c := data[i]; c {
		case '{', '[':
			if depth+len(open) == maxDepth {
				return 0, false
			}
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			if i = skipSpace(data, i+1); i < len(data) && data[i] == closer {
				i, ok = i+1, true
				break // an empty object or array
			}
			open = append(open, c == '{')
			if c == '{' {
				if i, ok = checkKey(data, i); !ok {
					return 0, false
				}
			}
			continue
		case '"':
			i, _, ok = checkString(data, i)
		case 't':
			i, ok = checkLiteral(data, i, "true")
		case 'f':
			i, ok = checkLiteral(data, i, "false")
		case 'n':
			i, ok = checkLiteral(data, i, "null")
		default:
			i, ok = checkNumber(data, i)
		}
		if !ok {
			return 0, false
		}
		// A value ends at i: close the containers it completes, and
		// move to the next value of the innermost one still open.
		for {
			if len(open) == 0 {
				return i, true
			}
			if i = skipSpace(data, i); i == len(data) {
				return 0, false
			}
			object := open[len(open)-1]
			if data[i] == ',' {
				i = skipSpace(data, i+1)
				if object {
					if i, ok = checkKey(data, i); !ok {
						return 0, false
					}
				}
				break
			}
			if object && data[i] != '}' || !object && data[i] != ']' {
				return 0, false
			}
			open = open[:len(open)-1]
			i++
		}
	}
}

// checkKey checks an object member's key and the colon after it, starting
// at the key's opening quote, and returns the index where its value starts.
func checkKey(data string, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, false
	}
	i, _, ok := checkString(data, i)
	if !ok {
		return 0, false
	}
	if i = skipSpace(data, i); i == len(data) || data[i] != ':' {
		return 0, false
	}
	return skipSpace(data, i+1), true
}

// checkString checks the JSON string whose opening quote is at data[i] and
// returns the index after its closing quote. plain reports that its text
// between the quotes is the string itself: no escapes, and valid UTF-8
// (encoding/json decodes invalid UTF-8 to U+FFFD).
func checkString(data string, i int) (end int, plain, ok bool) {
	start := i + 1
	var high uint64 // the bytes passed eight at a time, or-ed together
	ascii, escaped := true, false
	for i++; ; i++ {
		// Most of a string is bytes that need no look: pass them eight
		// at a time.
		for i+8 <= len(data) {
			w := load64(data, i)
			if special(w) {
				break
			}
			high |= w
			i += 8
		}
		if i >= len(data) {
			return 0, false, false
		}
		switch c := data[i]; {
		case c == '"':
			ascii = ascii && high&(lsb*0x80) == 0
			plain = !escaped && (ascii || utf8.ValidString(data[start:i]))
			return i + 1, plain, true
		case c == '\\':
			escaped = true
			if i+1 == len(data) {
				return 0, false, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(data) {
					return 0, false, false
				}
				for j := i + 2; j < i+6; j++ {
					if !isHex(data[j]) {
						return 0, false, false
					}
				}
				i += 5
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
}

// lsb has the lowest bit of each byte of a word set.
const lsb = 0x0101010101010101

// load64 returns the eight bytes of s at i as a little-endian word.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// special reports whether a word's bytes include a quote, a backslash or a
// control character: the bytes of a JSON string that need a look. Each
// test is the classic "has a byte less than n": subtracting n from every
// byte sets a byte's top bit, where the byte's own top bit is clear, only
// if some byte is below n (a borrow starts at the lowest such byte).
func special(w uint64) bool {
	const top = lsb * 0x80
	quote := w ^ lsb*'"'
	backslash := w ^ lsb*'\\'
	return ((quote-lsb)&^quote|(backslash-lsb)&^backslash|(w-lsb*0x20)&^w)&top != 0
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// checkNumber checks the JSON number that starts at data[i] and returns the
// index after it.
func checkNumber(data string, i int) (int, bool) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i == len(data):
		return 0, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i == len(data) || !isDigit(data[i]) {
			return 0, false
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i == len(data) || !isDigit(data[i]) {
			return 0, false
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	return i, true
}

// checkLiteral checks that lit starts at data[i] and returns the index
// after it.
func checkLiteral(data string, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || data[i:i+len(lit)] != lit {
		return 0, false
	}
	return i + len(lit), true
}

// firstValue finds the first JSON value of data as json.Decoder.Decode
// reads it: after any whitespace, one whole value, whatever follows it
// (the decoder leaves what follows for its next call). ok is false where
// Decode fails. When the value is an object, members are its members,
// appended to buf.
func firstValue(data string, buf []member) (value string, members []member, ok bool) {
	start := skipSpace(data, 0)
	var end int
	if start < len(data) && data[start] == '{' {
		members, end, ok = indexObject(data, start, buf)
	} else {
		end, ok = checkValue(data, start, 0)
	}
	if !ok {
		return "", nil, false
	}
	return data[start:end], members, true
}

// indexObject checks the JSON object that starts at data[i], as
// checkValue does, and returns its members in order, appended to buf,
// and the index after it.
func indexObject(data string, i int, buf []member) (members []member, end int, ok bool) {
	members = buf[:0]
	if i = skipSpace(data, i+1); i < len(data) && data[i] == '}' {
		return members, i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, 0, false
		}
		keyEnd, plain, ok := checkString(data, i)
		if !ok {
			return nil, 0, false
		}
		name := data[i+1 : keyEnd-1]
		if !plain {
			name = decodeString(data[i:keyEnd], false)
		}
		if i = skipSpace(data, keyEnd); i == len(data) || data[i] != ':' {
			return nil, 0, false
		}
		i = skipSpace(data, i+1)
		valueEnd, ok := checkValue(data, i, 1)
		if !ok {
			return nil, 0, false
		}
		members = append(members, member{name: name, value: data[i:valueEnd]})
		if i = skipSpace(data, valueEnd); i == len(data) {
			return nil, 0, false
		}
		switch data[i] {
		case '}':
			return members, i + 1, true
		case ',':
			i = skipSpace(data, i+1)
		default:
			return nil, 0, false
		}
	}
}

// forEachMember calls fn with the key's JSON text (quotes included), the
// value's JSON text and whether the key is plain (see checkString) of each
// member of obj, a JSON object checked by checkValue, until fn returns
// false.
func forEachMember(obj string, fn func(key, value string, plain bool) bool) {
	i := skipSpace(obj, 1)
	if obj[i] == '}' {
		return
	}
	for {
		end, plain, _ := checkString(obj, i)
		key := obj[i:end]
		i = skipSpace(obj, skipSpace(obj, end)+1)
		end, _ = checkValue(obj, i, 0)
		if !fn(key, obj[i:end], plain) {
			return
		}
		if i = skipSpace(obj, end); obj[i] == '}' {
			return
		}
		i = skipSpace(obj, i+1)
	}
}

// forEachElement calls fn with the JSON text of each element of arr, a
// JSON array checked by checkValue, until fn returns false.
func forEachElement(arr string, fn func(elem string) bool) {
	i := skipSpace(arr, 1)
	if arr[i] == ']' {
		return
	}
	for {
		end, _ := checkValue(arr, i, 0)
		if !fn(arr[i:end]) {
			return
		}
		if i = skipSpace(arr, end); arr[i] == ']' {
			return
		}
		i = skipSpace(arr, i+1)
	}
}

// findMember returns the value of the member called name in members, the
// last one when several are (as encoding/json keeps the last).
func findMember(members []member, name string) (string, bool) {
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].name == name {
			return members[i].value, true
		}
	}
	return "", false
}

// objectMember returns the value of the last member called name of obj,
// checked JSON text, and false if obj is not an object or has no such
// member.
func objectMember(obj, name string) (value string, found bool) {
	if obj[0] != '{' {
		return "", false
	}
	forEachMember(obj, func(key, v string, plain bool) bool {
		if plain && key[1:len(key)-1] == name || !plain && decodeString(key, false) == name {
			value, found = v, true
		}
		return true
	})
	return value, found
}

// decodeString decodes a checked JSON string, whose text between the
// quotes is the string itself when plain.
func decodeString(s string, plain bool) string {
	if plain {
		return s[1 : len(s)-1]
	}
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		// Unreachable: the string was checked.
		return ""
	}
	return out
}

// rawString returns the string that raw, checked JSON text, is, and false
// if it is another kind of value.
func rawString(raw string) (string, bool) {
	if raw[0] != '"' {
		return "", false
	}
	_, plain, _ := checkString(raw, 0)
	return decodeString(raw, plain), true
}

// rawScalar is scalarOf for checked JSON text, without decoding objects
// and arrays.
func rawScalar(raw string) (scalar, bool) {
	switch raw[0] {
	case '"':
		s, _ := rawString(raw)
		return scalar{kind: 's', s: s}, true
	case 't':
		return scalar{kind: 'b', b: true}, true
	case 'f':
		return scalar{kind: 'b', b: false}, true
	case 'n':
		return scalar{kind: 'n'}, true
	case '{', '[':
		return scalar{}, false
	}
	i, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || i > maxSafeInt || i < -maxSafeInt {
		return scalar{}, false
	}
	return scalar{kind: 'i', i: i}, true
}

// decodeRaw decodes checked JSON text as encoding/json does into an any
// with UseNumber.
func decodeRaw(raw string) any {
	switch raw[0] {
	case '"':
		s, _ := rawString(raw)
		return s
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '{', '[':
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			// Unreachable: the value was checked.
			return nil
		}
		return v
	}
	return json.Number(raw)
}
