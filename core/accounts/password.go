package accounts

import (
	"encoding/base64"
	"fmt"
	"io"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/blowfish"
)

// MaxPasswordBytes is the longest password bcrypt hashes; longer ones are
// refused rather than silently truncated.
const MaxPasswordBytes = 72

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var bcryptEncoding = base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding)

// magicCipherData is "OrpheanBeholderScryDoubt", the text bcrypt encrypts.
var magicCipherData = []byte("OrpheanBeholderScryDoubt")

// hashPassword returns the bcrypt hash ("$2a$cost$salt+hash") of password with
// a 16-byte salt read from rand.
//
// golang.org/x/crypto/bcrypt draws its salt from crypto/rand itself, which the
// core may not do (randomness is passed in), so the hash is computed here with
// the same package's blowfish primitives; bcrypt.CompareHashAndPassword checks
// it, and the tests hold both to the published vectors.
func hashPassword(rand io.Reader, password []byte, cost int) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", bcrypt.ErrPasswordTooLong
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", bcrypt.InvalidCostError(cost)
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("accounts: reading salt: %w", err)
	}
	return bcryptWithSalt(password, cost, salt)
}

// bcryptWithSalt computes the bcrypt hash of password for a raw 16-byte salt.
func bcryptWithSalt(password []byte, cost int, salt []byte) (string, error) {
	// C implementations include the key's trailing NUL; so does x/crypto.
	key := append(password[:len(password):len(password)], 0)
	c, err := blowfish.NewSaltedCipher(key, salt)
	if err != nil {
		return "", err
	}
	for i := uint64(0); i < 1<<uint(cost); i++ {
		blowfish.ExpandKey(key, c)
		blowfish.ExpandKey(salt, c)
	}
	data := make([]byte, len(magicCipherData))
	copy(data, magicCipherData)
	for i := 0; i < len(data); i += 8 {
		for j := 0; j < 64; j++ {
			c.Encrypt(data[i:i+8], data[i:i+8])
		}
	}
	// Only 23 of the 24 encrypted bytes are encoded, as in every bcrypt.
	return fmt.Sprintf("$2a$%02d$%s%s", cost, bcryptEncoding.EncodeToString(salt), bcryptEncoding.EncodeToString(data[:23])), nil
}

// checkPassword reports whether password matches the bcrypt hash. Passwords
// longer than bcrypt's limit never match, rather than matching their prefix.
func checkPassword(hash string, password []byte) bool {
	if len(password) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), password) == nil
}
