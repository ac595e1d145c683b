package selfcert

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"hearth/core/selfname"
	"io"
	"math/big"
	"strings"
	"time"
)

// Validity is how long a certificate made by Certificate is valid. Peers
// verify a self-certifying server by its key, not by dates, so the period
// matters only to software that checks dates anyway; a node makes a new
// certificate each time it starts.
const Validity = 365 * 24 * time.Hour

// ErrKeyMismatch is wrapped by the errors of VerifyPeer and ClientConfig's
// checks when the peer's certificate does not carry the key in its name.
var ErrKeyMismatch = errors.New("selfcert: certificate key does not match the server name")

// Certificate makes the TLS certificate a self-certifying server presents: a
// self-signed X.509 certificate for name (a self-certifying server name,
// with or without a port) whose public key is key's public half, valid from
// an hour before now (for peers with slow clocks) for Validity. The serial
// number is read from rand. It fails unless name is the name of key.
func Certificate(key ed25519.PrivateKey, name string, now time.Time, rand io.Reader) (tls.Certificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	want, ok := selfname.Parse(name)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate: %q is not a self-certifying server name", name)
	}
	if !want.Equal(pub) {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate for %q: %w", name, ErrKeyMismatch)
	}
	serial, err := serialNumber(rand)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate for %q: %w", name, err)
	}
	host, _, _ := strings.Cut(name, ":")
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand, template, template, pub, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate for %q: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfcert: certificate for %q: parse: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// serialNumber reads a positive 127-bit serial number from rand.
func serialNumber(rand io.Reader) (*big.Int, error) {
	if rand == nil {
		return nil, errors.New("nil random source")
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("read serial number: %w", err)
	}
	b[0] = b[0]&0x3f | 0x40 // positive and never zero
	return new(big.Int).SetBytes(b), nil
}
