package xmatrix

import (
	"errors"
	"fmt"
	"strings"
)

// ParseHeader parses an Authorization header value of the X-Matrix scheme
// (RFC 9110 section 11.4 credentials, as the spec describes). It accepts
// what the spec allows and asks receivers to tolerate:
//
//   - the scheme in any letter case, then one or more spaces or tabs;
//   - parameters in any order, names in any letter case;
//   - optional spaces and tabs around commas and '=', and empty list
//     elements ("a=1,,b=2");
//   - values quoted, with backslash escapes, or bare; bare values may hold
//     token characters plus ':' (which the spec asks receivers to allow)
//     and '/', '=', '[' and ']' (so that unquoted base64 signatures and
//     IPv6 literals still parse);
//   - unknown parameters, which are ignored.
//
// origin, key and sig are required; destination is optional because older
// senders omit it. A known parameter given twice is an error rather than a
// guess. ParseHeader never panics on any input.
func ParseHeader(value string) (Params, error) {
	p, err := parseHeader(value)
	if err != nil {
		return Params{}, fmt.Errorf("xmatrix: parse Authorization header: %w", err)
	}
	return p, nil
}

func parseHeader(value string) (Params, error) {
	s := strings.TrimLeft(value, " \t")
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		if strings.EqualFold(s, Scheme) {
			return Params{}, errors.New("no parameters")
		}
		return Params{}, fmt.Errorf("scheme is not %s", Scheme)
	}
	if !strings.EqualFold(s[:end], Scheme) {
		return Params{}, fmt.Errorf("scheme is not %s", Scheme)
	}
	sc := scanner{s: s[end:]}
	var p Params
	seen := make(map[string]bool, 4)
	for {
		sc.skipListSeparators()
		if sc.done() {
			break
		}
		name := strings.ToLower(sc.token())
		if name == "" {
			return Params{}, fmt.Errorf("want a parameter name at %q", sc.rest())
		}
		sc.skipSpace()
		if !sc.consume('=') {
			return Params{}, fmt.Errorf("parameter %s: want '='", name)
		}
		sc.skipSpace()
		v, err := sc.value()
		if err != nil {
			return Params{}, fmt.Errorf("parameter %s: %w", name, err)
		}
		sc.skipSpace()
		if !sc.done() && !sc.consume(',') {
			return Params{}, fmt.Errorf("parameter %s: want ',' after the value, got %q", name, sc.rest())
		}
		var field *string
		switch name {
		case "origin":
			field = &p.Origin
		case "destination":
			field = &p.Destination
		case "key":
			field = &p.Key
		case "sig":
			field = &p.Sig
		default:
			continue // unknown parameters are ignored
		}
		if seen[name] {
			return Params{}, fmt.Errorf("parameter %s given twice", name)
		}
		seen[name] = true
		*field = v
	}
	switch {
	case p.Origin == "":
		return Params{}, errors.New("missing origin")
	case p.Key == "":
		return Params{}, errors.New("missing key")
	case p.Sig == "":
		return Params{}, errors.New("missing sig")
	case seen["destination"] && p.Destination == "":
		return Params{}, errors.New("empty destination")
	}
	return p, nil
}

// scanner walks the parameter list of a header value.
type scanner struct {
	s   string
	pos int
}

func (sc *scanner) done() bool { return sc.pos >= len(sc.s) }

func (sc *scanner) rest() string { return sc.s[sc.pos:] }

func (sc *scanner) consume(c byte) bool {
	if sc.pos < len(sc.s) && sc.s[sc.pos] == c {
		sc.pos++
		return true
	}
	return false
}

func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.s) && (sc.s[sc.pos] == ' ' || sc.s[sc.pos] == '\t') {
		sc.pos++
	}
}

// skipListSeparators skips whitespace and the commas of empty list
// elements.
func (sc *scanner) skipListSeparators() {
	for sc.pos < len(sc.s) && (sc.s[sc.pos] == ' ' || sc.s[sc.pos] == '\t' || sc.s[sc.pos] == ',') {
		sc.pos++
	}
}

// token reads a run of RFC 9110 token characters.
func (sc *scanner) token() string {
	start := sc.pos
	for sc.pos < len(sc.s) && isTchar(sc.s[sc.pos]) {
		sc.pos++
	}
	return sc.s[start:sc.pos]
}

// value reads a quoted-string (unescaping quoted-pairs) or a bare value.
func (sc *scanner) value() (string, error) {
	if !sc.consume('"') {
		start := sc.pos
		for sc.pos < len(sc.s) && isBareValueChar(sc.s[sc.pos]) {
			sc.pos++
		}
		if sc.pos == start {
			return "", fmt.Errorf("want a value at %q", sc.rest())
		}
		return sc.s[start:sc.pos], nil
	}
	var b strings.Builder
	for sc.pos < len(sc.s) {
		c := sc.s[sc.pos]
		sc.pos++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if sc.pos >= len(sc.s) {
				return "", errors.New("backslash at the end of the header")
			}
			c = sc.s[sc.pos]
			sc.pos++
			if !isQuotedChar(c) && c != '"' && c != '\\' {
				return "", fmt.Errorf("control character %#x in quoted value", c)
			}
		case !isQuotedChar(c):
			return "", fmt.Errorf("control character %#x in quoted value", c)
		}
		b.WriteByte(c)
	}
	return "", errors.New("unterminated quoted value")
}

// isTchar reports whether c is an RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isBareValueChar reports whether c may appear in an unquoted value.
func isBareValueChar(c byte) bool {
	return isTchar(c) || c == ':' || c == '/' || c == '=' || c == '[' || c == ']'
}

// isQuotedChar reports whether c may appear in a quoted-string, unescaped
// (other than '"' and '\\') or after a backslash: HTAB, SP, visible ASCII
// and obs-text.
func isQuotedChar(c byte) bool {
	return c == '\t' || c == ' ' || (0x21 <= c && c != 0x7f && c != '"' && c != '\\')
}
