package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"hearth/core/b64"
)

func TestGenerateKey(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
	tests := []struct {
		name    string
		rand    io.Reader
		id      string
		wantMsg string
	}{
		{"deterministic from reader", bytes.NewReader(seed), "ed25519:a_1", ""},
		{"nil reader", nil, "ed25519:a", "nil random source"},
		{"short reader", bytes.NewReader(seed[:10]), "ed25519:a", "read seed"},
		{"failing reader", failingReader{}, "ed25519:a", "boom"},
		{"bad ID", bytes.NewReader(seed), "ed25519:", "empty key version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := GenerateKey(tc.rand, tc.id)
			if tc.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("GenerateKey = %v, %v; want an error containing %q", k, err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.Seed(), seed) || k.ID != tc.id {
				t.Fatalf("GenerateKey gave %v with seed %x", k, k.Seed())
			}
			if err := k.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestKeyIDValidation(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"ed25519:1", true},
		{"ed25519:a_AbCd9", true},
		{"ed25519:", false},
		{"ed25519", false},
		{"curve25519:1", false},
		{"ED25519:1", false},
		{"ed25519:a-b", false},
		{"ed25519:a b", false},
		{"ed25519:a:b", false},
		{"ed25519:é", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			err := ValidateKeyID(tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateKeyID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
			_, err = KeyFromSeed(tc.id, make([]byte, ed25519.SeedSize))
			if (err == nil) != tc.ok {
				t.Fatalf("KeyFromSeed(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
		})
	}
}

func TestKeyFromSeedLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := KeyFromSeed("ed25519:1", make([]byte, n)); err == nil {
			t.Errorf("KeyFromSeed accepted a %d-byte seed", n)
		}
	}
}

func TestMalformedKeys(t *testing.T) {
	good, err := KeyFromSeed("ed25519:1", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	mismatched := Key{ID: good.ID, Private: append(ed25519.PrivateKey(nil), good.Private...)}
	mismatched.Private[40] ^= 1
	tests := []struct {
		name    string
		k       Key
		wantMsg string
	}{
		{"zero key", Key{}, "does not start with"},
		{"short private key", Key{ID: "ed25519:1", Private: good.Private[:32]}, "private key is 32 bytes"},
		{"public half mismatch", mismatched, "does not match the seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.k.Validate(); err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantMsg)
			}
			if _, err := FormatKeys(tc.k); err == nil {
				t.Fatal("FormatKeys accepted a malformed key")
			}
		})
	}
	// Signing with a key of the wrong shape is an error, not a panic.
	for _, k := range []Key{{}, {ID: "ed25519:1", Private: good.Private[:32]}} {
		if _, err := SignJSON([]byte(`{}`), "s", k); err == nil {
			t.Errorf("SignJSON with %#v succeeded", k)
		}
		if k.Public() != nil || k.Seed() != nil {
			t.Errorf("malformed key %#v gave a public key or seed", k)
		}
	}
}

func TestKeyStringHidesSecret(t *testing.T) {
	k, v := loadSpecKey(t)
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v %s %#v", k, k, k)} {
		if strings.Contains(s, v.Seed[:20]) || strings.Contains(s, fmt.Sprint([]byte(k.Private))) {
			t.Fatalf("%q reveals the seed", s)
		}
		if !strings.Contains(s, v.Public) || !strings.Contains(s, k.ID) {
			t.Fatalf("%q lacks the key ID or public key", s)
		}
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	k, v := loadSpecKey(t)
	k2, err := KeyFromSeed("ed25519:a_XyZ", bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	text, err := FormatKeys(k, k2)
	if err != nil {
		t.Fatal(err)
	}
	want := "ed25519 1 " + b64.Encode(k.Seed()) + "\ned25519 a_XyZ " + b64.Encode(k2.Seed()) + "\n"
	if string(text) != want {
		t.Fatalf("FormatKeys = %q, want %q", text, want)
	}
	keys, err := ParseKeys(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != k.ID || !bytes.Equal(keys[0].Private, k.Private) || keys[1].ID != k2.ID || !bytes.Equal(keys[1].Private, k2.Private) {
		t.Fatalf("ParseKeys gave %v", keys)
	}
	// The spec's seed text (with its non-zero trailing bits) parses too.
	one, err := ParseKey([]byte("ed25519 1 " + v.Seed))
	if err != nil || !bytes.Equal(one.Private, k.Private) {
		t.Fatalf("ParseKey(spec seed) = %v, %v", one, err)
	}
}

func TestParseKeysRejects(t *testing.T) {
	seed := b64.Encode(make([]byte, 32))
	tests := []struct {
		name, text, wantMsg string
	}{
		{"empty", "", "no keys"},
		{"blank lines only", "\n \n\t\n", "no keys"},
		{"two fields", "ed25519 " + seed, "got 2 fields"},
		{"four fields", "ed25519 1 " + seed + " extra", "got 4 fields"},
		{"other algorithm", "curve25519 1 " + seed, "unsupported algorithm"},
		{"bad version", "ed25519 a-b " + seed, "outside [a-zA-Z0-9_]"},
		{"bad base64", "ed25519 1 !!!!", "seed"},
		{"short seed", "ed25519 1 " + b64.Encode(make([]byte, 16)), "seed is 16 bytes"},
		{"error names the line", "ed25519 1 " + seed + "\n\nbad", "line 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("ParseKeys = %v, %v; want an error containing %q", keys, err, tc.wantMsg)
			}
		})
	}
	if _, err := ParseKey([]byte("ed25519 1 " + seed + "\ned25519 2 " + seed + "\n")); err == nil || !strings.Contains(err.Error(), "holds 2 keys") {
		t.Fatalf("ParseKey of two keys = %v", err)
	}
	// Surrounding blank lines and CRLF endings are tolerated.
	if _, err := ParseKey([]byte("\r\n ed25519 1 " + seed + "\r\n\r\n")); err != nil {
		t.Fatalf("ParseKey with CRLF: %v", err)
	}
}
