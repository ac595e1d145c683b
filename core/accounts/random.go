package accounts

import (
	"fmt"
	"io"
	"sync"
)

// Alphabets of the random strings Accounts makes.
const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerDigit = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// lockedReader serialises reads from a random source that, like the
// seeded generators tests use, may not be safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// randomString makes a string of n characters drawn uniformly from alphabet
// (at most 256 characters long).
func (a *Accounts) randomString(n int, alphabet string) (string, error) {
	// Rejection sampling keeps the characters uniform: bytes at or above
	// limit would favour the alphabet's first characters.
	limit := 256 - 256%len(alphabet)
	b := make([]byte, n)
	buf := make([]byte, n+n/2+8)
	for i := 0; i < n; {
		if _, err := io.ReadFull(a.rand, buf); err != nil {
			return "", fmt.Errorf("accounts: reading randomness: %w", err)
		}
		for _, c := range buf {
			if int(c) >= limit {
				continue
			}
			b[i] = alphabet[int(c)%len(alphabet)]
			if i++; i == n {
				break
			}
		}
	}
	return string(b), nil
}
