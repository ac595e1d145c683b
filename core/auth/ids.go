package auth

import (
	"strings"
	"unicode/utf8"
)

// maxIDLength is the longest user ID the spec allows, in bytes.
const maxIDLength = 255

// ValidUserID reports whether s is a user ID the auth rules accept: "@", a
// non-empty localpart without ':' or control characters, ':', and a server
// name, at most 255 bytes in all. The localpart is read as leniently as the
// spec asks for historical user IDs, which rooms still name in power levels.
func ValidUserID(s string) bool {
	if len(s) > maxIDLength || len(s) < 4 || s[0] != '@' {
		return false
	}
	colon := strings.IndexByte(s, ':')
	if colon < 2 {
		return false
	}
	for _, r := range s[1:colon] {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return validServerName(s[colon+1:])
}

// validServerName reports whether s is a server name: a DNS name, IPv4
// address or bracketed IPv6 literal, optionally followed by ":port".
func validServerName(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		for i := 1; i < end; i++ {
			c := s[i]
			if !(isHex(c) || c == ':' || c == '.') {
				return false
			}
		}
		if end == 1 {
			return false
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
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
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

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// domain returns the part of a user, room or event ID after the first
// colon, or "" when there is none.
func domain(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}
