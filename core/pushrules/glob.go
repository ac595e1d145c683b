package pushrules

import (
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// glob is a compiled glob-style pattern (spec appendix "Glob-style
// matching": "*" matches zero or more characters, "?" exactly one; every
// other character stands for itself). Matching is case-insensitive under
// Unicode simple case folding.
//
// Matching simulates the pattern's automaton, whose state i means "the first
// i tokens have matched", so it takes time linear in the value whatever the
// pattern: there is no backtracking to blow up. Patterns of fewer than 64
// tokens, which is nearly all of them, keep the state set in one machine word
// and step it with a few bit operations per character (the shift-and
// method); longer ones fall back to a slice of flags.
//
// Most patterns are plain ASCII text (a localpart, a display name, an event
// type), and most values are ASCII too: for those, matching compares bytes.
type glob struct {
	toks []token
	wide bool // too many tokens for the one-word state set

	stars uint64 // the one-word form's * tokens: bit i stands for token i

	// lit is the pattern's fold keys as bytes when it is all ASCII
	// literals, nil otherwise. Against an ASCII value, where no character
	// folds to another outside ASCII (such as the Kelvin sign to k), such a
	// pattern matches exactly where the bytes are equal ignoring ASCII
	// case.
	lit []byte
}

// token is one pattern character: a wildcard, or a literal stored as its
// case-folding key.
type token struct {
	kind byte // '*', '?' or 'l' for a literal
	key  rune // foldKey of the literal
}

// compileGlob compiles a pattern in which * and ? are wildcards.
func compileGlob(pattern string) *glob { return compile(pattern, true) }

// literalGlob compiles s as a pattern that matches s only (ignoring case),
// for contains_display_name.
func literalGlob(s string) *glob { return compile(s, false) }

// compile tokenises pattern, treating * and ? as wildcards only when
// wildcards is set, and builds the one-word tables when the pattern fits.
func compile(pattern string, wildcards bool) *glob {
	g := &glob{}
	for _, r := range pattern {
		t := token{kind: 'l', key: foldKey(r)}
		if wildcards && (r == '*' || r == '?') {
			t = token{kind: byte(r)}
		}
		g.toks = append(g.toks, t)
	}
	lit := make([]byte, 0, len(g.toks))
	for _, t := range g.toks {
		if t.kind != 'l' || t.key >= utf8.RuneSelf {
			lit = nil
			break
		}
		lit = append(lit, byte(t.key))
	}
	g.lit = lit
	if len(g.toks) >= 64 {
		g.wide = true
		return g
	}
	for i, t := range g.toks {
		if t.kind == '*' {
			g.stars |= 1 << i
		}
	}
	return g
}

// consumes reports whether token t reads the character whose fold key is k
// and moves on to the next token.
func (t token) consumes(k rune) bool { return t.kind == '?' || t.kind == 'l' && t.key == k }

// closure adds the states reachable by letting stars match nothing.
func (g *glob) closure(set uint64) uint64 {
	for {
		next := set | (set&g.stars)<<1
		if next == set {
			return set
		}
		set = next
	}
}

// step returns the one-word state set after reading r: stars stay put, and
// each live state whose token reads r moves on. Only live states are
// visited, so a step costs little however long the pattern.
func (g *glob) step(set uint64, r rune) uint64 {
	next := set & g.stars
	moving := set &^ g.stars &^ (1 << len(g.toks)) // the accepting state has no token
	var k rune
	if moving != 0 {
		k = foldKey(r)
	}
	for ; moving != 0; moving &= moving - 1 {
		i := bits.TrailingZeros64(moving)
		if g.toks[i].consumes(k) {
			next |= 1 << (i + 1)
		}
	}
	if next&g.stars == 0 {
		return next
	}
	return g.closure(next)
}

// match reports whether the whole of s matches g.
func (g *glob) match(s string) bool {
	if g.wide {
		return g.wideMatch(s, false)
	}
	if g.lit != nil && isASCII(s) {
		return len(s) == len(g.lit) && g.litAt(s, 0)
	}
	accept := uint64(1) << len(g.toks)
	set := g.closure(1)
	for _, r := range s {
		if set = g.step(set, r); set == 0 {
			return false
		}
	}
	return set&accept != 0
}

// matchWords reports whether g matches a substring of s that starts and ends
// at a word boundary, the spec's rule for content.body and content rules. The
// spec defines a word boundary as the start or end of the value or any
// character outside [A-Za-z0-9_]; a substring s[i:j] starts at one when it is
// at the start of s or the character before it or its own first character is
// such a character, and likewise at its end. So "cake" matches "my cake!" but
// not "cakes", and "@room" matches both "hi @room" and "x@room".
func (g *glob) matchWords(s string) bool {
	if g.wide {
		return g.wideMatch(s, true)
	}
	if g.lit != nil && isASCII(s) {
		return g.litWords(s)
	}
	accept := uint64(1) << len(g.toks)
	var set uint64
	prevWord := false // the character before position i is a word character
	for i := 0; ; {
		r, size := utf8.DecodeRuneInString(s[i:])
		atEnd := i == len(s)
		boundary := !prevWord || atEnd || !wordChar(r)
		if boundary {
			set = g.closure(set | 1)
		}
		if set&accept != 0 && boundary {
			return true
		}
		if atEnd {
			return false
		}
		set = g.step(set, r)
		prevWord = wordChar(r)
		i += size
		if set == 0 && prevWord {
			// No match is under way and none can start inside this word:
			// skip to its end.
			for i < len(s) && s[i] < utf8.RuneSelf && wordChar(rune(s[i])) {
				i++
			}
		}
	}
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// litAt reports whether g.lit is at s[i:] ignoring ASCII case; s is ASCII
// and at least that long.
func (g *glob) litAt(s string, i int) bool {
	for j, k := range g.lit {
		if foldASCII(s[i+j]) != k {
			return false
		}
	}
	return true
}

// foldASCII is foldKey for an ASCII character.
func foldASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// litWords is matchWords for a pattern with lit set and an ASCII value: a
// substring equal to the pattern ignoring case whose both ends are at word
// boundaries.
func (g *glob) litWords(s string) bool {
	boundary := func(i int) bool {
		return i == 0 || i == len(s) || !wordChar(rune(s[i-1])) || !wordChar(rune(s[i]))
	}
	if len(g.lit) == 0 {
		return true // at the start
	}
	first := g.lit[0]
	for i := 0; i+len(g.lit) <= len(s); i++ {
		if foldASCII(s[i]) == first && boundary(i) && boundary(i+len(g.lit)) && g.litAt(s, i) {
			return true
		}
	}
	return false
}

// wideMatch is match (words false) or matchWords (words true) for patterns
// too long for the one-word state set, keeping one flag per state.
func (g *glob) wideMatch(s string, words bool) bool {
	end := len(g.toks)
	cur := make([]bool, end+1)
	next := make([]bool, end+1)
	closure := func(set []bool) {
		for i, t := range g.toks {
			if set[i] && t.kind == '*' {
				set[i+1] = true
			}
		}
	}
	prevWord := false
	for i := 0; ; {
		r, size := utf8.DecodeRuneInString(s[i:])
		atEnd := i == len(s)
		boundary := !prevWord || atEnd || !wordChar(r)
		if words && boundary || !words && i == 0 {
			cur[0] = true
			closure(cur)
		}
		if cur[end] && (words && boundary || !words && atEnd) {
			return true
		}
		if atEnd {
			return false
		}
		k := foldKey(r)
		clear(next)
		for j, t := range g.toks {
			switch {
			case !cur[j]:
			case t.kind == '*':
				next[j] = true
			case t.consumes(k):
				next[j+1] = true
			}
		}
		closure(next)
		cur, next = next, cur
		prevWord = wordChar(r)
		i += size
	}
}

// wordChar reports whether r is in [A-Za-z0-9_]; the spec defines every other
// character as a word boundary.
func wordChar(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// foldKey maps r to the smallest rune of its Unicode simple case folding
// orbit, so that two runes are equal ignoring case exactly when their keys
// are equal: the package's meaning of "case-insensitive".
func foldKey(r rune) rune {
	if r < utf8.RuneSelf {
		if r >= 'a' && r <= 'z' {
			// The orbits of k and s also hold the Kelvin sign and long s,
			// both larger than the ASCII capitals.
			return r - 'a' + 'A'
		}
		return r
	}
	k := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		k = min(k, f)
	}
	return k
}
