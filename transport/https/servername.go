package https

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// defaultPort is the federation port used when a server name, or the
// delegated name in its .well-known answer, gives none.
const defaultPort = "8448"

// serverName is a parsed Matrix server name: hostname [":" port].
type serverName struct {
	// host is the hostname: a DNS name, or an IP address without the
	// brackets of an IPv6 literal.
	host string
	// port is the explicit port in decimal without leading zeros, or ""
	// when there is none.
	port string
	// ip is the address when host is an IP literal.
	ip netip.Addr
}

// isIP reports whether the hostname is an IP literal.
func (n serverName) isIP() bool { return n.ip.IsValid() }

// parseServerName parses s by the server name grammar of the spec's
// appendices: an IPv4 literal, a bracketed IPv6 literal or a DNS name of
// [A-Za-z0-9-.] (at most 255 characters), then optionally ":" and a port of
// one to five digits, which must also be 1 to 65535 to be dialled.
func parseServerName(s string) (serverName, error) {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host, port = s[:i], s[i+1:]
		n, ok := parsePort(port)
		if !ok {
			return serverName{}, fmt.Errorf("server name %q: invalid port %q", s, port)
		}
		port = strconv.Itoa(n)
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		ip, err := netip.ParseAddr(inner)
		if !ok || err != nil || !ip.Is6() || ip.Zone() != "" {
			return serverName{}, fmt.Errorf("server name %q: invalid IPv6 literal %q", s, host)
		}
		return serverName{host: inner, port: port, ip: ip}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return serverName{host: host, port: port, ip: ip}, nil
	}
	if !validDNSName(host) {
		return serverName{}, fmt.Errorf("server name %q: invalid hostname %q", s, host)
	}
	return serverName{host: host, port: port}, nil
}

// parsePort reads s, one to five digits naming a port in 1 to 65535.
func parsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 65535
}

// validDNSName reports whether s is a dns-name of the grammar: 1 to 255
// characters of [A-Za-z0-9-.]. A dotted-decimal string that is not a valid
// IPv4 address (such as 256.1.1.1) is refused rather than looked up.
func validDNSName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	allDigitsAndDots := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', c == '.':
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
			allDigitsAndDots = false
		default:
			return false
		}
	}
	return !allDigitsAndDots
}
