package https

import (
	"context"
	"errors"
	"fmt"
	"hearth/core/selfname"
	"net"
	"strconv"
	"strings"

	"hearth/transport"
)

// Route is where a server name is served and how to talk to it, the outcome
// of server discovery.
type Route struct {
	// Addrs are the host:port addresses to connect to, in order of
	// preference. A host may be a DNS name, whose addresses are looked
	// up when connecting.
	Addrs []string
	// Host is the Host header of requests.
	Host string
	// TLSName is the name the server's certificate must be valid for,
	// sent as SNI unless it is an IP address. It is a hostname or IP
	// address, without a port.
	TLSName string
	// SelfCertifying reports that TLSName is a self-certifying name
	// (package selfcert), verified by the key it carries.
	SelfCertifying bool
}

// poolHost is the host:port that names the route's connections in the pool:
// the TLS name, so that a connection is only ever reused for requests
// needing a certificate for that name, and the first address's port.
func (r *Route) poolHost() string {
	port := defaultPort
	if len(r.Addrs) > 0 {
		if _, p, err := net.SplitHostPort(r.Addrs[0]); err == nil {
			port = p
		}
	}
	return net.JoinHostPort(r.TLSName, port)
}

// routeKey is the context key under which RoundTrip hands a request's Route
// to the dialer.
type routeKey struct{}

// Resolve finds the route to serverName by the spec's server discovery
// steps:
//
//  1. an IP literal: that address, at the given port or 8448;
//  2. a hostname with a port: that host and port;
//  3. otherwise GET https://<hostname>/.well-known/matrix/server (cached,
//     see below); a valid answer delegates to <delegated_hostname>[:port],
//     which is an IP literal (3.1) or has a port (3.2) and is used as is,
//     or is looked up by SRV _matrix-fed._tcp (3.3), then the deprecated
//     _matrix._tcp (3.4), or else used at port 8448 (3.5), the delegated
//     hostname being the TLS name and Host header;
//  4. with no valid .well-known answer, SRV _matrix-fed._tcp.<hostname>,
//  5. then the deprecated _matrix._tcp.<hostname>,
//  6. else <hostname>:8448.
//
// For an IP literal the certificate must be valid for the IP address;
// otherwise for the hostname (or delegated hostname), never for an SRV
// target. The Host header is the server name, except after delegation,
// where it is the delegated name (with its port, if it has one).
//
// .well-known answers are cached for their Cache-Control max-age or Expires
// lifetime, 24 hours when they give none and at most 48 hours; failures
// (no answer, a status other than 200, an invalid body) for an hour.
//
// A self-certifying name (package selfcert) needs no DNS: its host comes
// from Options.Addresses, and its certificate must carry the key in the
// name. Errors for a server that cannot be reached wrap
// transport.ErrUnreachable; an invalid server name does not.
func (t *Transport) Resolve(ctx context.Context, serverName string) (Route, error) {
	if _, ok := selfname.Parse(serverName); ok {
		return t.resolveSelfCertifying(serverName)
	}
	name, err := parseServerName(serverName)
	if err != nil {
		return Route{}, fmt.Errorf("https: resolve: %w", err)
	}
	if !name.isIP() && outsideDNS(name.host) {
		return Route{}, fmt.Errorf("https: resolve %s: %w: names under .alt are not in the DNS (RFC 9476)", serverName, transport.ErrUnreachable)
	}
	if name.isIP() || name.port != "" { // steps 1 and 2
		return Route{Addrs: []string{name.addr()}, Host: serverName, TLSName: name.host}, nil
	}
	delegated, ok, err := t.lookupWellKnown(ctx, name.host) // step 3
	if err != nil {
		return Route{}, fmt.Errorf("https: resolve %s: %w", serverName, err)
	}
	if ok {
		d, err := parseServerName(delegated)
		if err != nil { // checked when the answer was read
			return Route{}, fmt.Errorf("https: resolve %s: delegated %w", serverName, err)
		}
		if d.isIP() || d.port != "" { // steps 3.1 and 3.2
			return Route{Addrs: []string{d.addr()}, Host: delegated, TLSName: d.host}, nil
		}
		return t.resolveHostname(ctx, d.host) // steps 3.3 to 3.5
	}
	return t.resolveHostname(ctx, name.host) // steps 4 to 6
}

// resolveHostname is steps 3.3 to 3.5 for a delegated hostname and 4 to 6 for
// the server's own: SRV _matrix-fed._tcp, then _matrix._tcp, then port 8448,
// with host as TLS name and Host header.
func (t *Transport) resolveHostname(ctx context.Context, host string) (Route, error) {
	if outsideDNS(host) {
		return Route{}, fmt.Errorf("https: resolve %s: %w: names under .alt are not in the DNS (RFC 9476)", host, transport.ErrUnreachable)
	}
	addrs, err := t.lookupSRV(ctx, host)
	if err != nil {
		return Route{}, fmt.Errorf("https: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		addrs = []string{net.JoinHostPort(host, defaultPort)}
	}
	return Route{Addrs: addrs, Host: host, TLSName: host}, nil
}

// addr is the address to connect to for a server name with an IP literal or
// an explicit port: host and port, 8448 when the name gives none.
func (n serverName) addr() string {
	port := n.port
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(n.host, port)
}

// lookupSRV returns the targets of the _matrix-fed._tcp SRV records of host,
// or failing those of the deprecated _matrix._tcp, as host:port in the
// resolver's order (priority, then weight); none if neither exists.
func (t *Transport) lookupSRV(ctx context.Context, host string) ([]string, error) {
	for _, service := range []string{"matrix-fed", "matrix"} {
		_, records, err := t.resolver.LookupSRV(ctx, service, "tcp", host)
		if err != nil {
			if notFound(err) {
				continue
			}
			return nil, fmt.Errorf("%w: SRV _%s._tcp.%s: %w", transport.ErrUnreachable, service, host, err)
		}
		if len(records) == 0 {
			continue
		}
		var addrs []string
		for _, r := range records {
			target := strings.TrimSuffix(r.Target, ".")
			if target == "" || r.Port == 0 {
				continue // "." means the service is decidedly not offered (RFC 2782)
			}
			addrs = append(addrs, net.JoinHostPort(target, strconv.Itoa(int(r.Port))))
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%w: SRV _%s._tcp.%s: no usable target", transport.ErrUnreachable, service, host)
		}
		return addrs, nil
	}
	return nil, nil
}

// outsideDNS reports whether host is under the special-use .alt domain,
// which is never looked up in the DNS. Self-certifying names are under it;
// any other .alt name is one this transport cannot reach.
func outsideDNS(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "alt" || strings.HasSuffix(host, ".alt")
}

// notFound reports whether a lookup failed because the name or record does
// not exist, as opposed to a failure to ask.
func notFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// resolveSelfCertifying routes a self-certifying server name through the
// address book: the name stays the TLS name and the Host header, and the
// certificate is checked against the key in it.
func (t *Transport) resolveSelfCertifying(serverName string) (Route, error) {
	host, port, _ := strings.Cut(serverName, ":")
	if port == "" {
		port = defaultPort
	}
	if t.opts.Addresses == nil {
		return Route{}, fmt.Errorf("https: resolve %s: %w: no address book for self-certifying names", serverName, transport.ErrUnreachable)
	}
	found, ok := t.opts.Addresses(serverName)
	if !ok {
		return Route{}, fmt.Errorf("https: resolve %s: %w: no known address", serverName, transport.ErrUnreachable)
	}
	addr, err := bookAddress(found, port)
	if err != nil {
		return Route{}, fmt.Errorf("https: resolve %s: address book: %w", serverName, err)
	}
	return Route{Addrs: []string{addr}, Host: serverName, TLSName: host, SelfCertifying: true}, nil
}

// bookAddress reads an address book answer, host or host:port (an IPv6
// address bracketed or not), into host:port, using port when it has none.
func bookAddress(found, port string) (string, error) {
	host := found
	if h, p, err := net.SplitHostPort(found); err == nil {
		if _, ok := parsePort(p); !ok {
			return "", fmt.Errorf("invalid port in %q", found)
		}
		host, port = h, p
	} else if inner, ok := strings.CutPrefix(found, "["); ok {
		host = strings.TrimSuffix(inner, "]")
	}
	if host == "" {
		return "", fmt.Errorf("no host in %q", found)
	}
	return net.JoinHostPort(host, port), nil
}
