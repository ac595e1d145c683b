package media

import (
	"encoding/base64"
	"fmt"
	"io"

	"hearth/core/mxid"
)

// MaxMediaIDLength bounds media IDs, so that every key fits the store.
const MaxMediaIDLength = 255

// mediaIDLength is the length of the media IDs this server generates:
// 24 characters from 62 carry about 142 bits, so they cannot be guessed.
const mediaIDLength = 24

// ValidMediaID reports whether id is a media ID the spec allows: non-empty,
// only A-Z, a-z, 0-9, '_' and '-', and (hearth's bound) at most
// MaxMediaIDLength bytes. Checking this is what keeps IDs such as "../x"
// out of keys and URLs.
func ValidMediaID(id string) bool {
	if id == "" || len(id) > MaxMediaIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isAlnum(id[i]) && id[i] != '_' && id[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkIDs returns ErrInvalidID unless serverName and mediaID are valid.
func checkIDs(serverName, mediaID string) error {
	if !mxid.ValidServerName(serverName) || !ValidMediaID(mediaID) {
		return fmt.Errorf("%w: mxc://%s/%s", ErrInvalidID, serverName, mediaID)
	}
	return nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newMediaID returns a random media ID of letters and digits, which every
// client and URL handles, read from the Repo's random source.
func (r *Repo) newMediaID() (string, error) {
	id := make([]byte, 0, mediaIDLength)
	buf := make([]byte, 32)
	for len(id) < mediaIDLength {
		if _, err := io.ReadFull(r.cfg.Rand, buf); err != nil {
			return "", fmt.Errorf("media: reading random media ID: %w", err)
		}
		for _, b := range buf {
			// 248 = 4 × 62: rejecting larger bytes keeps the choice uniform.
			if b < 248 && len(id) < mediaIDLength {
				id = append(id, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return string(id), nil
}

// newBlobID returns a random ID for a blob. Every write of content gets a
// fresh blob, so a failed or concurrent write never mixes its chunks with
// another's.
func (r *Repo) newBlobID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("media: reading random blob ID: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
