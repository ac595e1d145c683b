package https

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from tables and never touches the network. Unknown
// names are "not found".
type fakeResolver struct {
	mu   sync.Mutex
	ips  map[string][]string   // host -> addresses
	srv  map[string][]*net.SRV // "_service._proto.name" -> records
	fail map[string]error      // host or SRV name -> error to return
	log  []string              // every query, in order
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{ips: map[string][]string{}, srv: map[string][]*net.SRV{}, fail: map[string]error{}}
}

// addHost makes host resolve to addrs (127.0.0.1 when none are given).
func (r *fakeResolver) addHost(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	r.ips[host] = addrs
}

// addSRV adds an SRV record for _service._tcp.name.
func (r *fakeResolver) addSRV(service, name, target string, port uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := "_" + service + "._tcp." + name
	r.srv[key] = append(r.srv[key], &net.SRV{Target: target, Port: port, Priority: 10, Weight: 5})
}

func (r *fakeResolver) queries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func (r *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := "_" + service + "._" + proto + "." + name
	r.log = append(r.log, "SRV "+key)
	if err := r.fail[key]; err != nil {
		return "", nil, err
	}
	records, ok := r.srv[key]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
	}
	return key + ".", records, nil
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, "A "+host)
	if err := r.fail[host]; err != nil {
		return nil, err
	}
	addrs, ok := r.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

// testCA issues certificates trusted through its pool.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hearth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a server certificate for names: IP addresses become IP SANs,
// the rest DNS names.
func (ca *testCA) issue(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// seen is what a test server saw of one request.
type seen struct {
	Host, SNI, Method, Path, Query string
}

// testServer is an HTTPS server on 127.0.0.1 that records its requests and
// new connections.
type testServer struct {
	*httptest.Server
	port string

	mu       sync.Mutex
	requests []seen
	conns    int
}

// startServer serves handler over TLS with cert (httptest's own self-signed
// certificate when cert is nil).
func startServer(t *testing.T, cert *tls.Certificate, http2 bool, handler http.Handler) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, seen{Host: r.Host, SNI: r.TLS.ServerName, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
		s.mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	s.EnableHTTP2 = http2
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	if cert != nil {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// seenRequests returns the requests the server has seen.
func (s *testServer) seenRequests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.requests...)
}

// connections returns how many connections the server has accepted.
func (s *testServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// okHandler answers every request with a small JSON body.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
})

// wellKnownAnswer is one host's /.well-known/matrix/server response.
type wellKnownAnswer struct {
	status   int
	body     string
	header   http.Header
	redirect string // a URL to redirect to instead
}

// wellKnownHandler answers /.well-known/matrix/server by the request's
// hostname, 404 for hosts it does not know.
func wellKnownHandler(answers map[string]wellKnownAnswer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		a, ok := answers[host]
		if !ok || r.URL.Path != "/.well-known/matrix/server" {
			http.NotFound(w, r)
			return
		}
		if a.redirect != "" {
			http.Redirect(w, r, a.redirect, http.StatusFound)
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		if a.status != 0 {
			w.WriteHeader(a.status)
		}
		_, _ = w.Write([]byte(a.body))
	})
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestTransport returns a Transport with opts whose .well-known fetches go
// to wellKnownPort, closed when the test ends.
func newTestTransport(t *testing.T, opts Options, wellKnownPort string) *Transport {
	t.Helper()
	tr := New(opts)
	tr.wellKnownPort = wellKnownPort
	t.Cleanup(tr.Close)
	return tr
}

// closedPort returns a port on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}
