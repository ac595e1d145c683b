package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"hearth/core/roomversion"
	"hearth/core/signing"
)

func TestVerifySignatures(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	other := testKey(t, "ed25519:a", 2)
	second := testKey(t, "ed25519:b", 3)
	v := roomversion.MustLookup("10")
	good := build(t, message(v), v, key)

	type tc struct {
		name    string
		event   func() []byte
		keys    *keyMap
		wantErr []error // nil: must verify
	}
	withSigs := func(sigs string) func() []byte {
		return func() []byte {
			return edit(t, good.JSON(), func(m map[string]json.RawMessage) { m["signatures"] = json.RawMessage(sigs) })
		}
	}
	goodSig := good.Signatures()["example.org"]["ed25519:a"]
	flipped := []byte(goodSig)
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	cases := []tc{
		{"valid", good.JSON, newKeyMap("example.org", key), nil},
		{"tampered signature", withSigs(`{"example.org":{"ed25519:a":"` + string(flipped) + `"}}`),
			newKeyMap("example.org", key), []error{ErrSignature, signing.ErrBadSignature}},
		{"signature is not base64", withSigs(`{"example.org":{"ed25519:a":"!!!"}}`),
			newKeyMap("example.org", key), []error{ErrSignature, signing.ErrBadSignature}},
		{"signature too short", withSigs(`{"example.org":{"ed25519:a":"AAAA"}}`),
			newKeyMap("example.org", key), []error{ErrSignature, signing.ErrBadSignature}},
		{"wrong public key", good.JSON, newKeyMap("example.org", other), []error{ErrSignature, signing.ErrBadSignature}},
		{"unknown key", good.JSON, newKeyMap("example.org", second), []error{ErrSignature, signing.ErrNoSignature}},
		{"no signature from the sender's server", withSigs(`{"elsewhere.org":{"ed25519:a":"` + goodSig + `"}}`),
			newKeyMap("example.org", key, "elsewhere.org", key), []error{ErrSignature, signing.ErrNoSignature}},
		{"empty signatures", withSigs(`{}`), newKeyMap("example.org", key), []error{ErrSignature, signing.ErrNoSignature}},
		{"only a non-ed25519 key", withSigs(`{"example.org":{"curve:a":"` + goodSig + `"}}`),
			newKeyMap("example.org", key), []error{ErrSignature, signing.ErrNoSignature}},
		{"an unknown key beside a valid one", withSigs(`{"example.org":{"ed25519:a":"` + goodSig + `","ed25519:zz":"AAAA"}}`),
			newKeyMap("example.org", key), nil},
		{"a bad signature beside a valid one", withSigs(`{"example.org":{"ed25519:a":"` + goodSig + `","ed25519:b":"` + goodSig + `"}}`),
			newKeyMap("example.org", key, "example.org", second), []error{ErrSignature, signing.ErrBadSignature}},
		{"tampered signed field", func() []byte {
			return edit(t, good.JSON(), func(m map[string]json.RawMessage) { m["depth"] = json.RawMessage(`43`) })
		}, newKeyMap("example.org", key), []error{ErrSignature, signing.ErrBadSignature}},
		{"tampered hash", func() []byte {
			return edit(t, good.JSON(), func(m map[string]json.RawMessage) {
				m["hashes"] = json.RawMessage(`{"sha256":"` + strings.Repeat("A", 43) + `"}`)
			})
		}, newKeyMap("example.org", key), []error{ErrSignature, signing.ErrBadSignature}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.event(), v)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = VerifySignatures(p, c.keys)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifySignatures: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("VerifySignatures accepted the event")
			}
			for _, want := range c.wantErr {
				if !errors.Is(err, want) {
					t.Fatalf("error %v does not wrap %v", err, want)
				}
			}
		})
	}
}

func TestVerifyKeyValidityTime(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	for _, v := range roomversion.All() {
		p := build(t, message(v), v, key)
		keys := newKeyMap("example.org", key)
		if err := VerifySignatures(p, keys); err != nil {
			t.Fatalf("v%s: %v", v.ID, err)
		}
		want := int64(0)
		if v.EnforceKeyValidity {
			want = p.OriginServerTS()
		}
		if len(keys.atTS) == 0 || keys.atTS[0] != want {
			t.Fatalf("v%s: key asked for at %v, want %d", v.ID, keys.atTS, want)
		}
	}
}

func TestRequiredSigners(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	remote := testKey(t, "ed25519:r", 4)
	for _, v := range roomversion.All() {
		t.Run("v"+v.ID, func(t *testing.T) {
			// A join built by a remote server, as after make_join: the
			// sender is on remote.org. In v1 and v2 the event ID names
			// example.org, which must sign too.
			b := message(v)
			b.Sender, b.Type, b.StateKey = "@carol:remote.org", "m.room.member", strp("@carol:remote.org")
			b.Content = json.RawMessage(`{"membership":"join","join_authorised_via_users_server":"@alice:example.org"}`)
			p, err := Build(b, v, "example.org", key, &countingRand{})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			want = append(want, "remote.org")
			if v.EventIDFormat == roomversion.EventIDInEvent || v.RestrictedJoins {
				want = append(want, "example.org")
			}
			if got := p.RequiredSigners(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("RequiredSigners %v, want %v", got, want)
			}
			keys := newKeyMap("example.org", key, "remote.org", remote)
			if err := VerifySignatures(p, keys); !errors.Is(err, ErrSignature) {
				t.Fatalf("without remote.org's signature: %v", err)
			}
			signed, err := p.Sign("remote.org", remote)
			if err != nil {
				t.Fatal(err)
			}
			if signed.ID() != p.ID() {
				t.Fatalf("countersigning changed the ID from %s to %s", p.ID(), signed.ID())
			}
			if err := VerifySignatures(signed, keys); err != nil {
				t.Fatalf("countersigned: %v", err)
			}
			// Only example.org's signature, where remote.org is
			// required, does not do.
			if v.RestrictedJoins || v.EventIDFormat == roomversion.EventIDInEvent {
				only, err := Sign(edit(t, signed.JSON(), func(m map[string]json.RawMessage) {
					m["signatures"] = json.RawMessage(`{}`)
				}), v, "remote.org", remote)
				if err != nil {
					t.Fatal(err)
				}
				q, err := Parse(only, v)
				if err != nil {
					t.Fatal(err)
				}
				if err := VerifySignatures(q, keys); !errors.Is(err, ErrSignature) {
					t.Fatalf("without example.org's signature: %v", err)
				}
			}
		})
	}
}

func TestThirdPartyInviteSigners(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	b := message(v)
	b.Sender, b.Type, b.StateKey = "@inviter:remote.org", "m.room.member", strp("@new:example.org")
	b.Content = json.RawMessage(`{"membership":"invite","third_party_invite":{"display_name":"x","signed":{"mxid":"@new:example.org","token":"t","signatures":{}}}}`)
	p := build(t, b, v, key)
	if got := p.RequiredSigners(); len(got) != 0 {
		t.Fatalf("RequiredSigners of a third-party invite: %v", got)
	}
	if err := VerifySignatures(p, newKeyMap()); err != nil {
		t.Fatalf("third-party invite: %v", err)
	}
}

func TestContentHashMismatch(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	for _, v := range roomversion.All() {
		t.Run("v"+v.ID, func(t *testing.T) {
			p := build(t, message(v), v, key)
			if err := CheckContentHash(p.JSON()); err != nil {
				t.Fatalf("CheckContentHash: %v", err)
			}
			// Content of a message is not signed: changing it keeps
			// the signature and the ID but breaks the content hash.
			tampered := bytes.Replace(p.JSON(), []byte("hello, world"), []byte("goodbye, all"), 1)
			q, err := Parse(tampered, v)
			if err != nil {
				t.Fatal(err)
			}
			if q.ID() != p.ID() {
				t.Fatalf("ID changed with unsigned content: %s, %s", q.ID(), p.ID())
			}
			keys := newKeyMap("example.org", key)
			if err := VerifySignatures(q, keys); err != nil {
				t.Fatalf("VerifySignatures: %v", err)
			}
			for _, err := range []error{CheckContentHash(tampered), q.CheckContentHash()} {
				if !errors.Is(err, ErrHashMismatch) {
					t.Fatalf("CheckContentHash: %v, want ErrHashMismatch", err)
				}
			}
			r, err := VerifyReceived(q, keys)
			if err != nil {
				t.Fatalf("VerifyReceived: %v", err)
			}
			if string(r.Content()) != "{}" || r.ID() != p.ID() {
				t.Fatalf("VerifyReceived kept %s as %s", r.Content(), r.ID())
			}
			if r, err := VerifyReceived(p, keys); err != nil || r != p {
				t.Fatalf("VerifyReceived of the good event: %v", err)
			}
			// A hash that is not base64 or not there is the event's fault.
			for _, hashes := range []string{`{"sha256":"!!"}`, `{}`, `[]`} {
				bad := edit(t, p.JSON(), func(m map[string]json.RawMessage) { m["hashes"] = json.RawMessage(hashes) })
				if err := CheckContentHash(bad); !errors.Is(err, ErrInvalid) {
					t.Fatalf("hashes %s: %v, want ErrInvalid", hashes, err)
				}
			}
		})
	}
}

func TestSignKeepsOtherSignatures(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	k2 := testKey(t, "ed25519:b", 2)
	v := roomversion.MustLookup("11")
	p := build(t, message(v), v, key)
	raw, err := Sign(p.JSON(), v, "example.org", k2)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = Sign(raw, v, "aaa.org", key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = Sign(raw, v, "zzz.org", key)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(raw, v)
	if err != nil {
		t.Fatal(err)
	}
	sigs := q.Signatures()
	if len(sigs) != 3 || len(sigs["example.org"]) != 2 || sigs["example.org"]["ed25519:a"] != p.Signatures()["example.org"]["ed25519:a"] {
		t.Fatalf("signatures %v", sigs)
	}
	if q.ID() != p.ID() {
		t.Fatal("signing changed the event ID")
	}
	if err := VerifySignatures(q, newKeyMap("example.org", key, "example.org", k2)); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(p.JSON(), v, "", key); err == nil {
		t.Fatal("Sign with no server name")
	}
	if _, err := Sign(p.JSON(), v, "example.org", signing.Key{ID: "ed25519:x"}); err == nil {
		t.Fatal("Sign with no private key")
	}
	if _, err := Sign([]byte(`{"signatures":[]}`), v, "example.org", key); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Sign over a malformed signatures: %v", err)
	}
	if _, err := Sign([]byte(`[1]`), v, "example.org", key); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Sign of an array: %v", err)
	}
}
