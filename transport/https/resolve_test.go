package https

import (
	"context"
	"crypto/ed25519"
	"errors"
	"hearth/core/selfname"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"hearth/transport"
)

// wellKnownAnswers are the resolve tests' .well-known answers by hostname,
// all served at 127.0.0.1.
var wellKnownAnswers = map[string]wellKnownAnswer{
	"deleg-ip.test":      {body: `{"m.server": "192.0.2.7"}`},
	"deleg-ipport.test":  {body: `{"m.server": "[2001:db8::7]:9000"}`},
	"deleg-port.test":    {body: `{"m.server": "matrix.deleg-port.test:9000"}`},
	"deleg-fed.test":     {body: `{"m.server": "matrix.deleg-fed.test"}`},
	"deleg-old.test":     {body: `{"m.server": "matrix.deleg-old.test"}`},
	"deleg-both.test":    {body: `{"m.server": "matrix.deleg-both.test"}`},
	"deleg-nosrv.test":   {body: `{"m.server": "matrix.deleg-nosrv.test"}`},
	"deleg-text.test":    {body: `{"m.server": "matrix.deleg-text.test:9000"}`, header: http.Header{"Content-Type": {"text/plain"}}},
	"deleg-alt.test":     {body: `{"m.server": "other.alt"}`},
	"redirect.test":      {redirect: "/elsewhere"},
	"bad-json.test":      {body: `{"m.server": `},
	"no-server.test":     {body: `{"m.homeserver": "x.test"}`},
	"number-server.test": {body: `{"m.server": 8448}`},
	"invalid-name.test":  {body: `{"m.server": "bad name!"}`},
	"array.test":         {body: `["m.server"]`},
	"status-500.test":    {status: http.StatusInternalServerError, body: `{"m.server": "x.test:1"}`},
	"loop.test":          {redirect: "/.well-known/matrix/server"},
}

func TestResolve(t *testing.T) {
	ca := newTestCA(t)
	var names []string
	for host := range wellKnownAnswers {
		names = append(names, host)
	}
	names = append(names, "srv-fed.test", "srv-old.test", "plain.test", "explicit.test")
	cert := ca.issue(t, names...)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/matrix/server", wellKnownHandler(wellKnownAnswers))
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"m.server": "redirected.test:9000"}`))
	})
	wk := startServer(t, &cert, false, mux)

	resolver := newFakeResolver()
	for _, n := range names {
		resolver.addHost(n)
	}
	resolver.addSRV("matrix-fed", "matrix.deleg-port.test", "ignored.test.", 1)
	resolver.addSRV("matrix-fed", "matrix.deleg-fed.test", "a.srv.test.", 9001)
	resolver.addSRV("matrix-fed", "matrix.deleg-fed.test", "b.srv.test.", 9002)
	resolver.addSRV("matrix", "matrix.deleg-old.test", "old.srv.test.", 9003)
	resolver.addSRV("matrix-fed", "matrix.deleg-both.test", "fed.srv.test.", 9004)
	resolver.addSRV("matrix", "matrix.deleg-both.test", "old.srv.test.", 9005)
	resolver.addSRV("matrix-fed", "srv-fed.test", "fed.srv.test.", 9006)
	resolver.addSRV("matrix", "srv-fed.test", "old.srv.test.", 9007)
	resolver.addSRV("matrix", "srv-old.test", "old.srv.test.", 9008)
	resolver.addSRV("matrix-fed", "nowk-srv.test", "fed.srv.test.", 9009)
	resolver.addSRV("matrix-fed", "dot.test", ".", 0)
	resolver.fail["_matrix-fed._tcp.servfail.test"] = &net.DNSError{Err: "server misbehaving", Name: "servfail.test", IsTemporary: true}

	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	self := selfname.Name(pub)
	unknownSelf := selfname.Name(ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), 1)).Public().(ed25519.PublicKey))
	book := map[string]string{
		self:                             "192.0.2.9",
		self + ":9443":                   "[2001:db8::9]",
		selfname.NameWithPort(pub, 9444): "lan-peer.test:9555",
	}
	tr := newTestTransport(t, Options{
		Resolver:     resolver,
		RootCAs:      ca.pool,
		AllowPrivate: true,
		Addresses: func(name string) (string, bool) {
			addr, ok := book[name]
			return addr, ok
		},
	}, wk.port)

	tests := []struct {
		name        string
		server      string
		want        Route
		unreachable bool // the error wraps transport.ErrUnreachable
		invalid     bool // an error not wrapping it
	}{
		// Step 1: IP literals.
		{name: "ipv4", server: "192.0.2.1", want: Route{Addrs: []string{"192.0.2.1:8448"}, Host: "192.0.2.1", TLSName: "192.0.2.1"}},
		{name: "ipv4 with port", server: "192.0.2.1:8449", want: Route{Addrs: []string{"192.0.2.1:8449"}, Host: "192.0.2.1:8449", TLSName: "192.0.2.1"}},
		{name: "ipv6", server: "[2001:db8::1]", want: Route{Addrs: []string{"[2001:db8::1]:8448"}, Host: "[2001:db8::1]", TLSName: "2001:db8::1"}},
		{name: "ipv6 with port", server: "[2001:db8::1]:8449", want: Route{Addrs: []string{"[2001:db8::1]:8449"}, Host: "[2001:db8::1]:8449", TLSName: "2001:db8::1"}},
		// Step 2: explicit port, no .well-known, no SRV.
		{name: "hostname with port", server: "explicit.test:8449", want: Route{Addrs: []string{"explicit.test:8449"}, Host: "explicit.test:8449", TLSName: "explicit.test"}},
		// Step 3: delegation.
		{name: "delegated ip", server: "deleg-ip.test", want: Route{Addrs: []string{"192.0.2.7:8448"}, Host: "192.0.2.7", TLSName: "192.0.2.7"}},
		{name: "delegated ip with port", server: "deleg-ipport.test", want: Route{Addrs: []string{"[2001:db8::7]:9000"}, Host: "[2001:db8::7]:9000", TLSName: "2001:db8::7"}},
		{name: "delegated with port", server: "deleg-port.test", want: Route{Addrs: []string{"matrix.deleg-port.test:9000"}, Host: "matrix.deleg-port.test:9000", TLSName: "matrix.deleg-port.test"}},
		{name: "delegated, SRV matrix-fed", server: "deleg-fed.test", want: Route{Addrs: []string{"a.srv.test:9001", "b.srv.test:9002"}, Host: "matrix.deleg-fed.test", TLSName: "matrix.deleg-fed.test"}},
		{name: "delegated, deprecated SRV matrix", server: "deleg-old.test", want: Route{Addrs: []string{"old.srv.test:9003"}, Host: "matrix.deleg-old.test", TLSName: "matrix.deleg-old.test"}},
		{name: "delegated, matrix-fed before matrix", server: "deleg-both.test", want: Route{Addrs: []string{"fed.srv.test:9004"}, Host: "matrix.deleg-both.test", TLSName: "matrix.deleg-both.test"}},
		{name: "delegated, no SRV", server: "deleg-nosrv.test", want: Route{Addrs: []string{"matrix.deleg-nosrv.test:8448"}, Host: "matrix.deleg-nosrv.test", TLSName: "matrix.deleg-nosrv.test"}},
		{name: "delegated, text/plain answer", server: "deleg-text.test", want: Route{Addrs: []string{"matrix.deleg-text.test:9000"}, Host: "matrix.deleg-text.test:9000", TLSName: "matrix.deleg-text.test"}},
		{name: "delegated after a redirect", server: "redirect.test", want: Route{Addrs: []string{"redirected.test:9000"}, Host: "redirected.test:9000", TLSName: "redirected.test"}},
		{name: "delegated to .alt", server: "deleg-alt.test", unreachable: true},
		// Steps 4 to 6: no valid .well-known answer.
		{name: "SRV matrix-fed", server: "srv-fed.test", want: Route{Addrs: []string{"fed.srv.test:9006"}, Host: "srv-fed.test", TLSName: "srv-fed.test"}},
		{name: "deprecated SRV matrix", server: "srv-old.test", want: Route{Addrs: []string{"old.srv.test:9008"}, Host: "srv-old.test", TLSName: "srv-old.test"}},
		{name: "port 8448", server: "plain.test", want: Route{Addrs: []string{"plain.test:8448"}, Host: "plain.test", TLSName: "plain.test"}},
		{name: "no .well-known host, SRV", server: "nowk-srv.test", want: Route{Addrs: []string{"fed.srv.test:9009"}, Host: "nowk-srv.test", TLSName: "nowk-srv.test"}},
		{name: "no .well-known host, no SRV", server: "nowhere.test", want: Route{Addrs: []string{"nowhere.test:8448"}, Host: "nowhere.test", TLSName: "nowhere.test"}},
		{name: "invalid JSON", server: "bad-json.test", want: Route{Addrs: []string{"bad-json.test:8448"}, Host: "bad-json.test", TLSName: "bad-json.test"}},
		{name: "no m.server", server: "no-server.test", want: Route{Addrs: []string{"no-server.test:8448"}, Host: "no-server.test", TLSName: "no-server.test"}},
		{name: "m.server not a string", server: "number-server.test", want: Route{Addrs: []string{"number-server.test:8448"}, Host: "number-server.test", TLSName: "number-server.test"}},
		{name: "m.server not a server name", server: "invalid-name.test", want: Route{Addrs: []string{"invalid-name.test:8448"}, Host: "invalid-name.test", TLSName: "invalid-name.test"}},
		{name: "not an object", server: "array.test", want: Route{Addrs: []string{"array.test:8448"}, Host: "array.test", TLSName: "array.test"}},
		{name: "status 500", server: "status-500.test", want: Route{Addrs: []string{"status-500.test:8448"}, Host: "status-500.test", TLSName: "status-500.test"}},
		{name: "redirect loop", server: "loop.test", want: Route{Addrs: []string{"loop.test:8448"}, Host: "loop.test", TLSName: "loop.test"}},
		{name: "SRV says no service", server: "dot.test", unreachable: true},
		{name: "SRV lookup fails", server: "servfail.test", unreachable: true},
		// Self-certifying names: the address book, no DNS.
		{name: "self-certifying", server: self, want: Route{Addrs: []string{"192.0.2.9:8448"}, Host: self, TLSName: self, SelfCertifying: true}},
		{name: "self-certifying with port", server: self + ":9443", want: Route{Addrs: []string{"[2001:db8::9]:9443"}, Host: self + ":9443", TLSName: self, SelfCertifying: true}},
		{name: "self-certifying, book gives port", server: self + ":9444", want: Route{Addrs: []string{"lan-peer.test:9555"}, Host: self + ":9444", TLSName: self, SelfCertifying: true}},
		{name: "self-certifying, not in the book", server: unknownSelf, unreachable: true},
		{name: "other .alt name", server: "peer.other.alt", unreachable: true},
		// Not server names.
		{name: "empty", server: "", invalid: true},
		{name: "bad character", server: "exa_mple.test", invalid: true},
		{name: "port zero", server: "example.test:0", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tr.Resolve(context.Background(), tt.server)
			switch {
			case tt.unreachable || tt.invalid:
				if err == nil {
					t.Fatalf("Resolve(%q) = %+v, want an error", tt.server, got)
				}
				if errors.Is(err, transport.ErrUnreachable) != tt.unreachable {
					t.Fatalf("Resolve(%q) = %v; wraps ErrUnreachable %v, want %v", tt.server, err, !tt.unreachable, tt.unreachable)
				}
			case err != nil:
				t.Fatalf("Resolve(%q): %v", tt.server, err)
			case !reflect.DeepEqual(got, tt.want):
				t.Fatalf("Resolve(%q) = %+v, want %+v", tt.server, got, tt.want)
			}
		})
	}

	// Explicit ports, IP literals and self-certifying names never ask
	// for .well-known or SRV, and .alt names never reach DNS.
	for _, r := range wk.seenRequests() {
		if strings.HasPrefix(r.Host, "explicit.test") || strings.HasPrefix(r.Host, "192.0.2.1") {
			t.Errorf(".well-known fetched for a name with an explicit port or IP: %+v", r)
		}
	}
	for _, q := range resolver.queries() {
		if strings.Contains(q, ".alt") || strings.Contains(q, "explicit.test") {
			t.Errorf("resolver asked %q", q)
		}
	}
	// The .well-known fetch verified each host's certificate by its name.
	for _, r := range wk.seenRequests() {
		if host, _, _ := net.SplitHostPort(r.Host); r.Path == "/.well-known/matrix/server" && r.SNI != host {
			t.Errorf(".well-known request for Host %q sent SNI %q", r.Host, r.SNI)
		}
	}
	if !slices.Contains(resolver.queries(), "A nowhere.test") {
		t.Errorf("no lookup of nowhere.test's address for its .well-known: %q", resolver.queries())
	}
}
