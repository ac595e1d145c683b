package signing

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
)

// specKey is the spec's test signing key (spec_signing_key.json).
type specKey struct {
	Seed       string `json:"seed_unpadded_base64"`
	ServerName string `json:"server_name"`
	KeyID      string `json:"key_id"`
	Public     string `json:"derived_public_key_unpadded_base64"`
}

func loadSpecKey(t testing.TB) (Key, specKey) {
	t.Helper()
	var v specKey
	vectors.Load(t, "spec_signing_key.json", &v)
	seed, err := b64.Decode(v.Seed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := KeyFromSeed(v.KeyID, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k, v
}

func canonical(t testing.TB, raw []byte) []byte {
	t.Helper()
	c, err := canonicaljson.Canonicalize(raw)
	if err != nil {
		t.Fatalf("canonicalise %s: %v", raw, err)
	}
	return c
}

func TestSpecSigningKey(t *testing.T) {
	k, v := loadSpecKey(t)
	if got := b64.Encode(k.Public()); got != v.Public {
		t.Fatalf("public key = %s, want %s", got, v.Public)
	}
	// The spec writes its seed with non-zero unused trailing bits ("...XA1"
	// rather than "...XA0"), so compare bytes, not text.
	seed, err := b64.Decode(v.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Seed(), seed) {
		t.Fatalf("seed = %s, want %s", b64.Encode(k.Seed()), v.Seed)
	}
	if k.ID != "ed25519:1" || k.Version() != "1" {
		t.Fatalf("key ID %q, version %q", k.ID, k.Version())
	}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
}

type signingCase struct {
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
}

func TestJSONSigningVectors(t *testing.T) {
	k, v := loadSpecKey(t)
	for _, file := range []string{"spec_json_signing.json", "derived_json_signing.json"} {
		var f struct {
			Cases []signingCase `json:"cases"`
		}
		vectors.Load(t, file, &f)
		if len(f.Cases) == 0 {
			t.Fatalf("%s has no cases", file)
		}
		for i, tc := range f.Cases {
			t.Run(fmt.Sprintf("%s/%d", file, i), func(t *testing.T) {
				got, err := SignJSON(tc.Input, v.ServerName, k)
				if err != nil {
					t.Fatal(err)
				}
				want := canonical(t, tc.Expected)
				if !bytes.Equal(got, want) {
					t.Fatalf("SignJSON(%s)\n got %s\nwant %s", tc.Input, got, want)
				}
				if err := VerifyJSON(tc.Expected, v.ServerName, k.ID, k.Public()); err != nil {
					t.Fatalf("VerifyJSON(expected): %v", err)
				}
				// Signing the signed output again with the same key is
				// idempotent: the signature replaces itself.
				again, err := SignJSON(got, v.ServerName, k)
				if err != nil || !bytes.Equal(again, want) {
					t.Fatalf("re-signing gave %s, %v", again, err)
				}
			})
		}
	}
}

func TestSpecSigningDetailsExampleIsRejected(t *testing.T) {
	var f struct {
		Object   json.RawMessage `json:"object"`
		Verifies bool            `json:"verifies_with_embedded_key"`
	}
	vectors.Load(t, "spec_signing_details_example.json", &f)
	if f.Verifies {
		t.Fatal("vector claims to verify; this test expects the negative case")
	}
	var obj struct {
		Name        string            `json:"name"`
		SigningKeys map[string]string `json:"signing_keys"`
	}
	if err := json.Unmarshal(f.Object, &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj.SigningKeys) == 0 {
		t.Fatal("example has no signing_keys")
	}
	for keyID, key := range obj.SigningKeys {
		pub, err := b64.Decode(key)
		if err != nil {
			t.Fatal(err)
		}
		err = VerifyJSON(f.Object, obj.Name, keyID, pub)
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("VerifyJSON(example, %s, %s) = %v, want ErrBadSignature", obj.Name, keyID, err)
		}
	}
}

func TestVerifyJSONFailures(t *testing.T) {
	k, v := loadSpecKey(t)
	signed, err := SignJSON([]byte(`{"a":1,"unsigned":{"age":3}}`), v.ServerName, k)
	if err != nil {
		t.Fatal(err)
	}
	other, err := KeyFromSeed("ed25519:2", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		return []byte(strings.Replace(string(signed), old, new, 1))
	}
	tests := []struct {
		name    string
		obj     []byte
		signer  string
		keyID   string
		pub     ed25519.PublicKey
		wantErr error  // checked with errors.Is when set
		wantMsg string // checked as a substring otherwise
	}{
		{"valid", signed, v.ServerName, k.ID, k.Public(), nil, ""},
		{"unsigned may change", replace(`"age":3`, `"age":4`), v.ServerName, k.ID, k.Public(), nil, ""},
		{"unsigned may go", replace(`,"unsigned":{"age":3}`, ``), v.ServerName, k.ID, k.Public(), nil, ""},
		{"whitespace and order do not matter", []byte(" {\"unsigned\":{}, \"signatures\":" + sigsOf(t, signed) + ",\n\"a\": 1.0 }"), v.ServerName, k.ID, k.Public(), nil, ""},
		{"content changed", replace(`"a":1`, `"a":2`), v.ServerName, k.ID, k.Public(), ErrBadSignature, ""},
		{"member added", replace(`"a":1`, `"a":1,"b":1`), v.ServerName, k.ID, k.Public(), ErrBadSignature, ""},
		{"other public key", signed, v.ServerName, k.ID, other.Public(), ErrBadSignature, ""},
		{"unknown signer", signed, "elsewhere", k.ID, k.Public(), ErrNoSignature, ""},
		{"unknown key ID", signed, v.ServerName, "ed25519:2", k.Public(), ErrNoSignature, ""},
		{"no signatures", []byte(`{"a":1}`), v.ServerName, k.ID, k.Public(), ErrNoSignature, ""},
		{"short signature", []byte(`{"a":1,"signatures":{"domain":{"ed25519:1":"c2ln"}}}`), v.ServerName, k.ID, k.Public(), ErrBadSignature, ""},
		{"signature not base64", []byte(`{"a":1,"signatures":{"domain":{"ed25519:1":"!!"}}}`), v.ServerName, k.ID, k.Public(), nil, "b64: decode"},
		{"signature not a string", []byte(`{"a":1,"signatures":{"domain":{"ed25519:1":5}}}`), v.ServerName, k.ID, k.Public(), nil, "not a string"},
		{"signer entry not an object", []byte(`{"a":1,"signatures":{"domain":"x"}}`), v.ServerName, k.ID, k.Public(), nil, "not an object"},
		{"signatures not an object", []byte(`{"a":1,"signatures":[]}`), v.ServerName, k.ID, k.Public(), nil, "not an object"},
		{"public key too short", signed, v.ServerName, k.ID, k.Public()[:31], nil, "public key is 31 bytes"},
		{"nil public key", signed, v.ServerName, k.ID, nil, nil, "public key is 0 bytes"},
		{"not an object", []byte(`[1,2]`), v.ServerName, k.ID, k.Public(), nil, "not a JSON object"},
		{"not JSON", []byte(`{"a":`), v.ServerName, k.ID, k.Public(), canonicaljson.ErrInvalid, ""},
		{"empty input", nil, v.ServerName, k.ID, k.Public(), canonicaljson.ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyJSON(tc.obj, tc.signer, tc.keyID, tc.pub)
			switch {
			case tc.wantErr == nil && tc.wantMsg == "":
				if err != nil {
					t.Fatalf("VerifyJSON(%s) = %v, want nil", tc.obj, err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("VerifyJSON(%s) = %v, want %v", tc.obj, err, tc.wantErr)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("VerifyJSON(%s) = %v, want an error containing %q", tc.obj, err, tc.wantMsg)
				}
			}
		})
	}
}

// sigsOf returns the "signatures" value of a signed object as JSON text.
func sigsOf(t *testing.T, signed []byte) string {
	t.Helper()
	var obj struct {
		Signatures json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(signed, &obj); err != nil {
		t.Fatal(err)
	}
	return string(obj.Signatures)
}

func TestAddSignaturePlacement(t *testing.T) {
	sig := bytes.Repeat([]byte{0xab}, SignatureSize)
	enc := b64.Encode(sig)
	tests := []struct {
		name   string
		in     string
		signer string
		keyID  string
		want   string
	}{
		{"empty object", `{}`, "s", "ed25519:1",
			`{"signatures":{"s":{"ed25519:1":"` + enc + `"}}}`},
		{"before later keys", `{"a":1,"z":2}`, "s", "ed25519:1",
			`{"a":1,"signatures":{"s":{"ed25519:1":"` + enc + `"}},"z":2}`},
		{"after all keys", `{"a":1,"b":2}`, "s", "ed25519:1",
			`{"a":1,"b":2,"signatures":{"s":{"ed25519:1":"` + enc + `"}}}`},
		{"first key", `{"t":1}`, "s", "ed25519:1",
			`{"signatures":{"s":{"ed25519:1":"` + enc + `"}},"t":1}`},
		{"new signer sorted in", `{"signatures":{"a":{"k":"x"},"z":{"k":"y"}}}`, "m", "ed25519:1",
			`{"signatures":{"a":{"k":"x"},"m":{"ed25519:1":"` + enc + `"},"z":{"k":"y"}}}`},
		{"new key for known signer", `{"signatures":{"m":{"ed25519:0":"x","ed25519:2":"y"}}}`, "m", "ed25519:1",
			`{"signatures":{"m":{"ed25519:0":"x","ed25519:1":"` + enc + `","ed25519:2":"y"}}}`},
		{"replaces same key", `{"signatures":{"m":{"ed25519:1":"old"}}}`, "m", "ed25519:1",
			`{"signatures":{"m":{"ed25519:1":"` + enc + `"}}}`},
		{"escaped signer", `{}`, "a\"b\n<c>é", "ed25519:1",
			`{"signatures":{"a\"b\n<c>é":{"ed25519:1":"` + enc + `"}}}`},
		{"keys with escapes sort by code point", `{"signatures":{"a\u0001":{"k":"x"},"é":{"k":"y"}}}`, "b", "k",
			`{"signatures":{"a\u0001":{"k":"x"},"b":{"k":"` + enc + `"},"é":{"k":"y"}}}`},
		{"keeps unsigned", `{"unsigned":{"x":1},"a":1}`, "s", "k",
			`{"a":1,"signatures":{"s":{"k":"` + enc + `"}},"unsigned":{"x":1}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AddSignature([]byte(tc.in), tc.signer, tc.keyID, sig)
			if err != nil {
				t.Fatal(err)
			}
			want := canonical(t, []byte(tc.want))
			if !bytes.Equal(got, want) {
				t.Fatalf("AddSignature(%s)\n got %s\nwant %s", tc.in, got, want)
			}
			if !bytes.Equal(canonical(t, got), got) {
				t.Fatalf("output %s is not canonical", got)
			}
		})
	}
}

func TestAddSignatureRejects(t *testing.T) {
	sig := make([]byte, SignatureSize)
	tests := []struct {
		name, in, signer, keyID string
		sig                     []byte
		wantMsg                 string
	}{
		{"empty signer", `{}`, "", "k", sig, "empty signing name"},
		{"empty key ID", `{}`, "s", "", sig, "empty key ID"},
		{"short signature", `{}`, "s", "k", sig[:10], "signature is 10 bytes"},
		{"signer entry not an object", `{"signatures":{"s":1}}`, "s", "k", sig, "not an object"},
		{"invalid UTF-8 signer", `{}`, "s\xff", "k", sig, "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AddSignature([]byte(tc.in), tc.signer, tc.keyID, tc.sig)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("AddSignature = %s, %v; want an error containing %q", got, err, tc.wantMsg)
			}
		})
	}
}

func TestSignatures(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Signature
		wantMsg string
	}{
		{"none", `{"a":1}`, nil, ""},
		{"sorted", `{"signatures":{"z":{"ed25519:b":"2","ed25519:a":"1"},"a\"":{"k":"3"}}}`, []Signature{
			{`a"`, "k", "3"}, {"z", "ed25519:a", "1"}, {"z", "ed25519:b", "2"},
		}, ""},
		{"empty signer", `{"signatures":{"s":{}}}`, nil, ""},
		{"value not a string", `{"signatures":{"s":{"k":[]}}}`, nil, "not a string"},
		{"signer not an object", `{"signatures":{"s":true}}`, nil, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Signatures([]byte(tc.in))
			if tc.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("Signatures = %v, %v; want an error containing %q", got, err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Signatures = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSignedBytes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{}`, `{}`},
		{`{"signatures":{}}`, `{}`},
		{`{"unsigned":{}}`, `{}`},
		{`{"signatures":{},"unsigned":{}}`, `{}`},
		{`{"a":1,"signatures":{},"unsigned":{}}`, `{"a":1}`},
		{`{"signatures":{},"t":1,"unsigned":{},"z":2}`, `{"t":1,"z":2}`},
		{`{"a":[1,{"signatures":1}],"signatures":{"x":{"y":"z"}},"b":"}\"{","unsigned":{"u":[]},"v":null}`,
			`{"a":[1,{"signatures":1}],"b":"}\"{","v":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			o, err := ParseObject([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(o.SignedBytes()); got != tc.want {
				t.Fatalf("SignedBytes = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestObjectVerifiesSeveralSigners checks the prepared-object path used for
// events signed by both the sender's and the origin's server.
func TestObjectVerifiesSeveralSigners(t *testing.T) {
	k1, err := KeyFromSeed("ed25519:a", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := KeyFromSeed("ed25519:b", bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := SignJSON([]byte(`{"type":"m.room.message"}`), "one.example", k1)
	if err != nil {
		t.Fatal(err)
	}
	obj, err = SignJSON(obj, "two.example", k2)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		signer string
		k      Key
	}{{"one.example", k1}, {"two.example", k2}}
	for _, c := range checks {
		if err := o.Verify(c.signer, c.k.ID, c.k.Public()); err != nil {
			t.Errorf("Verify(%s): %v", c.signer, err)
		}
	}
	list, err := o.Signatures()
	if err != nil || len(list) != 2 {
		t.Fatalf("Signatures = %v, %v", list, err)
	}
}

func FuzzSignVerify(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"signatures":{"x":{"y":"z"}},"unsigned":{}}`, `{"a":"\u0000","b":[{}]}`, `[]`, `{"signatures":1}`} {
		f.Add([]byte(s))
	}
	k, err := KeyFromSeed("ed25519:f", bytes.Repeat([]byte{9}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := SignJSON(in, "fuzz.example", k)
		if err != nil {
			return
		}
		if c, err := canonicaljson.Canonicalize(out); err != nil || !bytes.Equal(c, out) {
			t.Fatalf("SignJSON(%q) = %q is not canonical (%v)", in, out, err)
		}
		if err := VerifyJSON(out, "fuzz.example", k.ID, k.Public()); err != nil {
			t.Fatalf("VerifyJSON(SignJSON(%q)): %v", in, err)
		}
	})
}
