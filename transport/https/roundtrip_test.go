package https

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"hearth/core/selfname"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth/transport"
	"hearth/transport/selfcert"
)

// federationRequest returns a federation request as core builds it: a
// destination-neutral URL the transport rewrites.
func federationRequest(t *testing.T, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "matrix-federation://ignored/_matrix/federation/v1/send/txn1?x=1", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", `X-Matrix origin="a.test",key="ed25519:1",sig="x"`)
	return req
}

// roundTrip sends a request to destination and returns the response body.
func roundTrip(t *testing.T, tr *Transport, destination string) (string, error) {
	t.Helper()
	resp, err := tr.RoundTrip(destination, federationRequest(t, `{"pdus":[]}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func portNum(t *testing.T, port string) uint16 {
	t.Helper()
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

func TestRoundTripDiscovery(t *testing.T) {
	ca := newTestCA(t)
	// One federation server on 127.0.0.1 holding a certificate for every
	// name the cases below must verify.
	fedCert := ca.issue(t, "127.0.0.1", "explicit.test", "matrix.deleg-port.test", "matrix.deleg-srv.test", "srv.test", "old-srv.test", "matrix.fallback.test")
	fed := startServer(t, &fedCert, false, okHandler)
	port := fed.port
	wkCert := ca.issue(t, "deleg-port.test", "deleg-srv.test", "srv.test", "old-srv.test", "fallback.test")
	wk := startServer(t, &wkCert, false, wellKnownHandler(map[string]wellKnownAnswer{
		"deleg-port.test": {body: `{"m.server": "matrix.deleg-port.test:` + port + `"}`},
		"deleg-srv.test":  {body: `{"m.server": "matrix.deleg-srv.test"}`},
		"fallback.test":   {body: `{"m.server": "matrix.fallback.test"}`},
	}))

	resolver := newFakeResolver()
	for _, h := range []string{"explicit.test", "matrix.deleg-port.test", "deleg-port.test", "deleg-srv.test", "srv.test", "old-srv.test", "box.test", "fallback.test"} {
		resolver.addHost(h)
	}
	resolver.addSRV("matrix-fed", "matrix.deleg-srv.test", "box.test.", portNum(t, port))
	resolver.addSRV("matrix-fed", "srv.test", "box.test.", portNum(t, port))
	resolver.addSRV("matrix", "old-srv.test", "box.test.", portNum(t, port))
	// The first SRV target refuses connections; the second answers.
	resolver.addSRV("matrix-fed", "matrix.fallback.test", "box.test.", portNum(t, closedPort(t)))
	resolver.addSRV("matrix-fed", "matrix.fallback.test", "box.test.", portNum(t, port))
	tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true}, wk.port)

	tests := []struct {
		name        string
		destination string
		host, sni   string
	}{
		{"ip literal", "127.0.0.1:" + port, "127.0.0.1:" + port, ""},
		{"explicit port", "explicit.test:" + port, "explicit.test:" + port, "explicit.test"},
		{"delegated with port", "deleg-port.test", "matrix.deleg-port.test:" + port, "matrix.deleg-port.test"},
		{"delegated then SRV", "deleg-srv.test", "matrix.deleg-srv.test", "matrix.deleg-srv.test"},
		{"SRV matrix-fed", "srv.test", "srv.test", "srv.test"},
		{"deprecated SRV matrix", "old-srv.test", "old-srv.test", "old-srv.test"},
		{"next SRV target", "fallback.test", "matrix.fallback.test", "matrix.fallback.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fed.seenRequests())
			body, err := roundTrip(t, tr, tt.destination)
			if err != nil {
				t.Fatalf("RoundTrip(%s): %v", tt.destination, err)
			}
			if body != `{"ok":true}` {
				t.Fatalf("body %q", body)
			}
			reqs := fed.seenRequests()
			if len(reqs) != before+1 {
				t.Fatalf("server saw %d new requests, want 1", len(reqs)-before)
			}
			want := seen{Host: tt.host, SNI: tt.sni, Method: http.MethodPut, Path: "/_matrix/federation/v1/send/txn1", Query: "x=1"}
			if got := reqs[len(reqs)-1]; got != want {
				t.Fatalf("server saw %+v, want %+v", got, want)
			}
		})
	}
}

func TestRoundTripLeavesRequestAlone(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "127.0.0.1")
	var gotBody, gotAuth string
	fed := startServer(t, &cert, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotAuth = string(b), r.Header.Get("Authorization")
	}))
	tr := newTestTransport(t, Options{Resolver: newFakeResolver(), RootCAs: ca.pool, AllowPrivate: true}, "")
	req := federationRequest(t, `{"pdus":[1]}`)
	resp, err := tr.RoundTrip("127.0.0.1:"+fed.port, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.URL.String() != "matrix-federation://ignored/_matrix/federation/v1/send/txn1?x=1" || req.Host != "ignored" {
		t.Fatalf("caller's request changed: URL %s, Host %q", req.URL, req.Host)
	}
	if gotBody != `{"pdus":[1]}` || !strings.HasPrefix(gotAuth, "X-Matrix ") {
		t.Fatalf("server got body %q, Authorization %q", gotBody, gotAuth)
	}
}

func TestRoundTripReusesConnections(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "matrix.shared.test", "alias.test")
	for _, http2 := range []bool{false, true} {
		t.Run("http2="+strconv.FormatBool(http2), func(t *testing.T) {
			fed := startServer(t, &cert, http2, okHandler)
			wk := startServer(t, &cert, false, wellKnownHandler(map[string]wellKnownAnswer{
				"alias.test": {body: `{"m.server": "matrix.shared.test:` + fed.port + `"}`},
			}))
			resolver := newFakeResolver()
			resolver.addHost("matrix.shared.test")
			resolver.addHost("alias.test")
			tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true}, wk.port)
			// A server name delegated to the same host and
			// certificate shares its connections.
			for _, dest := range []string{"matrix.shared.test:" + fed.port, "matrix.shared.test:" + fed.port, "alias.test"} {
				resp, err := tr.RoundTrip(dest, federationRequest(t, "{}"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if (resp.ProtoMajor == 2) != http2 {
					t.Fatalf("response protocol %s, want HTTP/2 %v", resp.Proto, http2)
				}
			}
			if n := fed.connections(); n != 1 {
				t.Fatalf("server accepted %d connections, want 1", n)
			}
			if n := len(fed.seenRequests()); n != 3 {
				t.Fatalf("server saw %d requests, want 3", n)
			}
		})
	}
}

func TestRoundTripVerification(t *testing.T) {
	ca := newTestCA(t)
	right := ca.issue(t, "fed.test")
	wrongName := ca.issue(t, "other.test")
	untrusted := newTestCA(t).issue(t, "fed.test")
	hostnameError := func(err error) bool {
		var e x509.HostnameError
		return errors.As(err, &e)
	}
	authorityError := func(err error) bool {
		var e x509.UnknownAuthorityError
		return errors.As(err, &e)
	}
	tests := []struct {
		name       string
		cert       *tls.Certificate // nil: httptest's self-signed certificate
		skipVerify bool
		check      func(error) bool // nil: no error
	}{
		{"trusted", &right, false, nil},
		{"wrong name", &wrongName, false, hostnameError},
		{"untrusted authority", &untrusted, false, authorityError},
		{"self-signed for other names", nil, false, hostnameError},
		{"wrong name, skip verify", &wrongName, true, nil},
		{"untrusted authority, skip verify", &untrusted, true, nil},
		{"self-signed, skip verify", nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fed := startServer(t, tt.cert, false, okHandler)
			resolver := newFakeResolver()
			resolver.addHost("fed.test")
			tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true, InsecureSkipVerify: tt.skipVerify}, "")
			_, err := roundTrip(t, tr, "fed.test:"+fed.port)
			if tt.check == nil {
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				return
			}
			if err == nil || !tt.check(err) {
				t.Fatalf("RoundTrip = %v, want a certificate error", err)
			}
			if !errors.Is(err, transport.ErrUnreachable) {
				t.Fatalf("RoundTrip = %v, want it to wrap ErrUnreachable", err)
			}
			if n := len(fed.seenRequests()); n != 0 {
				t.Fatalf("server saw %d requests over an unverified connection", n)
			}
		})
	}
}

func TestRoundTripUnreachable(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "127.0.0.1", "fed.test", "wk.test")
	fed := startServer(t, &cert, false, okHandler)
	wk := startServer(t, &cert, false, wellKnownHandler(map[string]wellKnownAnswer{
		"wk.test": {body: `{"m.server": "fed.test:` + fed.port + `"}`},
	}))
	resolver := newFakeResolver()
	resolver.addHost("fed.test")
	resolver.addHost("wk.test")
	resolver.addHost("private.test", "10.0.0.1", "192.168.1.1")
	tests := []struct {
		name         string
		destination  string
		allowPrivate bool
		forbidden    bool
	}{
		{"loopback literal refused", "127.0.0.1:" + fed.port, false, true},
		{"name resolving to loopback refused", "fed.test:" + fed.port, false, true},
		{"name resolving to private addresses refused", "private.test:" + fed.port, false, true},
		{"no such host", "nowhere.test:" + fed.port, true, false},
		{"connection refused", "127.0.0.1:" + closedPort(t), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: tt.allowPrivate}, wk.port)
			before := fed.connections()
			_, err := roundTrip(t, tr, tt.destination)
			if !errors.Is(err, transport.ErrUnreachable) {
				t.Fatalf("RoundTrip(%s) = %v, want ErrUnreachable", tt.destination, err)
			}
			if errors.Is(err, ErrForbiddenAddress) != tt.forbidden {
				t.Fatalf("RoundTrip(%s) = %v, want ErrForbiddenAddress %v", tt.destination, err, tt.forbidden)
			}
			if n := fed.connections(); n != before {
				t.Fatalf("server accepted %d connections", n-before)
			}
		})
	}

	// The .well-known fetch goes through the same guard: without
	// AllowPrivate it never reaches the server at 127.0.0.1, and
	// discovery falls back to port 8448.
	tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool}, wk.port)
	route, err := tr.Resolve(context.Background(), "wk.test")
	if err != nil {
		t.Fatal(err)
	}
	if route.Addrs[0] != "wk.test:8448" {
		t.Fatalf("route %+v, want the port 8448 fallback", route)
	}
	if n := wk.connections(); n != 0 {
		t.Fatalf(".well-known server accepted %d connections without AllowPrivate", n)
	}
	tr = newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true}, wk.port)
	if _, err := roundTrip(t, tr, "wk.test"); err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
}

// selfCertifyingServer serves okHandler at 127.0.0.1 with the self-signed
// certificate of key under name.
func selfCertifyingServer(t *testing.T, key ed25519.PrivateKey, name string) *testServer {
	t.Helper()
	cert, err := selfcert.Certificate(key, name, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, &cert, false, okHandler)
}

func TestRoundTripSelfCertifying(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	name := selfname.Name(key.Public().(ed25519.PublicKey))
	impostorKey := ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), 1))
	impostorName := selfname.Name(impostorKey.Public().(ed25519.PublicKey))
	tests := []struct {
		name       string
		key        ed25519.PrivateKey
		certName   string
		skipVerify bool
		ok         bool
	}{
		{"right key", key, name, false, true},
		{"right key, skip verify", key, name, true, true},
		{"another key", impostorKey, impostorName, false, false},
		{"another key, skip verify", impostorKey, impostorName, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := selfCertifyingServer(t, tt.key, tt.certName)
			resolver := newFakeResolver()
			tr := newTestTransport(t, Options{
				Resolver:           resolver,
				AllowPrivate:       true,
				InsecureSkipVerify: tt.skipVerify,
				Addresses: func(serverName string) (string, bool) {
					if serverName != name+":"+srv.port {
						return "", false
					}
					return "127.0.0.1", true
				},
			}, "")
			_, err := roundTrip(t, tr, name+":"+srv.port)
			if len(resolver.queries()) != 0 {
				t.Fatalf("a self-certifying destination used DNS: %q", resolver.queries())
			}
			if !tt.ok {
				if !errors.Is(err, selfcert.ErrKeyMismatch) || !errors.Is(err, transport.ErrUnreachable) {
					t.Fatalf("RoundTrip = %v, want ErrKeyMismatch and ErrUnreachable", err)
				}
				if n := len(srv.seenRequests()); n != 0 {
					t.Fatalf("impostor saw %d requests", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			want := seen{Host: name + ":" + srv.port, SNI: name, Method: http.MethodPut, Path: "/_matrix/federation/v1/send/txn1", Query: "x=1"}
			if got := srv.seenRequests(); len(got) != 1 || got[0] != want {
				t.Fatalf("server saw %+v, want %+v", got, want)
			}
		})
	}
}

// TestDialRouteNeedsARoute checks that the pool never dials a connection
// without the route of the request behind it.
func TestDialRouteNeedsARoute(t *testing.T) {
	tr := newTestTransport(t, Options{Resolver: newFakeResolver()}, "")
	if conn, err := tr.dialRoute(context.Background(), "tcp", "example.test:8448"); err == nil {
		conn.Close()
		t.Fatal("dialRoute without a route succeeded")
	}
	ctx := context.WithValue(context.Background(), routeKey{}, &Route{Addrs: []string{"127.0.0.1:1"}, TLSName: "other.test"})
	if conn, err := tr.dialRoute(ctx, "tcp", net.JoinHostPort("example.test", "8448")); err == nil {
		conn.Close()
		t.Fatal("dialRoute for another route's address succeeded")
	}
}
