// Package canonicaljson turns JSON text into Matrix canonical JSON: the
// exact byte form that Matrix hashes and signs (spec appendices, "Canonical
// JSON").
//
// Canonical JSON has no insignificant whitespace, object keys sorted by
// Unicode code point, strings in UTF-8 with only the mandatory escapes, and
// numbers written as plain integers. Room versions 6 and later reject
// numbers that are not integers in [-(2^53)+1, (2^53)-1]; earlier versions
// are lenient, so both modes are offered.
//
// The canonicaliser works in one pass over the input, writing into a single
// output buffer and reordering an object's members only when they arrive out
// of order, because every signed event goes through it.
package canonicaljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects so that hostile input
// cannot exhaust the stack.
const MaxDepth = 256

// maxSafeInteger is 2^53-1, the largest integer canonical JSON allows in
// strict mode.
const maxSafeInteger = 1<<53 - 1

// ErrInvalid is wrapped by every error for input that is not JSON or not
// acceptable canonical JSON.
var ErrInvalid = errors.New("canonicaljson: invalid input")

// Canonicalize returns the canonical form of the JSON text in, accepting any
// JSON number (room versions 1 to 5). Integral numbers are written as plain
// integers; other numbers keep their shortest round-trip form.
func Canonicalize(in []byte) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, len(in)), in, false)
}

// CanonicalizeStrict is Canonicalize for room versions 6 and later: it also
// rejects numbers that are not integers or lie outside ±(2^53-1).
func CanonicalizeStrict(in []byte) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, len(in)), in, true)
}

// AppendCanonical appends the canonical form of in to dst and returns the
// extended buffer. strict selects the room version 6+ number rules.
func AppendCanonical(dst, in []byte, strict bool) ([]byte, error) {
	c := canonicalizer{in: in, out: dst, strict: strict}
	c.skipSpace()
	if err := c.value(0); err != nil {
		return dst, err
	}
	c.skipSpace()
	if c.pos != len(c.in) {
		return dst, c.errorf("unexpected data after top-level value")
	}
	return c.out, nil
}

// Marshal encodes v with encoding/json and returns its canonical form, for
// building signed objects from Go values.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonicaljson: marshal: %w", err)
	}
	return Canonicalize(buf.Bytes())
}

// canonicalizer holds the state of one pass.
type canonicalizer struct {
	in     []byte
	pos    int
	out    []byte
	strict bool
	// keys holds decoded object keys for sorting; reused across objects.
	keys []byte
}

func (c *canonicalizer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalid, c.pos, fmt.Sprintf(format, args...))
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value(depth int) error {
	if c.pos >= len(c.in) {
		return c.errorf("unexpected end of input")
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		_, err := c.str(false)
		return err
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	default:
		return c.errorf("unexpected character %q", b)
	}
}

func (c *canonicalizer) literal(word string) error {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(word)) {
		return c.errorf("invalid literal")
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return nil
}

func (c *canonicalizer) array(depth int) error {
	if depth > MaxDepth {
		return c.errorf("nesting deeper than %d", MaxDepth)
	}
	c.pos++ // '['
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		c.skipSpace()
		if err := c.value(depth); err != nil {
			return err
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.errorf("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return c.errorf("expected ',' or ']' in array")
		}
	}
}

// member records where one object member landed in the output and where its
// decoded key is in c.keys.
type member struct {
	start, end       int // the member's bytes in c.out, without separators
	keyStart, keyEnd int // its decoded key in c.keys
}

func (c *canonicalizer) object(depth int) error {
	if depth > MaxDepth {
		return c.errorf("nesting deeper than %d", MaxDepth)
	}
	c.pos++ // '{'
	c.out = append(c.out, '{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return nil
	}
	bodyStart := len(c.out)
	keysBase := len(c.keys)
	var members []member
	var small [8]member
	members = small[:0]
	sorted := true
	for {
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.errorf("expected string key in object")
		}
		m := member{start: len(c.out)}
		m.keyStart = len(c.keys)
		if _, err := c.str(true); err != nil {
			return err
		}
		m.keyEnd = len(c.keys)
		if n := len(members); n > 0 {
			prev := members[n-1]
			switch cmp := bytes.Compare(c.keys[prev.keyStart:prev.keyEnd], c.keys[m.keyStart:m.keyEnd]); {
			case cmp == 0:
				return c.errorf("duplicate object key %q", c.keys[m.keyStart:m.keyEnd])
			case cmp > 0:
				sorted = false
			}
		}
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.errorf("expected ':' after object key")
		}
		c.pos++
		c.out = append(c.out, ':')
		c.skipSpace()
		if err := c.value(depth); err != nil {
			return err
		}
		m.end = len(c.out)
		members = append(members, m)
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.errorf("unterminated object")
		}
		if c.in[c.pos] == ',' {
			c.pos++
			c.out = append(c.out, ',')
			continue
		}
		if c.in[c.pos] != '}' {
			return c.errorf("expected ',' or '}' in object")
		}
		c.pos++
		break
	}
	if !sorted {
		if err := c.reorder(bodyStart, members); err != nil {
			return err
		}
	}
	c.keys = c.keys[:keysBase]
	c.out = append(c.out, '}')
	return nil
}

// reorder rewrites the members of one object, which occupy c.out[bodyStart:],
// in key order, and rejects duplicate keys that were not adjacent.
func (c *canonicalizer) reorder(bodyStart int, members []member) error {
	slices.SortFunc(members, func(a, b member) int {
		return bytes.Compare(c.keys[a.keyStart:a.keyEnd], c.keys[b.keyStart:b.keyEnd])
	})
	for i := 1; i < len(members); i++ {
		a, b := members[i-1], members[i]
		if bytes.Equal(c.keys[a.keyStart:a.keyEnd], c.keys[b.keyStart:b.keyEnd]) {
			return c.errorf("duplicate object key %q", c.keys[b.keyStart:b.keyEnd])
		}
	}
	body := slices.Clone(c.out[bodyStart:])
	c.out = c.out[:bodyStart]
	for i, m := range members {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, body[m.start-bodyStart:m.end-bodyStart]...)
	}
	return nil
}

// str reads a JSON string at c.pos and writes its canonical form. When
// asKey is set, the decoded bytes are also appended to c.keys.
func (c *canonicalizer) str(asKey bool) (int, error) {
	c.pos++ // opening quote
	c.out = append(c.out, '"')
	start := len(c.out)
	for {
		// Copy the run of bytes that need no attention.
		runStart := c.pos
		for c.pos < len(c.in) {
			b := c.in[c.pos]
			if b == '"' || b == '\\' || b < 0x20 || b >= utf8.RuneSelf {
				break
			}
			c.pos++
		}
		c.out = append(c.out, c.in[runStart:c.pos]...)
		if asKey {
			c.keys = append(c.keys, c.in[runStart:c.pos]...)
		}
		if c.pos >= len(c.in) {
			return 0, c.errorf("unterminated string")
		}
		switch b := c.in[c.pos]; {
		case b == '"':
			c.pos++
			c.out = append(c.out, '"')
			return start, nil
		case b < 0x20:
			return 0, c.errorf("unescaped control character in string")
		case b == '\\':
			r, err := c.escape()
			if err != nil {
				return 0, err
			}
			c.appendRune(r, asKey)
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size <= 1 {
				return 0, c.errorf("invalid UTF-8 in string")
			}
			c.out = append(c.out, c.in[c.pos:c.pos+size]...)
			if asKey {
				c.keys = append(c.keys, c.in[c.pos:c.pos+size]...)
			}
			c.pos += size
		}
	}
}

// escape decodes the escape sequence at c.pos, joining UTF-16 surrogate
// pairs, and returns the rune it stands for.
func (c *canonicalizer) escape() (rune, error) {
	if c.pos+1 >= len(c.in) {
		return 0, c.errorf("unterminated escape")
	}
	e := c.in[c.pos+1]
	c.pos += 2
	switch e {
	case '"', '\\', '/':
		return rune(e), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := c.hex4()
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 || c.pos+1 >= len(c.in) || c.in[c.pos] != '\\' || c.in[c.pos+1] != 'u' {
				return 0, c.errorf("unpaired UTF-16 surrogate")
			}
			c.pos += 2
			low, err := c.hex4()
			if err != nil {
				return 0, err
			}
			r = utf16.DecodeRune(r, low)
			if r == utf8.RuneError {
				return 0, c.errorf("invalid UTF-16 surrogate pair")
			}
		}
		return r, nil
	default:
		return 0, c.errorf("invalid escape character %q", e)
	}
}

func (c *canonicalizer) hex4() (rune, error) {
	if c.pos+4 > len(c.in) {
		return 0, c.errorf("short \\u escape")
	}
	var r rune
	for _, h := range c.in[c.pos : c.pos+4] {
		r <<= 4
		switch {
		case h >= '0' && h <= '9':
			r |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			r |= rune(h - 'a' + 10)
		case h >= 'A' && h <= 'F':
			r |= rune(h - 'A' + 10)
		default:
			return 0, c.errorf("invalid hex digit in \\u escape")
		}
	}
	c.pos += 4
	return r, nil
}

const hexDigits = "0123456789abcdef"

// appendRune writes r into a string in canonical form: quote, backslash and
// control characters escaped (short forms where JSON has them), everything
// else as raw UTF-8.
func (c *canonicalizer) appendRune(r rune, asKey bool) {
	if asKey {
		c.keys = utf8.AppendRune(c.keys, r)
	}
	switch r {
	case '"':
		c.out = append(c.out, '\\', '"')
	case '\\':
		c.out = append(c.out, '\\', '\\')
	case '\b':
		c.out = append(c.out, '\\', 'b')
	case '\f':
		c.out = append(c.out, '\\', 'f')
	case '\n':
		c.out = append(c.out, '\\', 'n')
	case '\r':
		c.out = append(c.out, '\\', 'r')
	case '\t':
		c.out = append(c.out, '\\', 't')
	default:
		if r < 0x20 {
			c.out = append(c.out, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
			return
		}
		c.out = utf8.AppendRune(c.out, r)
	}
}

// number reads a JSON number and writes it as canonical JSON wants: plain
// integers, with -0 as 0 and integral exponent forms expanded.
func (c *canonicalizer) number() error {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	intStart := c.pos
	if c.pos < len(c.in) && c.in[c.pos] == '0' {
		c.pos++
	} else if !c.digits() {
		return c.errorf("invalid number")
	}
	intEnd := c.pos
	simple := true
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if !c.digits() {
			return c.errorf("invalid number fraction")
		}
		simple = false
	}
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if !c.digits() {
			return c.errorf("invalid number exponent")
		}
		simple = false
	}
	text := c.in[start:c.pos]
	if simple {
		// The common case: a plain integer literal.
		if intEnd-intStart == 1 && c.in[intStart] == '0' {
			c.out = append(c.out, '0') // also turns -0 into 0
			return nil
		}
		if c.strict {
			if intEnd-intStart > 16 {
				return c.errorf("integer %s out of range", text)
			}
			n, err := strconv.ParseInt(string(text), 10, 64)
			if err != nil || n > maxSafeInteger || n < -maxSafeInteger {
				return c.errorf("integer %s out of range", text)
			}
		}
		c.out = append(c.out, text...)
		return nil
	}
	return c.normaliseNumber(text)
}

// normaliseNumber handles numbers with a fraction or exponent. Integral
// values become plain integers; others are rejected in strict mode and keep
// their shortest float form otherwise.
func (c *canonicalizer) normaliseNumber(text []byte) error {
	if exp := exponentOf(text); exp > maxExponent || exp < -maxExponent {
		return c.extremeNumber(text, exp)
	}
	r, ok := new(big.Rat).SetString(string(text))
	if !ok {
		return c.errorf("invalid number %s", text)
	}
	if r.IsInt() {
		n := r.Num()
		if c.strict && (n.BitLen() > 53 || n.CmpAbs(big.NewInt(maxSafeInteger)) > 0) {
			return c.errorf("integer %s out of range", text)
		}
		c.out = n.Append(c.out, 10)
		return nil
	}
	if c.strict {
		return c.errorf("number %s is not an integer", text)
	}
	f, _ := r.Float64()
	if math.IsInf(f, 0) {
		return c.errorf("number %s out of range", text)
	}
	c.out = appendFloat(c.out, f)
	return nil
}

// appendFloat writes a float in lenient mode. A value that rounded to an
// integer is written in plain digits so that the output is itself canonical.
func appendFloat(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // also for -0
	}
	if f == math.Trunc(f) {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// maxExponent bounds the exponents handed to exact arithmetic, so that
// input such as 1e-999999999 cannot make the canonicaliser build huge
// numbers.
const maxExponent = 1000

// exponentOf returns the value of text's exponent part, saturating at a
// large magnitude; 0 when there is none.
func exponentOf(text []byte) int {
	i := bytes.IndexAny(text, "eE")
	if i < 0 {
		return 0
	}
	e := text[i+1:]
	neg := false
	if len(e) > 0 && (e[0] == '+' || e[0] == '-') {
		neg = e[0] == '-'
		e = e[1:]
	}
	n := 0
	for _, d := range e {
		n = n*10 + int(d-'0')
		if n > 10*maxExponent {
			break
		}
	}
	if neg {
		return -n
	}
	return n
}

// extremeNumber handles numbers whose exponent is too large for exact
// arithmetic: zero stays zero, tiny values are not integers, huge values are
// out of every range.
func (c *canonicalizer) extremeNumber(text []byte, exp int) error {
	mantissa := text[:bytes.IndexAny(text, "eE")]
	if len(bytes.Trim(mantissa, "-0.")) == 0 {
		c.out = append(c.out, '0')
		return nil
	}
	if exp > 0 || c.strict {
		return c.errorf("number %s out of range", text)
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return c.errorf("invalid number %s", text)
	}
	c.out = appendFloat(c.out, f)
	return nil
}

func (c *canonicalizer) digits() bool {
	start := c.pos
	for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
		c.pos++
	}
	return c.pos > start
}
