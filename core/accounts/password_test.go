package accounts

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestBcryptVectors(t *testing.T) {
	// A vector from golang.org/x/crypto/bcrypt's tests, salt in bcrypt's
	// base64. (Cost 10 is slow under the race detector, so other passwords
	// are checked against x/crypto at the lowest cost below.)
	tests := []struct {
		password, salt, want string
		cost                 int
	}{
		{"allmine", "XajjQvNhvvRt5GSeFk1xFe", "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", 10},
	}
	for _, tt := range tests {
		salt, err := bcryptEncoding.DecodeString(tt.salt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := bcryptWithSalt([]byte(tt.password), tt.cost, salt)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("bcrypt(%q) = %s, want %s", tt.password, got, tt.want)
		}
	}
}

func TestHashPasswordMatchesXCrypto(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{1})
	passwords := []string{
		"a",
		"correct horse battery staple",
		"012345678901234567890123456789012345678901234567890123456", // past blowfish's 56-byte key
		strings.Repeat("x", MaxPasswordBytes),
		"pässwörd\x00nul",
	}
	for _, pw := range passwords {
		hash, err := hashPassword(rng, []byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
			t.Errorf("x/crypto rejects our hash of %q: %v", pw, err)
		}
		if !checkPassword(hash, []byte(pw)) || checkPassword(hash, []byte("!"+pw[1:])) {
			t.Errorf("checkPassword wrong for %q", pw)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != bcrypt.MinCost {
			t.Errorf("cost %d, want %d", cost, bcrypt.MinCost)
		}
	}
	// x/crypto's own hashes check too.
	h, err := bcrypt.GenerateFromPassword([]byte("theirs"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(string(h), []byte("theirs")) {
		t.Error("checkPassword rejects an x/crypto hash")
	}
}

func TestHashPasswordDeterministic(t *testing.T) {
	a, _ := hashPassword(rand.NewChaCha8([32]byte{7}), []byte("pw"), 4)
	b, _ := hashPassword(rand.NewChaCha8([32]byte{7}), []byte("pw"), 4)
	c, _ := hashPassword(rand.NewChaCha8([32]byte{8}), []byte("pw"), 4)
	if a != b || a == c {
		t.Errorf("hashes with seeds 7, 7, 8: %s %s %s", a, b, c)
	}
}

func TestHashPasswordErrors(t *testing.T) {
	tests := []struct {
		name     string
		password []byte
		cost     int
		rand     *bytes.Reader
	}{
		{"too long", bytes.Repeat([]byte("x"), MaxPasswordBytes+1), 4, bytes.NewReader(make([]byte, 16))},
		{"cost too low", []byte("pw"), 3, bytes.NewReader(make([]byte, 16))},
		{"cost too high", []byte("pw"), 32, bytes.NewReader(make([]byte, 16))},
		{"short randomness", []byte("pw"), 4, bytes.NewReader(make([]byte, 15))},
	}
	for _, tt := range tests {
		if h, err := hashPassword(tt.rand, tt.password, tt.cost); err == nil {
			t.Errorf("%s: got hash %s, want error", tt.name, h)
		}
	}
	if _, err := hashPassword(bytes.NewReader(nil), make([]byte, MaxPasswordBytes+1), 4); !errors.Is(err, bcrypt.ErrPasswordTooLong) {
		t.Errorf("too long: %v", err)
	}
}

func TestCheckPasswordRejectsOverlong(t *testing.T) {
	pw := strings.Repeat("x", MaxPasswordBytes)
	hash, err := hashPassword(rand.NewChaCha8([32]byte{}), []byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	// bcrypt reads only the first 72 bytes; a longer password must not match.
	if checkPassword(hash, []byte(pw+"y")) {
		t.Error("a 73-byte password matches the hash of its 72-byte prefix")
	}
}
