package selfcert

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"hearth/core/selfname"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCertificate(t *testing.T, key ed25519.PrivateKey, name string) tls.Certificate {
	t.Helper()
	cert, err := Certificate(key, name, testNow, rand.Reader)
	if err != nil {
		t.Fatalf("Certificate(%q): %v", name, err)
	}
	return cert
}

func TestCertificateCarriesTheKey(t *testing.T) {
	key := testKey(4)
	pub := key.Public().(ed25519.PublicKey)
	name := selfname.NameWithPort(pub, 8448)
	cert := mustCertificate(t, key, name)
	leaf := cert.Leaf
	if got, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !got.Equal(pub) {
		t.Fatalf("certificate key = %v, want the node's ed25519 key", leaf.PublicKey)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != selfname.Name(pub) || leaf.Subject.CommonName != selfname.Name(pub) {
		t.Fatalf("certificate names = %q, CN %q; want %q without the port", leaf.DNSNames, leaf.Subject.CommonName, selfname.Name(pub))
	}
	if !leaf.NotBefore.Before(testNow) || !leaf.NotAfter.Equal(testNow.Add(Validity)) {
		t.Fatalf("certificate valid %v to %v, want around %v for %v", leaf.NotBefore, leaf.NotAfter, testNow, Validity)
	}
	if leaf.SerialNumber.Sign() <= 0 {
		t.Fatalf("serial number %v is not positive", leaf.SerialNumber)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Fatalf("certificate is not self-signed: %v", err)
	}
	if err := VerifyPeer(name)(cert.Certificate, nil); err != nil {
		t.Fatalf("VerifyPeer refuses the node's own certificate: %v", err)
	}
}

func TestCertificateErrors(t *testing.T) {
	key := testKey(5)
	name := selfname.Name(key.Public().(ed25519.PublicKey))
	tests := []struct {
		name     string
		key      ed25519.PrivateKey
		server   string
		mismatch bool
	}{
		{name: "short key", key: key[:32], server: name},
		{name: "dns name", key: key, server: "example.org"},
		{name: "another key's name", key: testKey(6), server: name, mismatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Certificate(tt.key, tt.server, testNow, rand.Reader)
			if err == nil {
				t.Fatal("Certificate succeeded, want an error")
			}
			if tt.mismatch != errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("Certificate error %v: wraps ErrKeyMismatch = %v, want %v", err, !tt.mismatch, tt.mismatch)
			}
		})
	}
	if _, err := Certificate(key, name, testNow, nil); err == nil {
		t.Fatal("Certificate with a nil random source succeeded")
	}
	if _, err := Certificate(key, name, testNow, strings.NewReader("short")); err == nil {
		t.Fatal("Certificate with an exhausted random source succeeded")
	}
}

// ecdsaCertificate returns a self-signed ECDSA certificate for host.
func ecdsaCertificate(t *testing.T, host string) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifyPeer(t *testing.T) {
	key := testKey(7)
	name := selfname.Name(key.Public().(ed25519.PublicKey))
	own := mustCertificate(t, key, name).Certificate
	other := mustCertificate(t, testKey(8), selfname.Name(testKey(8).Public().(ed25519.PublicKey))).Certificate
	tests := []struct {
		name       string
		serverName string
		rawCerts   [][]byte
		ok         bool
		mismatch   bool
	}{
		{name: "own key", serverName: name, rawCerts: own, ok: true},
		{name: "own key, name with port", serverName: name + ":8448", rawCerts: own, ok: true},
		{name: "own key leaf before another certificate", serverName: name, rawCerts: append(append([][]byte{}, own...), other...), ok: true},
		{name: "another key", serverName: name, rawCerts: other, mismatch: true},
		{name: "ecdsa key", serverName: name, rawCerts: [][]byte{ecdsaCertificate(t, name)}, mismatch: true},
		{name: "no certificate", serverName: name},
		{name: "garbage", serverName: name, rawCerts: [][]byte{[]byte("not a certificate")}},
		{name: "not self-certifying", serverName: "example.org", rawCerts: own},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPeer(tt.serverName)(tt.rawCerts, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("VerifyPeer = %v, want ok %v", err, tt.ok)
			}
			if errors.Is(err, ErrKeyMismatch) != tt.mismatch {
				t.Fatalf("VerifyPeer = %v, want ErrKeyMismatch %v", err, tt.mismatch)
			}
		})
	}
}

func TestClientConfigRejectsOtherNames(t *testing.T) {
	if _, err := ClientConfig("example.org"); err == nil {
		t.Fatal("ClientConfig(example.org) succeeded, want an error")
	}
}

// serveTLS accepts TLS connections on 127.0.0.1 presenting cert until the
// test ends, and returns the listener's address.
func serveTLS(t *testing.T, cert tls.Certificate, maxVersion uint16) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	config := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := tls.Server(conn, config)
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTLSHandshake(t *testing.T) {
	key := testKey(9)
	name := selfname.NameWithPort(key.Public().(ed25519.PublicKey), 8448)
	impostor := testKey(10)
	tests := []struct {
		name       string
		cert       tls.Certificate
		maxVersion uint16
		ok         bool
	}{
		{"right key, TLS 1.3", mustCertificate(t, key, name), tls.VersionTLS13, true},
		{"right key, TLS 1.2", mustCertificate(t, key, name), tls.VersionTLS12, true},
		{"another key, TLS 1.3", mustCertificate(t, impostor, selfname.Name(impostor.Public().(ed25519.PublicKey))), tls.VersionTLS13, false},
		{"another key, TLS 1.2", mustCertificate(t, impostor, selfname.Name(impostor.Public().(ed25519.PublicKey))), tls.VersionTLS12, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveTLS(t, tt.cert, tt.maxVersion)
			config, err := ClientConfig(name)
			if err != nil {
				t.Fatal(err)
			}
			var sni string
			config.VerifyConnection = wrapVerifyConnection(config.VerifyConnection, &sni)
			conn, err := tls.Dial("tcp", addr, config)
			if !tt.ok {
				if err == nil {
					conn.Close()
					t.Fatal("handshake with another key succeeded")
				}
				if !errors.Is(err, ErrKeyMismatch) {
					t.Fatalf("handshake error %v, want ErrKeyMismatch", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake with the right key: %v", err)
			}
			defer conn.Close()
			if sni != selfname.Name(key.Public().(ed25519.PublicKey)) {
				t.Fatalf("client sent SNI %q, want the hostname without the port", sni)
			}
			buf := make([]byte, 2)
			if _, err := conn.Read(buf); err != nil || string(buf) != "ok" {
				t.Fatalf("read after handshake = %q, %v", buf, err)
			}
		})
	}
}

// wrapVerifyConnection records the server name the client sent before
// running verify.
func wrapVerifyConnection(verify func(tls.ConnectionState) error, sni *string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		*sni = cs.ServerName
		return verify(cs)
	}
}
