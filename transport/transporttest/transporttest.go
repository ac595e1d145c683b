// Package transporttest provides a federation transport for tests: it
// routes server names to in-process HTTP test servers, so that federation
// code runs over real HTTP without resolving names or dialling anything but
// loopback.
package transporttest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"hearth/transport"
)

// Routes is a transport.Chooser and transport.Transport that sends each
// destination to the test server registered for it. The zero value is
// ready to use; it is safe for concurrent use.
type Routes struct {
	mu  sync.Mutex
	srv map[string]*httptest.Server
}

// Serve starts a test server for h, closed when the test ends, and routes
// the server name name to it.
func (r *Routes) Serve(t testing.TB, name string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		r.srv = map[string]*httptest.Server{}
	}
	r.srv[name] = srv
	return srv
}

// Choose implements transport.Chooser: destinations without a server are
// unreachable.
func (r *Routes) Choose(dest string) (transport.Transport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.srv[dest]; !ok {
		return nil, fmt.Errorf("no route to %s: %w", dest, transport.ErrUnreachable)
	}
	return r, nil
}

// RoundTrip implements transport.Transport by sending req to dest's test
// server.
func (r *Routes) RoundTrip(dest string, req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	srv, ok := r.srv[dest]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no route to %s: %w", dest, transport.ErrUnreachable)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
	return srv.Client().Transport.RoundTrip(out)
}
