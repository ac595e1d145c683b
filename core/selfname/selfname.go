// Package selfname implements self-certifying server names: Matrix server
// names derived from a node's ed25519 signing key, for peers that have no
// DNS name and no certificate from a public authority (nodes on a LAN,
// homeservers inside a browser).
//
// # The name
//
// A self-certifying name is
//
//	<base32(key)>.hearth.alt[:<port>]
//
// where base32(key) is the node's 32-byte ed25519 public key in the RFC 4648
// base32 alphabet, lower case, without padding: 52 characters, which fit one
// DNS label (at most 63). The whole hostname is 63 characters, a valid Matrix
// server name (hostname [":" port], the hostname a dns-name of
// [A-Za-z0-9-.]) well under the 230 characters the spec recommends as a
// maximum, so user IDs on such a server stay far below 255 bytes.
//
// Server names are case-sensitive, so only the lower-case form is accepted:
// one key has exactly one name (per port), and a name in another case is an
// ordinary, unrelated server name.
//
// # Why .alt
//
// The suffix must be a name that can never exist in the public DNS, so that
// nobody can register it, obtain a CA certificate for it, or answer for it
// from a resolver. RFC 9476 reserves the top-level label "alt" for exactly
// this: names used in resolution systems other than DNS, never delegated in
// the root zone, to be answered with NXDOMAIN by resolvers that know it, and
// it asks each such system to use its own second-level label ("hearth").
// The alternatives fail that test: ".local" is multicast DNS (RFC 6762), so
// resolvers would ask the LAN and any host there could answer; ".onion" is
// Tor's; ".test", ".example" and ".invalid" (RFC 6761) are for testing,
// documentation and errors, and ".invalid" names are refused as errors by
// some software; an invented top-level label such as ".hearth" could be
// delegated by ICANN in a later round of new top-level domains.
//
// # Keys and certificates
//
// The name is its own key: for a self-certifying server there is no key
// fetch (no /_matrix/key/v2/server, no notary) and no DNS lookup. Such a
// server signs events and requests with its one key under the key ID KeyID,
// and verifiers take the public key from the name (see VerifyKey). There is
// no key rotation; a new key is a new server name.
//
// A self-certifying server has no certificate from a public authority
// either; how a transport proves that a peer holds the key in its name is the
// transport's business (over TLS: package hearth/transport/selfcert). This
// package is pure, so that the core's key ring can use it in every build,
// the browser's included.
package selfname

import (
	"crypto/ed25519"
	"encoding/base32"
	"strconv"
	"strings"
)

// Suffix ends the hostname of every self-certifying server name, after the
// label that carries the key.
const Suffix = ".hearth.alt"

// KeyID is the key ID under which a self-certifying server publishes and
// signs with its key: "ed25519:" and a fixed version, since the server name
// binds exactly one key.
const KeyID = "ed25519:self"

// labelLen is the length of the base32 label that carries a 32-byte key.
const labelLen = 52

// encoding is lower-case RFC 4648 base32 without padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Name returns the self-certifying hostname of pub, without a port. It
// returns "" when pub is not a 32-byte ed25519 public key.
func Name(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	return encoding.EncodeToString(pub) + Suffix
}

// NameWithPort returns the self-certifying server name of pub with an
// explicit port, for a node that does not listen on the default federation
// port 8448. It returns "" when pub is not a 32-byte ed25519 public key or
// port is 0.
func NameWithPort(pub ed25519.PublicKey, port uint16) string {
	name := Name(pub)
	if name == "" || port == 0 {
		return ""
	}
	return name + ":" + strconv.Itoa(int(port))
}

// Parse reports whether serverName is a self-certifying server name, with or
// without a port, and returns the public key it carries. Only the canonical
// form that Name and NameWithPort produce is accepted: lower case, no
// padding bits set, a port without leading zeros in 1 to 65535.
func Parse(serverName string) (ed25519.PublicKey, bool) {
	host, port, hasPort := strings.Cut(serverName, ":")
	if hasPort && !canonicalPort(port) {
		return nil, false
	}
	label, ok := strings.CutSuffix(host, Suffix)
	if !ok || len(label) != labelLen {
		return nil, false
	}
	key, err := encoding.DecodeString(label)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, false
	}
	// The last character holds one bit of the key and four unused bits;
	// re-encoding rejects a name with those bits set, which would
	// otherwise be a second name for the same key.
	if encoding.EncodeToString(key) != label {
		return nil, false
	}
	return ed25519.PublicKey(key), true
}

// VerifyKey returns the public key that checks signatures made by serverName
// under keyID: the key in the name when serverName is self-certifying and
// keyID is KeyID. No other key ID of a self-certifying server can be trusted,
// because no key is ever fetched for one.
func VerifyKey(serverName, keyID string) (ed25519.PublicKey, bool) {
	if keyID != KeyID {
		return nil, false
	}
	return Parse(serverName)
}

// canonicalPort reports whether s is a port in 1 to 65535 written without
// leading zeros.
func canonicalPort(s string) bool {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
}
