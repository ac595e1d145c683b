// Package b64 implements Matrix "unpadded base64" (spec appendices,
// "Unpadded Base64"): RFC 4648 base64 written without '=' padding.
//
// Matrix writes keys, signatures and hashes in the standard alphabet and
// event IDs of room versions 4 and later in the URL-safe alphabet, always
// unpadded. Decoders accept padded input too, as the spec recommends, so
// that values produced by lenient peers still decode. Whitespace and line
// breaks are rejected (the standard library would silently drop CR and LF),
// because every value Matrix carries is a single token. Unused trailing bits
// need not be zero: the spec's own test signing key is written with them set,
// and other implementations accept such input.
package b64

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Encode returns src in unpadded standard base64, the form Matrix uses for
// keys, signatures and content hashes.
func Encode(src []byte) string {
	return base64.RawStdEncoding.EncodeToString(src)
}

// AppendEncode appends the unpadded standard base64 form of src to dst and
// returns the extended buffer, so hot paths can encode without an extra
// string allocation.
func AppendEncode(dst, src []byte) []byte {
	return base64.RawStdEncoding.AppendEncode(dst, src)
}

// EncodedLen returns the length of the unpadded base64 encoding of n bytes,
// for sizing buffers passed to AppendEncode.
func EncodedLen(n int) int {
	return base64.RawStdEncoding.EncodedLen(n)
}

// Decode decodes standard-alphabet base64, padded or unpadded.
func Decode(s string) ([]byte, error) {
	b, err := decode(base64.RawStdEncoding, base64.StdEncoding, s)
	if err != nil {
		return nil, fmt.Errorf("b64: decode standard base64: %w", err)
	}
	return b, nil
}

// EncodeURL returns src in unpadded URL-safe base64 ('-' and '_' instead of
// '+' and '/'), the form of event IDs in room versions 4 and later.
func EncodeURL(src []byte) string {
	return base64.RawURLEncoding.EncodeToString(src)
}

// DecodeURL decodes URL-safe base64, padded or unpadded.
func DecodeURL(s string) ([]byte, error) {
	b, err := decode(base64.RawURLEncoding, base64.URLEncoding, s)
	if err != nil {
		return nil, fmt.Errorf("b64: decode URL-safe base64: %w", err)
	}
	return b, nil
}

// decode picks the padded decoder when s ends in '=' and the unpadded one
// otherwise, after rejecting the line breaks that encoding/base64 ignores.
func decode(raw, padded *base64.Encoding, s string) ([]byte, error) {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("line break at offset %d", i)
	}
	enc := raw
	if strings.HasSuffix(s, "=") {
		enc = padded
	}
	return enc.DecodeString(s)
}
