package https

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is wrapped by the error of a dial that the address
// policy refused: without Options.AllowPrivate, federation never connects to
// loopback, private, link-local or other special-purpose addresses, so a
// remote server name cannot point this server at its own network.
var ErrForbiddenAddress = errors.New("https: address not allowed for federation")

// forbiddenPrefixes are the special-purpose blocks of the IANA IPv4 and IPv6
// special-purpose address registries (RFC 6890 and later) that are not
// globally reachable, or that are reachable only in a meaning other than a
// federation peer (multicast, documentation, benchmarking). Outside 2000::/3
// every IPv6 address is refused anyway; see publicAddr.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", including 0.0.0.0
	netip.MustParsePrefix("10.0.0.0/8"),      // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space, carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local
	netip.MustParsePrefix("172.16.0.0/12"),   // private (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // private (RFC 1918)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, including broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments: Teredo, benchmarking, ORCHID
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
}

// globalUnicast6 is the IPv6 global unicast space; every IPv6 address outside
// it (unspecified, loopback, unique local fc00::/7, link-local fe80::/10,
// multicast ff00::/8, discard 100::/64, ...) is refused.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Prefixes whose addresses embed an IPv4 address, which is checked in turn.
var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known NAT64 prefix
	sixToFour    = netip.MustParsePrefix("2002::/16")    // 6to4, RFC 3056
	ipv4Mappable = netip.MustParsePrefix("::ffff:0:0/96")
)

// publicAddr reports whether ip may be dialled for federation without
// Options.AllowPrivate: a globally reachable unicast address. IPv4-mapped,
// NAT64 and 6to4 addresses are judged by the IPv4 address inside them.
func publicAddr(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	if ipv4Mappable.Contains(ip) {
		ip = ip.Unmap()
	}
	if ip.Is6() {
		a := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(a[12:16])))
		case sixToFour.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(a[2:6])))
		case !globalUnicast6.Contains(ip):
			return false
		}
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// control returns the net.Dialer.Control function that enforces the address
// policy. It sees the address actually being connected to, after every
// name was resolved, so a DNS answer that changes between a check and the
// dial (rebinding) cannot slip past it. With allowPrivate it allows every
// address.
func control(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrForbiddenAddress, network, address, err)
		}
		if !publicAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s %s", ErrForbiddenAddress, network, address)
		}
		return nil
	}
}
