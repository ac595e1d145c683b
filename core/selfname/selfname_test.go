package selfname

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
)

// testKey returns a deterministic key from a one-byte seed pattern.
func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func TestNameRoundTrip(t *testing.T) {
	pub := testKey(1).Public().(ed25519.PublicKey)
	name := Name(pub)
	label, ok := strings.CutSuffix(name, Suffix)
	if !ok || len(label) != 52 {
		t.Fatalf("Name = %q, want a 52-character label before %q", name, Suffix)
	}
	if len(name) > 63 {
		t.Fatalf("Name is %d characters, want at most 63", len(name))
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7' || c == '.') {
			t.Fatalf("Name %q has character %q outside lower-case base32 and '.'", name, c)
		}
	}
	for _, serverName := range []string{name, NameWithPort(pub, 8448), NameWithPort(pub, 1)} {
		got, ok := Parse(serverName)
		if !ok || !got.Equal(pub) {
			t.Fatalf("Parse(%q) = %x, %v; want %x, true", serverName, got, ok, pub)
		}
	}
	if got := NameWithPort(pub, 8448); got != name+":8448" {
		t.Fatalf("NameWithPort = %q, want %q", got, name+":8448")
	}
}

func TestNameOfBadKey(t *testing.T) {
	if got := Name(make([]byte, 31)); got != "" {
		t.Fatalf("Name(31 bytes) = %q, want empty", got)
	}
	if got := NameWithPort(testKey(1).Public().(ed25519.PublicKey), 0); got != "" {
		t.Fatalf("NameWithPort(port 0) = %q, want empty", got)
	}
}

func TestParseRejects(t *testing.T) {
	name := Name(testKey(2).Public().(ed25519.PublicKey))
	label := strings.TrimSuffix(name, Suffix)
	// The last character carries one key bit ('a' or 'q'); 'b' sets one
	// of the four unused bits below it.
	if last := label[len(label)-1]; last != 'a' && last != 'q' {
		t.Fatalf("last label character %q carries unused bits", last)
	}
	unusedBits := label[:len(label)-1] + "b"
	tests := []struct {
		name, serverName string
	}{
		{"empty", ""},
		{"dns name", "matrix.org"},
		{"ip", "127.0.0.1:8448"},
		{"upper case", strings.ToUpper(label) + Suffix},
		{"short label", label[1:] + Suffix},
		{"long label", label + "a" + Suffix},
		{"other suffix", label + ".hearth.local"},
		{"no suffix", label},
		{"extra label", "x." + name},
		{"not base32", strings.Replace(label, label[:1], "1", 1) + Suffix},
		{"unused bits set", unusedBits + Suffix},
		{"empty port", name + ":"},
		{"port zero", name + ":0"},
		{"leading zero port", name + ":08448"},
		{"port too big", name + ":65536"},
		{"signed port", name + ":+8448"},
		{"two ports", name + ":1:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if key, ok := Parse(tt.serverName); ok {
				t.Fatalf("Parse(%q) = %x, true; want false", tt.serverName, key)
			}
		})
	}
}

func TestVerifyKey(t *testing.T) {
	pub := testKey(3).Public().(ed25519.PublicKey)
	tests := []struct {
		name, serverName, keyID string
		ok                      bool
	}{
		{"self-certifying", Name(pub), KeyID, true},
		{"with port", NameWithPort(pub, 8449), KeyID, true},
		{"other key ID", Name(pub), "ed25519:abc", false},
		{"dns name", "example.org", KeyID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := VerifyKey(tt.serverName, tt.keyID)
			if ok != tt.ok || ok && !got.Equal(pub) {
				t.Fatalf("VerifyKey(%q, %q) = %x, %v; want ok %v", tt.serverName, tt.keyID, got, ok, tt.ok)
			}
		})
	}
}
