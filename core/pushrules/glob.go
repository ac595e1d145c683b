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
type glob struct {
	toks []token
	wide bool // too many tokens for the one-word state set

	stars uint64 // the one-word form's * tokens: bit i stands for token i
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
