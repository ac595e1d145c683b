// Package transport defines how one homeserver's federation requests reach
// another: the seam between the protocol in core, which never dials, and
// the ways bytes can travel (HTTPS, WebRTC data channels, store-and-forward
// relays, LAN discovery), each implemented in a sub-package.
//
// A request handed to a Transport is already a complete Matrix federation
// request: method, path, body and the X-Matrix Authorization header signed
// by the core. A transport only moves it and brings the response back, so a
// new way of travelling never touches protocol code.
package transport

import (
	"errors"
	"net/http"
)

// Transport carries federation requests to other servers. Implementations
// must be safe for concurrent use.
type Transport interface {
	// RoundTrip sends req to the server named by destination (a Matrix
	// server name, not a network address; resolving it is the
	// transport's job) and returns the response. As with
	// http.RoundTripper, a non-nil error means no response was received;
	// an HTTP error status is a response, not an error.
	RoundTrip(destination string, req *http.Request) (*http.Response, error)
}

// ErrUnreachable is wrapped by errors that mean the destination cannot be
// reached by a transport at all right now (no route, peer offline, refused
// by policy), as opposed to a request that failed once. Senders use it to
// back off or to choose another transport.
var ErrUnreachable = errors.New("transport: destination unreachable")

// Chooser picks the transport for a destination, so that one node can reach
// DNS-named servers over HTTPS and self-certifying peers over WebRTC or a
// relay.
type Chooser interface {
	// Choose returns the transport to use for destination, or an error
	// wrapping ErrUnreachable when none can reach it.
	Choose(destination string) (Transport, error)
}

// Single is a Chooser that sends every destination through one transport.
type Single struct{ Transport Transport }

// Choose returns s.Transport for every destination.
func (s Single) Choose(string) (Transport, error) {
	if s.Transport == nil {
		return nil, ErrUnreachable
	}
	return s.Transport, nil
}
