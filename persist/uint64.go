package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// GetUint64 reads a number stored under key as 8 big-endian bytes, the
// layout the core packages use for counters and stream positions. An absent
// key reads as 0; a value of another length is an error.
func GetUint64(tx Tx, key []byte) (uint64, error) {
	raw, err := tx.Get(key)
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(raw) != 8:
		return 0, fmt.Errorf("persist: value of %q is %d bytes, not an 8-byte number", key, len(raw))
	}
	return binary.BigEndian.Uint64(raw), nil
}
