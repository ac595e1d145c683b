package xmatrix

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/internal/vectors"
	"hearth/core/signing"
)

func specKey(t testing.TB) signing.Key {
	t.Helper()
	var v struct {
		Seed  string `json:"seed_unpadded_base64"`
		KeyID string `json:"key_id"`
	}
	vectors.Load(t, "spec_signing_key.json", &v)
	seed, err := b64.Decode(v.Seed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.KeyFromSeed(v.KeyID, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type requestCase struct {
	Input struct {
		Method      string          `json:"method"`
		URI         string          `json:"uri"`
		Origin      string          `json:"origin"`
		Destination string          `json:"destination"`
		Content     json.RawMessage `json:"content"`
	} `json:"signed_json_input"`
	CanonicalSignedBytes string `json:"canonical_signed_bytes"`
	ExpectedSignature    string `json:"expected_signature"`
	ExpectedHeader       string `json:"expected_authorization_header"`
}

func (c requestCase) request() Request {
	return Request{Method: c.Input.Method, URI: c.Input.URI, Origin: c.Input.Origin, Destination: c.Input.Destination, Content: c.Input.Content}
}

func loadRequestCases(t testing.TB) []requestCase {
	t.Helper()
	var f struct {
		Cases []requestCase `json:"cases"`
	}
	vectors.Load(t, "derived_request_signing.json", &f)
	if len(f.Cases) == 0 {
		t.Fatal("derived_request_signing.json has no cases")
	}
	return f.Cases
}

func TestRequestSigningVectors(t *testing.T) {
	k := specKey(t)
	for i, tc := range loadRequestCases(t) {
		t.Run(fmt.Sprintf("%d %s %s", i, tc.Input.Method, tc.Input.URI), func(t *testing.T) {
			r := tc.request()
			msg, err := SigningJSON(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg) != tc.CanonicalSignedBytes {
				t.Fatalf("SigningJSON =\n%s\nwant\n%s", msg, tc.CanonicalSignedBytes)
			}
			header, err := Sign(r, k)
			if err != nil {
				t.Fatal(err)
			}
			if header != tc.ExpectedHeader {
				t.Fatalf("Sign =\n%s\nwant\n%s", header, tc.ExpectedHeader)
			}
			p, err := ParseHeader(tc.ExpectedHeader)
			if err != nil {
				t.Fatal(err)
			}
			want := Params{Origin: r.Origin, Destination: r.Destination, Key: k.ID, Sig: tc.ExpectedSignature}
			if p != want {
				t.Fatalf("ParseHeader = %+v, want %+v", p, want)
			}
			if err := Verify(r, p, k.Public()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The body as received may be spaced and ordered differently.
			if len(r.Content) > 0 {
				var v any
				if err := json.Unmarshal(r.Content, &v); err != nil {
					t.Fatal(err)
				}
				pretty, err := json.MarshalIndent(v, "", "    ")
				if err != nil {
					t.Fatal(err)
				}
				r.Content = pretty
				if err := Verify(r, p, k.Public()); err != nil {
					t.Fatalf("Verify with reformatted body: %v", err)
				}
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	k := specKey(t)
	other, err := signing.KeyFromSeed("ed25519:2", bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	base := Request{Method: "PUT", URI: "/_matrix/federation/v1/send/t1", Origin: "domain", Destination: "remote.example", Content: []byte(`{"pdus":[],"edus":[]}`)}
	header, err := Sign(base, k)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseHeader(header)
	if err != nil {
		t.Fatal(err)
	}
	noDest := p
	noDest.Destination = ""
	tests := []struct {
		name    string
		mutate  func(r *Request)
		p       Params
		pub     ed25519.PublicKey
		wantErr error
		wantMsg string
	}{
		{"valid", func(*Request) {}, p, k.Public(), nil, ""},
		{"header without destination", func(*Request) {}, noDest, k.Public(), nil, ""},
		{"other method", func(r *Request) { r.Method = "POST" }, p, k.Public(), signing.ErrBadSignature, ""},
		{"other uri", func(r *Request) { r.URI += "?x=1" }, p, k.Public(), signing.ErrBadSignature, ""},
		{"other body", func(r *Request) { r.Content = []byte(`{"pdus":[1],"edus":[]}`) }, p, k.Public(), signing.ErrBadSignature, ""},
		{"body dropped", func(r *Request) { r.Content = nil }, p, k.Public(), signing.ErrBadSignature, ""},
		{"other key", func(*Request) {}, p, other.Public(), signing.ErrBadSignature, ""},
		{"header names another destination", func(r *Request) { r.Destination = "me.example" }, p, k.Public(), ErrWrongDestination, ""},
		{"old header, signed for another destination", func(r *Request) { r.Destination = "me.example" }, noDest, k.Public(), signing.ErrBadSignature, ""},
		{"origin mismatch", func(r *Request) { r.Origin = "evil.example" }, p, k.Public(), nil, "header origin"},
		{"short signature", func(*Request) {}, Params{Origin: p.Origin, Destination: p.Destination, Key: p.Key, Sig: "c2ln"}, k.Public(), signing.ErrBadSignature, ""},
		{"signature not base64", func(*Request) {}, Params{Origin: p.Origin, Destination: p.Destination, Key: p.Key, Sig: "%%%"}, k.Public(), nil, "sig: b64"},
		{"short public key", func(*Request) {}, p, k.Public()[:8], nil, "public key is 8 bytes"},
		{"body not JSON", func(r *Request) { r.Content = []byte(`{"pdus":`) }, p, k.Public(), canonicaljson.ErrInvalid, ""},
		{"no destination at all", func(r *Request) { r.Destination = "" }, noDest, k.Public(), nil, "request has no destination"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.mutate(&r)
			err := Verify(r, tc.p, tc.pub)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
				}
			case tc.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("Verify = %v, want an error containing %q", err, tc.wantMsg)
				}
			default:
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
			}
		})
	}
}

func TestSigningJSON(t *testing.T) {
	full := Request{Method: "GET", URI: "/a", Origin: "o", Destination: "d"}
	tests := []struct {
		name    string
		r       Request
		want    string
		wantMsg string
	}{
		{"no body", full, `{"destination":"d","method":"GET","origin":"o","uri":"/a"}`, ""},
		{"body canonicalised", Request{Method: "PUT", URI: "/a", Origin: "o", Destination: "d", Content: []byte(` {"b": 1.0, "a": "\u00e9"} `)},
			`{"content":{"a":"é","b":1},"destination":"d","method":"PUT","origin":"o","uri":"/a"}`, ""},
		{"empty body is no body", Request{Method: "GET", URI: "/a", Origin: "o", Destination: "d", Content: []byte{}}, `{"destination":"d","method":"GET","origin":"o","uri":"/a"}`, ""},
		{"strings escaped canonically", Request{Method: "GET", URI: "/a\"b\\c<é>", Origin: "o", Destination: "d"}, `{"destination":"d","method":"GET","origin":"o","uri":"/a\"b\\c<é>"}`, ""},
		{"ipv6 origin with port", Request{Method: "GET", URI: "/a", Origin: "[::1]:8448", Destination: "d"}, `{"destination":"d","method":"GET","origin":"[::1]:8448","uri":"/a"}`, ""},
		{"missing method", Request{URI: "/a", Origin: "o", Destination: "d"}, "", "no method"},
		{"missing uri", Request{Method: "GET", Origin: "o", Destination: "d"}, "", "no uri"},
		{"missing origin", Request{Method: "GET", URI: "/a", Destination: "d"}, "", "no origin"},
		{"missing destination", Request{Method: "GET", URI: "/a", Origin: "o"}, "", "no destination"},
		{"invalid UTF-8", Request{Method: "GET", URI: "/a\xff", Origin: "o", Destination: "d"}, "", "not valid UTF-8"},
		{"bad body", Request{Method: "PUT", URI: "/a", Origin: "o", Destination: "d", Content: []byte(`nope`)}, "", "request content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SigningJSON(tc.r)
			if tc.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("SigningJSON = %s, %v; want an error containing %q", got, err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("SigningJSON = %s, want %s", got, tc.want)
			}
			if c, err := canonicaljson.Canonicalize(got); err != nil || !bytes.Equal(c, got) {
				t.Fatalf("SigningJSON output %s is not canonical (%v)", got, err)
			}
		})
	}
}

func TestSignRejectsMalformedKey(t *testing.T) {
	r := Request{Method: "GET", URI: "/a", Origin: "o", Destination: "d"}
	if h, err := Sign(r, signing.Key{ID: "ed25519:1"}); err == nil {
		t.Fatalf("Sign with an empty key = %q", h)
	}
}

func TestParamsString(t *testing.T) {
	tests := []struct {
		p    Params
		want string
	}{
		{Params{Origin: "o", Destination: "d", Key: "ed25519:1", Sig: "abc"}, `X-Matrix origin="o",destination="d",key="ed25519:1",sig="abc"`},
		{Params{Origin: "o", Key: "ed25519:1", Sig: "abc"}, `X-Matrix origin="o",key="ed25519:1",sig="abc"`},
		{Params{Origin: `a"b\c`, Destination: "d", Key: "k", Sig: "s"}, `X-Matrix origin="a\"b\\c",destination="d",key="k",sig="s"`},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
		if back, err := ParseHeader(tc.want); err != nil || back != tc.p {
			t.Errorf("ParseHeader(%s) = %+v, %v; want %+v", tc.want, back, err, tc.p)
		}
	}
}

// FuzzVerify feeds arbitrary headers and bodies through the receiving
// side's whole path, seeded with the request signing vectors: it must
// return errors, never panic, and accept only what the key signed.
func FuzzVerify(f *testing.F) {
	for _, tc := range loadRequestCases(f) {
		f.Add(tc.ExpectedHeader, tc.Input.Method, tc.Input.URI, []byte(tc.Input.Content))
	}
	f.Add(`X-Matrix origin="domain",key="ed25519:1",sig="!!"`, "GET", "/", []byte(`{`))
	k := specKey(f)
	f.Fuzz(func(t *testing.T, header, method, uri string, body []byte) {
		p, err := ParseHeader(header)
		if err != nil {
			return
		}
		r := Request{Method: method, URI: uri, Origin: p.Origin, Destination: "remote.example", Content: body}
		if err := Verify(r, p, k.Public()); err != nil {
			return
		}
		// Accepted: then signing the same request must give the same
		// signature, since ed25519 is deterministic.
		h, err := Sign(r, k)
		if err != nil {
			t.Fatalf("Verify accepted %+v but Sign failed: %v", r, err)
		}
		again, err := ParseHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		// Compare bytes: the accepted text may set unused trailing bits.
		got, err1 := b64.Decode(p.Sig)
		want, err2 := b64.Decode(again.Sig)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Fatalf("Verify accepted sig %q; Sign gives %q", p.Sig, again.Sig)
		}
	})
}
