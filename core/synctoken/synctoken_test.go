package synctoken

import (
	"errors"
	"testing"
)

func TestParsePosition(t *testing.T) {
	for _, tc := range []struct {
		token string
		pos   uint64
		ok    bool
	}{
		{"t0", 0, true},
		{"t42", 42, true},
		{"s42", 42, true},
		{"s42_7_9_1", 42, true},
		{"t42_x", 42, true},
		{"s18446744073709551615", 18446744073709551615, true},
		{"", 0, false},
		{"t", 0, false},
		{"s_1", 0, false},
		{"x42", 0, false},
		{"t-1", 0, false},
		{"t+1", 0, false},
		{"t1a", 0, false},
		{"s18446744073709551616", 0, false},
		{"42", 0, false},
	} {
		pos, err := ParsePosition(tc.token)
		if tc.ok {
			if err != nil || pos != tc.pos {
				t.Errorf("ParsePosition(%q) = %d, %v; want %d", tc.token, pos, err, tc.pos)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePosition(%q) = %d, %v; want ErrInvalid", tc.token, pos, err)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, pos := range []uint64{0, 1, 99, 1 << 40} {
		got, err := ParsePosition(Format(pos))
		if err != nil || got != pos {
			t.Errorf("ParsePosition(Format(%d)) = %d, %v", pos, got, err)
		}
	}
}

func TestBefore(t *testing.T) {
	for pos, want := range map[uint64]string{0: "t0", 1: "t0", 10: "t9"} {
		if got := Before(pos); got != want {
			t.Errorf("Before(%d) = %q, want %q", pos, got, want)
		}
	}
}
