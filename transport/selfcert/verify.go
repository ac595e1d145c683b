package selfcert

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hearth/core/selfname"
	"strings"
)

// VerifyPeer returns a tls.Config.VerifyPeerCertificate function that accepts
// the peer only if its leaf certificate's public key is the ed25519 key in
// serverName. The CA chain, host names and dates are not looked at: the key
// is the identity, and the handshake proves the peer holds its private half.
// It is meant for a tls.Config with InsecureSkipVerify set, which is safe
// only together with this check; ClientConfig builds that pair. When
// serverName is not self-certifying, the function refuses every peer.
func VerifyPeer(serverName string) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	want, ok := selfname.Parse(serverName)
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if !ok {
			return fmt.Errorf("selfcert: verify peer: %q is not a self-certifying server name", serverName)
		}
		if len(rawCerts) == 0 {
			return fmt.Errorf("selfcert: verify peer %q: no certificate presented", serverName)
		}
		leaf, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("selfcert: verify peer %q: parse certificate: %w", serverName, err)
		}
		return checkLeaf(serverName, want, leaf)
	}
}

// ClientConfig returns the TLS client configuration for connecting to the
// self-certifying server serverName: its hostname as SNI, certificate chain
// verification off and replaced by VerifyPeer, and the same key check again
// in VerifyConnection so that a resumed session, for which
// VerifyPeerCertificate is not called, is held to it too.
func ClientConfig(serverName string) (*tls.Config, error) {
	want, ok := selfname.Parse(serverName)
	if !ok {
		return nil, fmt.Errorf("selfcert: client config: %q is not a self-certifying server name", serverName)
	}
	host, _, _ := strings.Cut(serverName, ":")
	return &tls.Config{
		ServerName:            host,
		MinVersion:            tls.VersionTLS12,
		InsecureSkipVerify:    true, // replaced by the key checks below
		VerifyPeerCertificate: VerifyPeer(serverName),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("selfcert: verify connection %q: no certificate presented", serverName)
			}
			return checkLeaf(serverName, want, cs.PeerCertificates[0])
		},
	}, nil
}

// checkLeaf reports whether leaf carries the ed25519 key want.
func checkLeaf(serverName string, want ed25519.PublicKey, leaf *x509.Certificate) error {
	got, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("selfcert: verify peer %q: certificate key is %T, not ed25519: %w", serverName, leaf.PublicKey, ErrKeyMismatch)
	}
	if !want.Equal(got) {
		return fmt.Errorf("selfcert: verify peer %q: %w", serverName, ErrKeyMismatch)
	}
	return nil
}
