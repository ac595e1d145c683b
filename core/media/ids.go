package media

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
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

// ValidServerName reports whether s is a server name as the spec's
// appendix defines it: a DNS name, an IPv4 address or a bracketed IPv6
// literal, optionally followed by ":" and a port of 1 to 5 digits.
func ValidServerName(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 || end > 46 {
			return false
		}
		for i := 1; i < end; i++ {
			if c := s[i]; !isHex(c) && c != ':' && c != '.' {
				return false
			}
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return false
			}
		}
		if host == "" || len(host) > 255 {
			return false
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; !isAlnum(c) && c != '-' && c != '.' {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// checkIDs returns ErrInvalidID unless serverName and mediaID are valid.
func checkIDs(serverName, mediaID string) error {
	if !ValidServerName(serverName) || !ValidMediaID(mediaID) {
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
