package syncer

import (
	"errors"
	"testing"
)

// FuzzParseToken checks that ParseToken never panics, fails only with
// ErrBadToken, and accepts exactly the strings String writes: every token
// has one spelling, so whatever parses formats back to the same text.
// Seeds come from f.Add below and from testdata/fuzz/FuzzParseToken.
func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{
		"s0_0_0_0_0_0_0",
		"s42_3_0_7_1_0_2",
		"s18446744073709551615_1_2_3_4_5_6",
		"s18446744073709551616_0_0_0_0_0_0",
		"s01_0_0_0_0_0_0",
		"s-1_0_0_0_0_0_0",
		"s+1_0_0_0_0_0_0",
		"s1__0_0_0_0_0",
		"s1_2_3_4_5_6",
		"s1_2_3_4_5_6_7_8",
		"s1_2_3_4_5_6_7_0",
		"s1_2_3_4_5_6_7_8_9",
		"s1_2_3_4_5_6_7 ",
		"s0x1_0_0_0_0_0_0",
		"s1_2_3_4_5_6_\u0667",
		"t42",
		"s",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("ParseToken(%q) failed with %v, which does not wrap ErrBadToken", s, err)
			}
			return
		}
		if got := tok.String(); got != s {
			t.Fatalf("ParseToken(%q) = %+v, which formats as %q: a token has one spelling", s, tok, got)
		}
		// A parsed token is also a valid room-endpoint position.
		if clamp(tok, tok) != tok {
			t.Fatalf("clamp(%+v, itself) changed it", tok)
		}
	})
}
