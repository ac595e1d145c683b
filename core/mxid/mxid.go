// Package mxid holds the grammar of Matrix identifiers (the spec's
// appendices, "Identifier Grammar"): server names, user IDs and their
// localparts, room IDs, room aliases and event IDs. Every package that
// checks or splits an identifier uses these functions, so that one reading
// of the grammar serves the whole server.
package mxid

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLength is the longest user ID, room ID or room alias the spec
// allows, sigil and server name included (in bytes).
const MaxIDLength = 255

// maxIPv6Literal bounds the bracketed part of an IPv6 literal: the longest
// IPv6address of RFC 3986 has 45 characters.
const maxIPv6Literal = 45

// ValidServerName reports whether s is a server name as the spec's
// appendix defines it: a DNS name of [A-Za-z0-9-.] (at most 255
// characters), an IPv4 address or a bracketed IPv6 literal, optionally
// followed by ":" and a port of 1 to 5 digits. Server names are
// case-sensitive and never carry a path.
func ValidServerName(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 || end > maxIPv6Literal+1 {
			return false
		}
		for i := 1; i < end; i++ {
			if c := s[i]; !isHex(c) && c != ':' && c != '.' {
				return false
			}
		}
		port = s[end+1:]
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok || port == "" {
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

// ServerOf returns the server name of a user, room or event ID or a room
// alias: everything after the first colon (the localpart grammar has none),
// or "" when there is no colon. It does not check the sigil.
func ServerOf(id string) string {
	_, server, _ := strings.Cut(id, ":")
	return server
}

// Split returns the localpart and server name of an identifier
// "<sigil>localpart:server" with the given sigil ('@', '!', '#', '$'). ok
// is false when the sigil differs, there is no colon, or either part is
// empty. The server name is not checked against the grammar.
func Split(id string, sigil byte) (localpart, server string, ok bool) {
	if len(id) < 4 || id[0] != sigil {
		return "", "", false
	}
	localpart, server, ok = strings.Cut(id[1:], ":")
	if !ok || localpart == "" || server == "" {
		return "", "", false
	}
	return localpart, server, true
}

// ValidUserID reports whether s is a user ID as rooms may name it: "@", a
// non-empty localpart without ':' or control characters, ':', and a valid
// server name, at most [MaxIDLength] bytes in all. The localpart is read as
// leniently as the spec asks for historical user IDs, which rooms still
// name in power levels and memberships.
func ValidUserID(s string) bool {
	if len(s) > MaxIDLength {
		return false
	}
	local, server, ok := Split(s, '@')
	if !ok {
		return false
	}
	for _, r := range local {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return ValidServerName(server)
}

// ValidLocalpart reports whether s is a localpart this server may give a
// new user: at least one character, only a-z, 0-9, '.', '_', '=', '-', '/'
// and '+'. It does not bound the length; see [UserID] and [MaxIDLength].
func ValidLocalpart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._=-/+", c) >= 0) {
			return false
		}
	}
	return true
}

// UserID returns the user ID "@localpart:server".
func UserID(localpart, server string) string {
	return "@" + localpart + ":" + server
}

// ValidRoomAlias reports whether s has the grammar of a room alias:
// "#localpart:server" with both parts non-empty, at most [MaxIDLength]
// bytes, and no white space or control characters. The server name is
// not checked, so that aliases of servers with odd names still resolve.
func ValidRoomAlias(s string) bool {
	if len(s) > MaxIDLength {
		return false
	}
	if _, _, ok := Split(s, '#'); !ok {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
