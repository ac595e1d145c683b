package synctoken

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParsePosition checks that ParsePosition never panics, fails only with
// ErrInvalid, and agrees with a plain reading of the grammar: "s" or "t",
// then decimal digits that fit a uint64, then optionally "_" and anything.
// Whatever parses round-trips through Format and Before.
// Seeds come from f.Add below and from testdata/fuzz/FuzzParsePosition.
func FuzzParsePosition(f *testing.F) {
	for _, seed := range []string{
		"t0", "t42", "s42", "s42_7_9_1", "t42_x", "s18446744073709551615",
		"s18446744073709551616", "", "t", "s_1", "x42", "t-1", "t+1", "t1a",
		"42", "t007", "t1_", "t\u0661", "s 1", "t1\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		pos, err := ParsePosition(token)
		wantOK, wantPos := reference(token)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParsePosition(%q) failed with %v, which does not wrap ErrInvalid", token, err)
			}
			if wantOK {
				t.Fatalf("ParsePosition(%q) rejected a valid token (%v); want %d", token, err, wantPos)
			}
			return
		}
		if !wantOK || pos != wantPos {
			t.Fatalf("ParsePosition(%q) = %d; reference says ok=%v pos=%d", token, pos, wantOK, wantPos)
		}
		if again, err := ParsePosition(Format(pos)); err != nil || again != pos {
			t.Fatalf("ParsePosition(Format(%d)) = %d, %v", pos, again, err)
		}
		b, err := ParsePosition(Before(pos))
		if err != nil || (pos > 0 && b != pos-1) || (pos == 0 && b != 0) {
			t.Fatalf("ParsePosition(Before(%d)) = %d, %v", pos, b, err)
		}
	})
}

// reference reads a token by the grammar, digit by digit.
func reference(token string) (bool, uint64) {
	if token == "" || (token[0] != 's' && token[0] != 't') {
		return false, 0
	}
	digits, _, _ := strings.Cut(token[1:], "_")
	if digits == "" {
		return false, 0
	}
	var n uint64
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return false, 0
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return false, 0
		}
		n = n*10 + d
	}
	return true, n
}
