package serverkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/internal/vectors"
	"hearth/core/signing"
)

func specKey(t testing.TB) (signing.Key, string) {
	t.Helper()
	var v struct {
		Seed       string `json:"seed_unpadded_base64"`
		ServerName string `json:"server_name"`
		KeyID      string `json:"key_id"`
		Public     string `json:"derived_public_key_unpadded_base64"`
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
	if b64.Encode(k.Public()) != v.Public {
		t.Fatalf("spec key's public key is %s, want %s", b64.Encode(k.Public()), v.Public)
	}
	return k, v.ServerName
}

func testKey(t testing.TB, id string, b byte) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed(id, bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestResponseWithSpecKey(t *testing.T) {
	k, server := specKey(t)
	raw, err := Response(server, k, 1652262000000)
	if err != nil {
		t.Fatal(err)
	}
	// The body is the derived vector's self-signed key object in its
	// current form (server_name instead of the historical name) and must be
	// canonical JSON signed by the spec key.
	var signed struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &signed); err != nil {
		t.Fatal(err)
	}
	sig := signed.Signatures[server][k.ID]
	want := `{"old_verify_keys":{},"server_name":"domain","signatures":{"domain":{"ed25519:1":"` + sig +
		`"}},"valid_until_ts":1652262000000,"verify_keys":{"ed25519:1":{"key":"XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"}}}`
	if string(raw) != want {
		t.Fatalf("Response =\n%s\nwant\n%s", raw, want)
	}
	if err := signing.VerifyJSON(raw, server, k.ID, k.Public()); err != nil {
		t.Fatal(err)
	}
	ks, err := Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ks.ServerName != server || ks.ValidUntilTS != 1652262000000 || len(ks.VerifyKeys) != 1 || !ks.VerifyKeys[k.ID].Equal(k.Public()) || len(ks.OldVerifyKeys) != 0 {
		t.Fatalf("Verify gave %+v", ks)
	}
}

func TestResponseWithOldKeys(t *testing.T) {
	k := testKey(t, "ed25519:new", 1)
	old1 := testKey(t, "ed25519:old1", 2)
	old2 := testKey(t, "ed25519:old2", 3)
	raw, err := Response("hs.example", k, 2000,
		OldKey{ID: old1.ID, Public: old1.Public(), ExpiredTS: 1000},
		OldKey{ID: old2.ID, Public: old2.Public(), ExpiredTS: 1500})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		pub     ed25519.PublicKey
		untilTS int64
		ok      bool
	}{
		{k.ID, k.Public(), 2000, true},
		{old1.ID, old1.Public(), 1000, true},
		{old2.ID, old2.Public(), 1500, true},
		{"ed25519:other", nil, 0, false},
	}
	for _, tc := range tests {
		pub, until, ok := ks.PublicKey(tc.id)
		if ok != tc.ok || until != tc.untilTS || !bytes.Equal(pub, tc.pub) {
			t.Errorf("PublicKey(%s) = %x, %d, %v; want %x, %d, %v", tc.id, pub, until, ok, tc.pub, tc.untilTS, tc.ok)
		}
	}
}

func TestResponseRejects(t *testing.T) {
	k := testKey(t, "ed25519:a", 1)
	old := testKey(t, "ed25519:b", 2)
	tests := []struct {
		name    string
		server  string
		k       signing.Key
		until   int64
		old     []OldKey
		wantMsg string
	}{
		{"empty server name", "", k, 1, nil, "empty server name"},
		{"malformed key", "s", signing.Key{ID: "ed25519:a"}, 1, nil, "private key is 0 bytes"},
		{"negative validity", "s", k, -1, nil, "negative valid_until_ts"},
		{"old key bad ID", "s", k, 1, []OldKey{{ID: "b", Public: old.Public()}}, "old key"},
		{"old key short", "s", k, 1, []OldKey{{ID: old.ID, Public: old.Public()[:5]}}, "is 5 bytes"},
		{"old key reuses current ID", "s", k, 1, []OldKey{{ID: k.ID, Public: old.Public()}}, "current key's ID"},
		{"old key twice", "s", k, 1, []OldKey{{ID: old.ID, Public: old.Public()}, {ID: old.ID, Public: old.Public()}}, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Response(tc.server, tc.k, tc.until, tc.old...)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Response = %s, %v; want an error containing %q", raw, err, tc.wantMsg)
			}
		})
	}
}

// sign signs a hand-written key response body with each key in turn.
func sign(t *testing.T, body string, server string, keys ...signing.Key) []byte {
	t.Helper()
	out := []byte(body)
	for _, k := range keys {
		var err error
		if out, err = signing.SignJSON(out, server, k); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	k1 := testKey(t, "ed25519:one", 1)
	k2 := testKey(t, "ed25519:two", 2)
	notary := testKey(t, "ed25519:n", 3)
	p1, p2 := b64.Encode(k1.Public()), b64.Encode(k2.Public())
	body := func(keys string) string {
		return `{"server_name":"hs.example","valid_until_ts":5000,"verify_keys":{` + keys + `}}`
	}
	one := body(`"ed25519:one":{"key":"` + p1 + `"}`)
	both := body(`"ed25519:one":{"key":"` + p1 + `"},"ed25519:two":{"key":"` + p2 + `"}`)
	good := sign(t, one, "hs.example", k1)
	tests := []struct {
		name     string
		raw      []byte
		wantKeys []string
		wantErr  error
		wantMsg  string
	}{
		{"one key", good, []string{"ed25519:one"}, nil, ""},
		{"two keys both signed", sign(t, both, "hs.example", k1, k2), []string{"ed25519:one", "ed25519:two"}, nil, ""},
		{"notary signature is ignored", sign(t, string(good), "notary.example", notary), []string{"ed25519:one"}, nil, ""},
		{"unknown algorithm is skipped", sign(t, body(`"ed25519:one":{"key":"`+p1+`"},"curve9:x":{"key":"??"}`), "hs.example", k1), []string{"ed25519:one"}, nil, ""},
		{"exponent spelling of a number", []byte(strings.Replace(string(good), "5000", "5e3", 1)), []string{"ed25519:one"}, nil, ""},
		{"unsigned is ignored", []byte(strings.Replace(string(good), `"server_name"`, `"unsigned":{"x":1},"server_name"`, 1)), []string{"ed25519:one"}, nil, ""},
		{"second key did not sign", sign(t, both, "hs.example", k1), nil, signing.ErrNoSignature, ""},
		{"signed by notary only", sign(t, one, "notary.example", notary), nil, signing.ErrNoSignature, ""},
		{"unsigned body", []byte(one), nil, signing.ErrNoSignature, ""},
		{"tampered validity", []byte(strings.Replace(string(good), "5000", "9999999", 1)), nil, signing.ErrBadSignature, ""},
		{"key swapped", []byte(strings.Replace(string(sign(t, one, "hs.example", k1)), p1, p2, 1)), nil, signing.ErrBadSignature, ""},
		{"signed by other server name", sign(t, strings.Replace(one, "hs.example", "evil.example", 1), "hs.example", k1), nil, signing.ErrNoSignature, ""},
		{"no ed25519 key", sign(t, body(`"curve9:x":{"key":"abc"}`), "hs.example", k1), nil, nil, "no ed25519 verify key"},
		{"empty verify_keys", sign(t, body(``), "hs.example", k1), nil, nil, "no ed25519 verify key"},
		{"missing server_name", sign(t, `{"valid_until_ts":1,"verify_keys":{"ed25519:one":{"key":"`+p1+`"}}}`, "hs.example", k1), nil, nil, "missing server_name"},
		{"names are case-sensitive", sign(t, `{"Server_Name":"hs.example","valid_until_ts":1,"verify_keys":{"ed25519:one":{"key":"`+p1+`"}}}`, "hs.example", k1), nil, nil, "missing server_name"},
		{"empty server_name", sign(t, strings.Replace(one, "hs.example", "", 1), "hs.example", k1), nil, nil, "empty server_name"},
		{"missing valid_until_ts", sign(t, `{"server_name":"hs.example","verify_keys":{"ed25519:one":{"key":"`+p1+`"}}}`, "hs.example", k1), nil, nil, "missing valid_until_ts"},
		{"null valid_until_ts", sign(t, strings.Replace(one, "5000", "null", 1), "hs.example", k1), nil, nil, "valid_until_ts is null"},
		{"fractional valid_until_ts", sign(t, strings.Replace(one, "5000", "5000.5", 1), "hs.example", k1), nil, nil, "valid_until_ts"},
		{"negative valid_until_ts", sign(t, strings.Replace(one, "5000", "-5", 1), "hs.example", k1), nil, nil, "negative valid_until_ts"},
		{"string valid_until_ts", sign(t, strings.Replace(one, "5000", `"5000"`, 1), "hs.example", k1), nil, nil, "valid_until_ts"},
		{"missing verify_keys", sign(t, `{"server_name":"hs.example","valid_until_ts":1}`, "hs.example", k1), nil, nil, "missing verify_keys"},
		{"verify_keys not an object", sign(t, `{"server_name":"hs.example","valid_until_ts":1,"verify_keys":[]}`, "hs.example", k1), nil, nil, "verify_keys"},
		{"key not base64", sign(t, body(`"ed25519:one":{"key":"!!"}`), "hs.example", k1), nil, nil, "verify_keys.ed25519:one"},
		{"key too short", sign(t, body(`"ed25519:one":{"key":"`+b64.Encode(make([]byte, 16))+`"}`), "hs.example", k1), nil, nil, "key is 16 bytes"},
		{"key entry missing key", sign(t, body(`"ed25519:one":{}`), "hs.example", k1), nil, nil, "missing key"},
		{"old key without expired_ts", sign(t, strings.Replace(one, `"verify_keys"`, `"old_verify_keys":{"ed25519:o":{"key":"`+p2+`"}},"verify_keys"`, 1), "hs.example", k1), nil, nil, "missing expired_ts"},
		{"old key negative expired_ts", sign(t, strings.Replace(one, `"verify_keys"`, `"old_verify_keys":{"ed25519:o":{"key":"`+p2+`","expired_ts":-1}},"verify_keys"`, 1), "hs.example", k1), nil, nil, "negative expired_ts"},
		{"not JSON", []byte(`{"server_name":`), nil, canonicaljson.ErrInvalid, ""},
		{"duplicate member", []byte(`{"server_name":"a","server_name":"b"}`), nil, canonicaljson.ErrInvalid, ""},
		{"array", []byte(`[]`), nil, nil, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := Verify(tc.raw)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify(%s) = %v, want %v", tc.raw, err, tc.wantErr)
				}
				return
			case tc.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) || !strings.HasPrefix(err.Error(), "serverkey: ") {
					t.Fatalf("Verify(%s) = %v, want an error containing %q", tc.raw, err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%s): %v", tc.raw, err)
			}
			var ids []string
			for id := range ks.VerifyKeys {
				ids = append(ids, id)
			}
			if fmt.Sprint(slices.Sorted(slices.Values(ids))) != fmt.Sprint(tc.wantKeys) {
				t.Fatalf("verify keys %v, want %v", ids, tc.wantKeys)
			}
		})
	}
}

func TestParseDoesNotCheckSignatures(t *testing.T) {
	k := testKey(t, "ed25519:a", 1)
	raw := `{"server_name":"hs.example","valid_until_ts":7,"verify_keys":{"ed25519:a":{"key":"` + b64.Encode(k.Public()) + `"}}}`
	ks, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ks.ServerName != "hs.example" || ks.ValidUntilTS != 7 {
		t.Fatalf("Parse gave %+v", ks)
	}
	if _, err := Verify([]byte(raw)); !errors.Is(err, signing.ErrNoSignature) {
		t.Fatalf("Verify of unsigned body = %v", err)
	}
}

// TestSpecSigningDetailsExampleIsRejected feeds the spec's illustrative key
// object, whose signature does not verify, to Verify.
func TestSpecSigningDetailsExampleIsRejected(t *testing.T) {
	var f struct {
		Object json.RawMessage `json:"object"`
	}
	vectors.Load(t, "spec_signing_details_example.json", &f)
	if ks, err := Verify(f.Object); err == nil {
		t.Fatalf("Verify accepted the spec's non-verifying example: %+v", ks)
	}
}
