package syncer

import (
	"errors"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []Token{
		{},
		{Rooms: 42, AccountData: 3, DeviceKeys: 7, Receipts: 1, Presence: 2},
		{Rooms: 1<<64 - 1, AccountData: 1, ToDevice: 2, DeviceKeys: 3, Receipts: 4, Typing: 5, Presence: 6},
		{Rooms: 1, RemoteInvites: 9},
	} {
		s := tok.String()
		got, err := ParseToken(s)
		if err != nil || got != tok {
			t.Fatalf("ParseToken(%q) = %+v, %v; want %+v", s, got, err, tok)
		}
	}
	if got := (Token{Rooms: 42, AccountData: 3, DeviceKeys: 7, Receipts: 1, Presence: 2}).String(); got != "s42_3_0_7_1_0_2" {
		t.Fatalf("String = %q", got)
	}
	if got := (Token{Rooms: 42, RemoteInvites: 5}).String(); got != "s42_0_0_0_0_0_0_5" {
		t.Fatalf("String = %q", got)
	}
}

func TestParseTokenErrors(t *testing.T) {
	for _, s := range []string{
		"", "s", "t42", "42_0_0_0_0_0_0", "s1_2_3_4_5_6", "s1_2_3_4_5_6_7_8_9", "s1_2_3_4_5_6_7_0", "s1_2_3_4_5_6_x",
		"s-1_0_0_0_0_0_0", "s+1_0_0_0_0_0_0", "s01_0_0_0_0_0_0", "s1__0_0_0_0_0", "s18446744073709551616_0_0_0_0_0_0",
		"s1_2_3_4_5_6_7 ", "S1_2_3_4_5_6_7",
	} {
		if _, err := ParseToken(s); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrBadToken", s, err)
		}
	}
}

func TestClampFutureToken(t *testing.T) {
	cur := Token{Rooms: 10, AccountData: 5, Typing: 2}
	got := clamp(Token{Rooms: 12, AccountData: 4, Typing: 9}, cur)
	if want := (Token{Rooms: 10, AccountData: 4}); got != want {
		t.Fatalf("clamp = %+v, want %+v", got, want)
	}
}
