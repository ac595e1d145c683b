// Package serveracl evaluates m.room.server_acl (client-server spec, "Server
// Access Control Lists (ACLs) for rooms"): which servers may take part in a
// room. The federation handlers check the origin of every request that
// concerns a room, and every PDU and room EDU of a transaction, against it.
//
// The rules, in order: no ACL event allows everyone; an IP-literal server
// name is denied when allow_ip_literals is false; a name matching a deny
// glob is denied; a name matching an allow glob is allowed; anything else is
// denied. Globs are case-insensitive, '*' matches any run of characters and
// '?' any one character, and they are matched against the server name
// without its port.
package serveracl

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// ACL is a parsed m.room.server_acl content, ready to check many servers
// (a transaction's PDUs, say) without parsing it again.
type ACL struct {
	allowIPLiterals bool
	allow, deny     []string // lower-cased globs
}

// Parse reads the content of an m.room.server_acl event. It never fails:
// as the spec says, a missing or mistyped allow_ip_literals means true, and
// missing or mistyped allow and deny lists mean empty ones (so an ACL
// without an allow list denies every server). Entries that are not strings
// are ignored. Nil or empty content means there is no ACL event; the
// result is nil, which allows everyone.
func Parse(content json.RawMessage) *ACL {
	if len(content) == 0 || string(content) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(content, &raw); err != nil {
		raw = nil
	}
	a := &ACL{allowIPLiterals: true}
	if v, ok := raw["allow_ip_literals"]; ok {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			a.allowIPLiterals = b
		}
	}
	a.allow = globs(raw["allow"])
	a.deny = globs(raw["deny"])
	return a
}

// globs reads a list of glob strings, skipping entries of other types.
func globs(v json.RawMessage) []string {
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// Allowed reports whether the ACL lets serverName (with or without a port)
// take part in the room. A nil ACL (no ACL event) allows every server.
func (a *ACL) Allowed(serverName string) bool {
	if a == nil {
		return true
	}
	host := strings.ToLower(Host(serverName))
	if !a.allowIPLiterals && isIPLiteral(host) {
		return false
	}
	for _, g := range a.deny {
		if Match(g, host) {
			return false
		}
	}
	for _, g := range a.allow {
		if Match(g, host) {
			return true
		}
	}
	return false
}

// Allowed reports whether the m.room.server_acl content lets serverName
// take part in the room; nil content (no ACL event) allows everyone. Use
// Parse once when checking many servers against one ACL.
func Allowed(content json.RawMessage, serverName string) bool {
	return Parse(content).Allowed(serverName)
}

// Host returns serverName without its port: "example.org:8448" becomes
// "example.org", "[::1]:8448" becomes "[::1]".
func Host(serverName string) string {
	if strings.HasPrefix(serverName, "[") {
		if end := strings.IndexByte(serverName, ']'); end >= 0 {
			return serverName[:end+1]
		}
		return serverName
	}
	if i := strings.LastIndexByte(serverName, ':'); i >= 0 {
		return serverName[:i]
	}
	return serverName
}

// isIPLiteral reports whether host (without port) is an IPv4 literal or a
// bracketed IPv6 literal.
func isIPLiteral(host string) bool {
	if inner, ok := strings.CutPrefix(host, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if !ok {
			return false
		}
		addr, err := netip.ParseAddr(inner)
		return err == nil && addr.Is6()
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// Match reports whether s matches the glob pattern, in which '*' matches
// any run of characters (also none) and '?' exactly one. It compares bytes
// exactly; callers lower-case both sides for a case-insensitive match. It
// runs in time proportional to len(glob)*len(s) at worst, so hostile
// patterns in room state cannot make it explode.
func Match(glob, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && (glob[gi] == '?' || glob[gi] == s[si]) && glob[gi] != '*':
			gi++
			si++
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}
