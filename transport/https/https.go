// Package https is the HTTPS federation transport: it finds where a Matrix
// server name is served by the server discovery rules of the server-server
// API ("Resolving server names": IP literals, explicit ports,
// /.well-known/matrix/server delegation, SRV records, port 8448), connects
// with TLS verified for the name the spec requires, and sends the core's
// federation requests over a pool of connections.
//
// Two policies guard what it connects to. TLS certificates are verified
// against the system's (or Options.RootCAs') authorities unless
// Options.InsecureSkipVerify is set, and self-certifying server names
// (package selfcert) are verified by the key in the name instead, always.
// And unless Options.AllowPrivate is set, it refuses to connect to loopback,
// private, link-local and other special-purpose addresses, checked on the
// address actually dialled so that DNS cannot steer it inside the local
// network (ErrForbiddenAddress).
package https

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"hearth/transport"
)

// Timeouts and pool sizes of the transport.
const (
	// dialTimeout bounds each TCP connection attempt.
	dialTimeout = 10 * time.Second
	// tlsHandshakeTimeout bounds each TLS handshake.
	tlsHandshakeTimeout = 10 * time.Second
	// responseHeaderTimeout bounds the wait for a response's headers
	// once a request is written.
	responseHeaderTimeout = 60 * time.Second
	// idleConnTimeout closes pooled connections unused for this long.
	idleConnTimeout = 90 * time.Second
	// defaultMaxIdleConnsPerHost is the default of
	// Options.MaxIdleConnsPerHost.
	defaultMaxIdleConnsPerHost = 8
)

// Resolver looks up DNS records for server discovery. *net.Resolver, and so
// net.DefaultResolver, implements it; tests supply their own.
type Resolver interface {
	// LookupSRV looks up the SRV records of _service._proto.name, as
	// net.Resolver.LookupSRV. A name without records is reported by a
	// *net.DNSError with IsNotFound set, or by no records and no error.
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	// LookupIPAddr looks up the IPv4 and IPv6 addresses of host, as
	// net.Resolver.LookupIPAddr.
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configures a Transport. The zero value is the production default:
// the system resolver and trusted authorities, verification on, public
// addresses only.
type Options struct {
	// Resolver answers DNS queries; nil means net.DefaultResolver.
	Resolver Resolver
	// RootCAs are the authorities trusted for server certificates; nil
	// means the system's.
	RootCAs *x509.CertPool
	// InsecureSkipVerify turns off certificate verification for
	// DNS-named and IP-literal servers (--federation-tls-skip-verify),
	// for tests and networks where peers are authenticated otherwise.
	// Self-certifying servers are still verified by their key.
	InsecureSkipVerify bool
	// AllowPrivate allows connections to loopback, private, link-local
	// and other special-purpose addresses (--federation-allow-private),
	// for tests and local networks.
	AllowPrivate bool
	// Addresses is the address book for self-certifying server names,
	// which DNS cannot resolve (for example, peers found by LAN
	// discovery). It returns the host, or host:port, serving serverName;
	// without a port, the name's port or 8448 is used. Nil, or an answer
	// of false, leaves the server unreachable. The address policy still
	// applies: peers at private addresses need AllowPrivate.
	Addresses func(serverName string) (string, bool)
	// MaxIdleConnsPerHost is how many idle connections are kept per
	// destination; 0 means 8.
	MaxIdleConnsPerHost int
	// Now is the clock for the .well-known cache; nil means time.Now.
	Now func() time.Time
}

// Transport sends federation requests over HTTPS. It implements
// transport.Transport and is safe for concurrent use. Connections are
// pooled by the name their certificate was verified for, so requests to
// every server name delegated to one host share its connections.
//
// Each connection attempt has 10 seconds to connect and 10 more for the TLS
// handshake; a response's headers must come within 60 seconds.
type Transport struct {
	opts     Options
	resolver Resolver
	now      func() time.Time
	dialer   *net.Dialer

	federation *http.Transport
	wellKnown  *http.Client

	// base ends background .well-known fetches when the transport is
	// closed.
	base   context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	cache map[string]*wellKnownEntry

	// wellKnownPort, when set, replaces port 443 in .well-known URLs; the
	// tests' servers cannot listen on 443.
	wellKnownPort string
}

var _ transport.Transport = (*Transport)(nil)

// New returns a Transport configured by opts.
func New(opts Options) *Transport {
	t := &Transport{
		opts:     opts,
		resolver: opts.Resolver,
		now:      opts.Now,
		cache:    make(map[string]*wellKnownEntry),
	}
	if t.resolver == nil {
		t.resolver = net.DefaultResolver
	}
	if t.now == nil {
		t.now = time.Now
	}
	t.base, t.cancel = context.WithCancel(context.Background())
	t.dialer = &net.Dialer{Timeout: dialTimeout, Control: control(opts.AllowPrivate)}
	perHost := opts.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = defaultMaxIdleConnsPerHost
	}
	t.federation = &http.Transport{
		DialTLSContext:        t.dialRoute,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
	t.wellKnown = &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return t.dialAny(ctx, []string{addr})
			},
			TLSClientConfig: &tls.Config{
				RootCAs:            opts.RootCAs,
				InsecureSkipVerify: opts.InsecureSkipVerify, // only when the operator asked for it
				MinVersion:         tls.VersionTLS12,
			},
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       idleConnTimeout,
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ResponseHeaderTimeout: responseHeaderTimeout,
		},
		CheckRedirect: checkRedirect,
	}
	return t
}

// RoundTrip sends req to the server named destination: it resolves the name
// (Resolve), points a copy of req at https://<TLS name>:<port> with the Host
// header the spec requires, and sends it over a pooled or new connection.
// req itself is not modified. Errors that mean the server cannot be reached
// (DNS failure, no connection to any of its addresses, a refused address, a
// failed TLS handshake) wrap transport.ErrUnreachable.
func (t *Transport) RoundTrip(destination string, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	route, err := t.Resolve(ctx, destination)
	if err != nil {
		return nil, fmt.Errorf("https: %s %s: %w", req.Method, destination, err)
	}
	out := req.Clone(context.WithValue(ctx, routeKey{}, &route))
	out.URL.Scheme = "https"
	out.URL.Opaque = ""
	out.URL.User = nil
	out.URL.Host = route.poolHost()
	out.Host = route.Host
	resp, err := t.federation.RoundTrip(out)
	if err != nil {
		return nil, fmt.Errorf("https: %s %s%s: %w", req.Method, destination, out.URL.Path, err)
	}
	return resp, nil
}

// CloseIdleConnections closes the pooled connections that are not in use.
func (t *Transport) CloseIdleConnections() {
	t.federation.CloseIdleConnections()
	t.wellKnown.CloseIdleConnections()
}

// Close stops .well-known fetches under way and closes idle connections.
// Requests in flight run to their end; the Transport should not be used
// afterwards.
func (t *Transport) Close() {
	t.cancel()
	t.CloseIdleConnections()
}
