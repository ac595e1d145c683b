// Package selfcert proves over TLS that a peer holds the key its
// self-certifying server name is derived from (see hearth/core/selfname).
//
// A self-certifying server has no certificate from a public authority. It
// presents a self-signed X.509 certificate whose public key is its ed25519
// signing key (Certificate), and a client accepts the connection when the
// presented leaf carries the key in the name (VerifyPeer, ClientConfig): the
// TLS handshake proves the peer holds the matching private key.
package selfcert
