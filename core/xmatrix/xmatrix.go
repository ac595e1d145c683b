// Package xmatrix implements X-Matrix request authentication (server-server
// spec, "Request Authentication"). A sending server signs a JSON object made
// of the request's method, target, origin, destination and body, and sends
// the signature in an "Authorization: X-Matrix ..." header; the receiving
// server rebuilds the object from the request it got and checks the
// signature with the origin's published key. This is what stops one server
// from sending federation traffic in another's name.
package xmatrix

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/signing"
)

// Scheme is the HTTP authorization scheme of Matrix federation requests.
const Scheme = "X-Matrix"

// ErrWrongDestination is wrapped by Verify's error when the header names a
// destination other than the receiving server; the spec requires a 401
// response in that case.
var ErrWrongDestination = errors.New("xmatrix: request is for another destination")

// Request is what an X-Matrix signature covers.
type Request struct {
	// Method is the HTTP method, as on the request line ("GET", "PUT").
	Method string
	// URI is the request target exactly as sent: the path, already
	// percent-encoded, and the query string if any, without scheme or
	// host ("/_matrix/federation/v1/send/txn1?x=1").
	URI string
	// Origin is the sending server's name.
	Origin string
	// Destination is the receiving server's name.
	Destination string
	// Content is the JSON request body, or nil for a request without one;
	// an absent body is left out of the signed object, not sent as null.
	Content []byte
}

// SigningJSON returns the canonical JSON that the signature of r covers:
// {"content":...,"destination":...,"method":...,"origin":...,"uri":...},
// with "content" omitted when r has no body.
func SigningJSON(r Request) ([]byte, error) {
	fields := []struct{ name, value string }{
		{"destination", r.Destination},
		{"method", r.Method},
		{"origin", r.Origin},
		{"uri", r.URI},
	}
	out := make([]byte, 0, len(r.Content)+len(r.Destination)+len(r.Method)+len(r.Origin)+len(r.URI)+64)
	out = append(out, '{')
	if len(r.Content) > 0 {
		out = append(out, `"content":`...)
		var err error
		if out, err = canonicaljson.AppendCanonical(out, r.Content, false); err != nil {
			return nil, fmt.Errorf("xmatrix: request content: %w", err)
		}
		out = append(out, ',')
	}
	// The members are written in canonical (sorted) order.
	for i, f := range fields {
		if f.value == "" {
			return nil, fmt.Errorf("xmatrix: request has no %s", f.name)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.name...)
		out = append(out, `":`...)
		var err error
		if out, err = appendString(out, f.value); err != nil {
			return nil, fmt.Errorf("xmatrix: request %s: %w", f.name, err)
		}
	}
	return append(out, '}'), nil
}

// appendString appends s as a canonical JSON string.
func appendString(dst []byte, s string) ([]byte, error) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	if !utf8.ValidString(s) {
		// encoding/json would silently substitute U+FFFD, so the
		// signature would cover text other than what was sent.
		return nil, fmt.Errorf("%q is not valid UTF-8", s)
	}
	enc, err := canonicaljson.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append(dst, enc...), nil
}

// Sign signs r with the origin server's key k and returns the value of the
// Authorization header to send with the request.
func Sign(r Request, k signing.Key) (string, error) {
	msg, err := SigningJSON(r)
	if err != nil {
		return "", err
	}
	sig, err := k.Sign(msg)
	if err != nil {
		return "", fmt.Errorf("xmatrix: sign request: %w", err)
	}
	p := Params{Origin: r.Origin, Destination: r.Destination, Key: k.ID, Sig: b64.Encode(sig)}
	return p.String(), nil
}

// Verify checks the X-Matrix parameters p, parsed from a received request's
// Authorization header, against that request and the public key that the
// origin server publishes under p.Key. r must describe the request as
// received: Method and URI as on the request line, Content the raw body,
// Origin the origin the caller accepts (normally p.Origin, once it has
// fetched that server's key) and Destination the receiving server's own
// name. A header without a destination is accepted, as the spec asks for
// older senders; one naming another server fails with ErrWrongDestination.
// A signature that does not verify fails with signing.ErrBadSignature.
func Verify(r Request, p Params, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("xmatrix: verify request from %s: public key is %d bytes, want %d", p.Origin, len(pub), ed25519.PublicKeySize)
	}
	if p.Origin != r.Origin {
		return fmt.Errorf("xmatrix: verify request: header origin %q is not the expected %q", p.Origin, r.Origin)
	}
	if p.Destination != "" && p.Destination != r.Destination {
		return fmt.Errorf("%w: header names %q, this server is %q", ErrWrongDestination, p.Destination, r.Destination)
	}
	sig, err := b64.Decode(p.Sig)
	if err != nil {
		return fmt.Errorf("xmatrix: verify request from %s: sig: %w", p.Origin, err)
	}
	msg, err := SigningJSON(r)
	if err != nil {
		return fmt.Errorf("xmatrix: verify request from %s: %w", p.Origin, err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: request from %s with key %s", signing.ErrBadSignature, p.Origin, p.Key)
	}
	return nil
}

// Params are the parameters of an X-Matrix Authorization header.
type Params struct {
	// Origin is the sending server's name.
	Origin string
	// Destination is the receiving server's name; empty when an older
	// sender left it out.
	Destination string
	// Key is the ID of the origin's signing key, "ed25519:<version>".
	Key string
	// Sig is the request signature in unpadded base64.
	Sig string
}

// String formats p as an Authorization header value in the form the spec
// recommends for compatibility with older receivers: one space after the
// scheme, lower-case names, every value quoted, no spaces around commas.
// Quotes and backslashes in values are escaped; an empty destination is
// left out.
func (p Params) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	b.WriteByte(' ')
	writeParam(&b, "origin", p.Origin)
	if p.Destination != "" {
		b.WriteByte(',')
		writeParam(&b, "destination", p.Destination)
	}
	b.WriteByte(',')
	writeParam(&b, "key", p.Key)
	b.WriteByte(',')
	writeParam(&b, "sig", p.Sig)
	return b.String()
}

func writeParam(b *strings.Builder, name, value string) {
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('"')
}
