package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hearth/core/signing"
)

// Files that hearth keeps in its data directory.
const (
	signingKeyFile   = "signing.key"
	sharedSecretFile = "registration_shared_secret"
	tlsCertFile      = "tls.crt"
	tlsKeyFile       = "tls.key"
	clientURLFile    = "client-url"
	dbDir            = "db"
)

// selfSignedValidity is how long a generated TLS certificate is valid; an
// expired one is replaced at the next start.
const selfSignedValidity = 365 * 24 * time.Hour

// writeFileAtomic writes data to path with mode perm through a temporary
// file and a rename, so a crash never leaves half a file.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadOrCreateSigningKey reads the signing key in dir, generating and
// storing one (mode 0600) on first start.
func loadOrCreateSigningKey(dir string, log *slog.Logger) (signing.Key, error) {
	path := filepath.Join(dir, signingKeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := signing.ParseKey(data)
		if err != nil {
			return signing.Key{}, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return signing.Key{}, err
	}
	version, err := randomString(4)
	if err != nil {
		return signing.Key{}, err
	}
	k, err := signing.GenerateKey(rand.Reader, signing.Algorithm+":a_"+version)
	if err != nil {
		return signing.Key{}, err
	}
	data, err = signing.FormatKeys(k)
	if err != nil {
		return signing.Key{}, err
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return signing.Key{}, fmt.Errorf("storing signing key: %w", err)
	}
	log.Info("generated signing key", "key_id", k.ID, "file", path)
	return k, nil
}

// randomString returns n random characters of [a-zA-Z0-9].
func randomString(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b), nil
}

// loadOrCreateSecret reads the registration shared secret kept in dir,
// generating one (mode 0600) on first start.
func loadOrCreateSecret(dir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dir, sharedSecretFile)
	secret, err := readSecret(dir)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	if err := writeFileAtomic(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("storing registration shared secret: %w", err)
	}
	log.Info("generated registration shared secret", "file", path)
	return secret, nil
}

// readSecret reads the registration shared secret kept in dir.
func readSecret(dir string) (string, error) {
	path := filepath.Join(dir, sharedSecretFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

// loadTLS returns the federation listener's certificate: the configured
// files, or else a self-signed certificate kept in dir, generated on first
// start and again when it has expired. now is the current time.
func loadTLS(c *config, hosts []string, now time.Time, log *slog.Logger) (tls.Certificate, error) {
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("loading TLS certificate: %w", err)
		}
		return cert, nil
	}
	certPath, keyPath := filepath.Join(c.Data, tlsCertFile), filepath.Join(c.Data, tlsKeyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil && now.Before(cert.Leaf.NotAfter) {
		return cert, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("loading %s: %w", certPath, err)
	}
	certPEM, keyPEM, err := selfSigned(hosts, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	log.Info("generated self-signed TLS certificate", "file", certPath, "hosts", hosts)
	return tls.X509KeyPair(certPEM, keyPEM)
}

// selfSigned makes a self-signed ECDSA P-256 certificate for hosts (names or
// IP addresses), returning it and its key in PEM.
func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// certHosts lists the names a generated certificate covers: the server
// name's host, the federation listener's host, and the loopback names.
func certHosts(serverName, federationListen string) []string {
	var hosts []string
	add := func(h string) {
		h = strings.Trim(h, "[]")
		if h == "" || h == "0.0.0.0" || h == "::" || contains(hosts, h) {
			return
		}
		hosts = append(hosts, h)
	}
	add(hostOf(serverName))
	add(hostOf(federationListen))
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		add(h)
	}
	return hosts
}

// hostOf returns the host of "host:port", or hostport itself without a port.
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
