package persist

import (
	"bytes"
	"fmt"
)

// CheckKey returns an error wrapping ErrInvalidKey if key is empty or longer
// than MaxKeySize. Backends call it so that every backend accepts the same
// keys.
func CheckKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrInvalidKey, len(key), MaxKeySize)
	}
	return nil
}

// Bounds returns the half-open key range [lower, upper) that o selects,
// combining Prefix, Start and End. A nil lower or upper means the range is
// unbounded on that side. If lower is not less than upper, the range is
// empty. Backends use it to turn options into a seek position and a stop
// condition.
func (o IterOptions) Bounds() (lower, upper []byte) {
	lower, upper = o.Start, o.End
	if len(lower) == 0 {
		lower = nil
	}
	if len(upper) == 0 {
		upper = nil
	}
	if len(o.Prefix) == 0 {
		return lower, upper
	}
	if bytes.Compare(o.Prefix, lower) > 0 {
		lower = o.Prefix
	}
	if succ := PrefixEnd(o.Prefix); succ != nil && (upper == nil || bytes.Compare(succ, upper) < 0) {
		upper = succ
	}
	return lower, upper
}

// Empty reports whether the range [lower, upper) returned by Bounds holds no
// keys.
func Empty(lower, upper []byte) bool {
	return lower != nil && upper != nil && bytes.Compare(lower, upper) >= 0
}

// PrefixEnd returns the smallest key greater than every key that begins with
// prefix, or nil if there is none (prefix is empty or all 0xff bytes). Keys
// with the prefix are exactly those in [prefix, PrefixEnd(prefix)).
func PrefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := make([]byte, i+1)
			copy(end, prefix)
			end[i]++
			return end
		}
	}
	return nil
}
