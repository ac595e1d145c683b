package mxid

import (
	"strings"
	"testing"

	"hearth/core/internal/vectors"
)

// TestServerNameVectors checks the shared spec vector: every valid example
// of the appendix passes and every name derived as invalid from the grammar
// fails.
func TestServerNameVectors(t *testing.T) {
	var v struct {
		Valid   []string `json:"valid"`
		Invalid []string `json:"invalid_DERIVED_from_grammar"`
	}
	vectors.Load(t, "spec_server_names.json", &v)
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		t.Fatal("spec_server_names.json has no cases")
	}
	for _, s := range v.Valid {
		if !ValidServerName(s) {
			t.Errorf("ValidServerName(%q) = false, want true", s)
		}
	}
	for _, s := range v.Invalid {
		if ValidServerName(s) {
			t.Errorf("ValidServerName(%q) = true, want false", s)
		}
	}
}

func TestValidServerName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"example.org", true},
		{"Example.ORG", true},
		{"localhost:8448", true},
		{"127.0.0.1", true},
		{"127.0.0.1:1", true},
		{"[::1]", true},
		{"[::1]:8448", true},
		{"[1234:5678::abcd]:99999", true},
		{"[1111:2222:3333:4444:5555:6666:255.255.255.255]", true},
		{"[" + strings.Repeat("1", 46) + "]", false},
		{"[]", false},
		{"[::1]:", false},
		{"[::g]", false},
		{"[::1]8448", false},
		{"example.org:", false},
		{"example.org:123456", false},
		{"example.org:-1", false},
		{":8448", false},
		{"exa mple.org", false},
		{"example.org/x", false},
		{"ex_ample.org", false},
		{"exämple.org", false},
		// Cases that core/media checked before it used this package.
		{"example.org:8448", true}, {"1.2.3.4", true}, {"[::1]:80", true}, {"localhost", true},
		{"", false}, {"a/b", false}, {"a:", false}, {"a:123456", false}, {"[::1", false},
		{"a:b", false}, {"ex ample", false}, {"[::1]x", false},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
	} {
		if got := ValidServerName(tc.name); got != tc.want {
			t.Errorf("ValidServerName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidUserID(t *testing.T) {
	long := "@" + strings.Repeat("a", MaxIDLength-len("@:x.org")) + ":x.org"
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"@alice:example.org", true},
		{"@Alice:example.org", true},
		{"@a:[::1]:8448", true},
		{"@al ice!:example.org", true},
		{long, true},
		{long + "g", false},
		{"@:example.org", false},
		{"alice:example.org", false},
		{"@alice", false},
		{"@alice:", false},
		{"@alice:bad_name", false},
		{"@al\x01ice:example.org", false},
		{"@al\x7fice:example.org", false},
		{"@al\xffice:example.org", false},
		{"", false},
	} {
		if got := ValidUserID(tc.id); got != tc.want {
			t.Errorf("ValidUserID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestValidLocalpart(t *testing.T) {
	for _, tc := range []struct {
		local string
		want  bool
	}{
		{"alice", true},
		{"a.b_c=d-e/f+g", true},
		{"0123", true},
		{"", false},
		{"Alice", false},
		{"al:ice", false},
		{"al ice", false},
		{"älice", false},
		{"al@ice", false},
	} {
		if got := ValidLocalpart(tc.local); got != tc.want {
			t.Errorf("ValidLocalpart(%q) = %v, want %v", tc.local, got, tc.want)
		}
	}
}

func TestSplitAndServerOf(t *testing.T) {
	for _, tc := range []struct {
		id           string
		sigil        byte
		local, serv  string
		ok           bool
		serverOfWant string
	}{
		{"@alice:example.org", '@', "alice", "example.org", true, "example.org"},
		{"@alice:example.org:8448", '@', "alice", "example.org:8448", true, "example.org:8448"},
		{"!room:[::1]:80", '!', "room", "[::1]:80", true, "[::1]:80"},
		{"#alias:example.org", '#', "alias", "example.org", true, "example.org"},
		{"$ev:example.org", '$', "ev", "example.org", true, "example.org"},
		{"$ev:example.org", '@', "", "", false, "example.org"},
		{"$abcdef", '$', "", "", false, ""},
		{"@:example.org", '@', "", "", false, "example.org"},
		{"@alice:", '@', "", "", false, ""},
		{"", '@', "", "", false, ""},
	} {
		local, serv, ok := Split(tc.id, tc.sigil)
		if local != tc.local || serv != tc.serv || ok != tc.ok {
			t.Errorf("Split(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.id, tc.sigil, local, serv, ok, tc.local, tc.serv, tc.ok)
		}
		if got := ServerOf(tc.id); got != tc.serverOfWant {
			t.Errorf("ServerOf(%q) = %q, want %q", tc.id, got, tc.serverOfWant)
		}
	}
	if got := UserID("alice", "example.org"); got != "@alice:example.org" {
		t.Errorf("UserID = %q", got)
	}
}

func TestValidRoomAlias(t *testing.T) {
	for _, tc := range []struct {
		alias string
		want  bool
	}{
		{"#room:example.org", true},
		{"#Room-1:example.org:8448", true},
		{"#" + strings.Repeat("a", MaxIDLength-len("#:x")) + ":x", true},
		{"#" + strings.Repeat("a", MaxIDLength) + ":x", false},
		{"room:example.org", false},
		{"#:example.org", false},
		{"#room:", false},
		{"#room", false},
		{"#ro om:example.org", false},
		{"#ro\tom:example.org", false},
		{"#ro\x00om:example.org", false},
	} {
		if got := ValidRoomAlias(tc.alias); got != tc.want {
			t.Errorf("ValidRoomAlias(%q) = %v, want %v", tc.alias, got, tc.want)
		}
	}
}
