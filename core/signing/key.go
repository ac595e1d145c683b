package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"

	"hearth/core/b64"
)

// Algorithm is the only signing algorithm Matrix defines; it prefixes every
// key ID ("ed25519:<version>").
const Algorithm = "ed25519"

// SignatureSize is the length in bytes of an ed25519 signature, 86 characters
// once written in unpadded base64.
const SignatureSize = ed25519.SignatureSize

// Key is a server's ed25519 signing key together with its key ID, which is
// what Matrix needs to sign: the ID names the key inside "signatures" and in
// X-Matrix headers so that receivers can fetch the matching public key.
type Key struct {
	// ID is the key ID, "ed25519:" followed by the key's version.
	ID string
	// Private is the full 64-byte ed25519 private key (seed and public half).
	Private ed25519.PrivateKey
}

// GenerateKey creates a new key with the given key ID from 32 bytes read from
// rand. The caller passes the randomness in because core code has no random
// source of its own; the key is a pure function of those bytes.
func GenerateKey(rand io.Reader, id string) (Key, error) {
	if rand == nil {
		return Key{}, errors.New("signing: generate key: nil random source")
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return Key{}, fmt.Errorf("signing: generate key: read seed: %w", err)
	}
	k, err := KeyFromSeed(id, seed)
	if err != nil {
		return Key{}, fmt.Errorf("signing: generate key: %w", err)
	}
	return k, nil
}

// KeyFromSeed rebuilds a key from its ID and 32-byte RFC 8032 seed, the form
// in which keys are stored and in which the spec publishes its test key.
func KeyFromSeed(id string, seed []byte) (Key, error) {
	if err := ValidateKeyID(id); err != nil {
		return Key{}, fmt.Errorf("signing: key from seed: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("signing: key from seed: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return Key{ID: id, Private: ed25519.NewKeyFromSeed(seed)}, nil
}

// Public returns the key's public half, which other servers use to verify
// its signatures. It returns nil for a malformed key.
func (k Key) Public() ed25519.PublicKey {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Private.Public().(ed25519.PublicKey)
}

// Seed returns the key's 32-byte seed, the secret that is stored on disk.
// It returns nil for a malformed key.
func (k Key) Seed() []byte {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Private.Seed()
}

// Version returns the part of the key ID after "ed25519:".
func (k Key) Version() string {
	return strings.TrimPrefix(k.ID, Algorithm+":")
}

// String describes the key by its ID and public key only, so that logging a
// Key with %v or %s never prints the secret.
func (k Key) String() string {
	return k.ID + " " + b64.Encode(k.Public())
}

// GoString is String for %#v, which would otherwise print the private key.
func (k Key) GoString() string {
	return "signing.Key{" + k.String() + "}"
}

// Validate reports whether k can sign: a well-formed ed25519 key ID and a
// 64-byte private key whose public half matches its seed.
func (k Key) Validate() error {
	if err := ValidateKeyID(k.ID); err != nil {
		return fmt.Errorf("signing: invalid key: %w", err)
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("signing: invalid key %s: private key is %d bytes, want %d", k.ID, len(k.Private), ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(k.Private.Seed())
	if !bytes.Equal(derived[ed25519.SeedSize:], k.Private[ed25519.SeedSize:]) {
		return fmt.Errorf("signing: invalid key %s: public half does not match the seed", k.ID)
	}
	return nil
}

// ValidateKeyID checks that id is "ed25519:" followed by a non-empty version
// of the characters [a-zA-Z0-9_], the form the spec requires of the key IDs a
// server publishes. Keys of other servers are looked up by whatever ID they
// use, so verification does not call this.
func ValidateKeyID(id string) error {
	version, ok := strings.CutPrefix(id, Algorithm+":")
	if !ok {
		return fmt.Errorf("key ID %q does not start with %q", id, Algorithm+":")
	}
	if err := validateVersion(version); err != nil {
		return fmt.Errorf("key ID %q: %w", id, err)
	}
	return nil
}

func validateVersion(version string) error {
	if version == "" {
		return errors.New("empty key version")
	}
	for i := 0; i < len(version); i++ {
		c := version[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("key version %q has character %q outside [a-zA-Z0-9_]", version, c)
		}
	}
	return nil
}

// ParseKeys reads a signing key file in Synapse's format, one key a line:
// "ed25519 <version> <unpadded base64 seed>". Blank lines are ignored. Using
// Synapse's format lets an operator move a server's identity between
// implementations by copying one file.
func ParseKeys(data []byte) ([]Key, error) {
	var keys []Key
	for n, line := range bytes.Split(data, []byte("\n")) {
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("signing: key file line %d: got %d fields, want 3 (%s <version> <seed>)", n+1, len(fields), Algorithm)
		}
		if fields[0] != Algorithm {
			return nil, fmt.Errorf("signing: key file line %d: unsupported algorithm %q", n+1, fields[0])
		}
		seed, err := b64.Decode(fields[2])
		if err != nil {
			return nil, fmt.Errorf("signing: key file line %d: seed: %w", n+1, err)
		}
		k, err := KeyFromSeed(Algorithm+":"+fields[1], seed)
		if err != nil {
			return nil, fmt.Errorf("signing: key file line %d: %w", n+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("signing: key file holds no keys")
	}
	return keys, nil
}

// ParseKey reads a signing key file that must hold exactly one key, the usual
// case for a server's own key.
func ParseKey(data []byte) (Key, error) {
	keys, err := ParseKeys(data)
	if err != nil {
		return Key{}, err
	}
	if len(keys) != 1 {
		return Key{}, fmt.Errorf("signing: key file holds %d keys, want 1", len(keys))
	}
	return keys[0], nil
}

// FormatKeys writes keys in the signing key file format read by ParseKeys,
// one line each with a trailing newline.
func FormatKeys(keys ...Key) ([]byte, error) {
	var buf bytes.Buffer
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("signing: format key file: %w", err)
		}
		buf.WriteString(Algorithm)
		buf.WriteByte(' ')
		buf.WriteString(k.Version())
		buf.WriteByte(' ')
		buf.WriteString(b64.Encode(k.Seed()))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
