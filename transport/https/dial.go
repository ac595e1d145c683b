package https

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"hearth/transport"
	"hearth/transport/selfcert"
)

// dialRoute is the federation pool's DialTLSContext: it connects to the first
// of the request's route addresses that answers and completes a TLS
// handshake verified for the route's TLS name.
func (t *Transport) dialRoute(ctx context.Context, _, addr string) (net.Conn, error) {
	route, ok := ctx.Value(routeKey{}).(*Route)
	if !ok {
		return nil, fmt.Errorf("https: dial %s: no route in the request context", addr)
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || host != route.TLSName {
		return nil, fmt.Errorf("https: dial %s: route is for %s", addr, route.TLSName)
	}
	config, err := t.tlsConfig(route)
	if err != nil {
		return nil, fmt.Errorf("https: dial %s: %w", route.TLSName, err)
	}
	var errs []error
	for _, a := range route.Addrs {
		conn, err := t.dialTLS(ctx, a, config)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("https: connect to %s: %w: %w", route.TLSName, transport.ErrUnreachable, errors.Join(errs...))
}

// dialTLS connects to addr and completes a TLS handshake under config.
func (t *Transport) dialTLS(ctx context.Context, addr string, config *tls.Config) (net.Conn, error) {
	raw, err := t.dialAny(ctx, []string{addr})
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, config)
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s at %s: %w", config.ServerName, raw.RemoteAddr(), err)
	}
	return conn, nil
}

// tlsConfig is the client TLS configuration for a route: verification by key
// for a self-certifying name, otherwise by certificate for the TLS name
// (unless the operator turned verification off).
func (t *Transport) tlsConfig(route *Route) (*tls.Config, error) {
	protos := []string{"h2", "http/1.1"}
	if route.SelfCertifying {
		config, err := selfcert.ClientConfig(route.TLSName)
		if err != nil {
			return nil, err
		}
		config.NextProtos = protos
		return config, nil
	}
	return &tls.Config{
		ServerName:         route.TLSName,
		RootCAs:            t.opts.RootCAs,
		InsecureSkipVerify: t.opts.InsecureSkipVerify, // only when the operator asked for it
		MinVersion:         tls.VersionTLS12,
		NextProtos:         protos,
	}, nil
}

// dialAny opens a TCP connection to the first address of addrs (host:port,
// the host a name or an IP address) that answers, looking names up with the
// transport's resolver. Every connection goes through the dialer's Control
// hook, which applies the address policy. Failures wrap
// transport.ErrUnreachable.
func (t *Transport) dialAny(ctx context.Context, addrs []string) (net.Conn, error) {
	var errs []error
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("address %q: %w", addr, err))
			continue
		}
		ips, err := t.lookupIP(ctx, host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ip := range ips {
			conn, err := t.dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", transport.ErrUnreachable, errors.Join(errs...))
			}
		}
	}
	return nil, fmt.Errorf("%w: %w", transport.ErrUnreachable, errors.Join(errs...))
}

// lookupIP returns the addresses of host: itself when it is an IP literal,
// else the resolver's A and AAAA answers.
func (t *Transport) lookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if outsideDNS(host) {
		return nil, fmt.Errorf("look up %s: names under .alt are not in the DNS (RFC 9476)", host)
	}
	answers, err := t.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}
	ips := make([]netip.Addr, 0, len(answers))
	for _, a := range answers {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ips = append(ips, ip.Unmap().WithZone(a.Zone))
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("look up %s: no addresses", host)
	}
	return ips, nil
}
