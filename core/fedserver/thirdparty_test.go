package fedserver

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"hearth/core/signing"
)

// TestExchangeThirdPartyInvite: the invited user's server hands over the
// invite built from an identity server's signed block; this server makes
// it its user's invite when the block is signed by a key of the room's
// m.room.third_party_invite, and refuses it (403, nothing stored) when the
// signature, token, user or requesting server does not fit.
func TestExchangeThirdPartyInvite(t *testing.T) {
	e := newEnv(t, nil)
	idKey, err := signing.KeyFromSeed("ed25519:0", bytes.Repeat([]byte{42}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := signing.KeyFromSeed("ed25519:0", bytes.Repeat([]byte{43}, ed25519.SeedSize))
	roomID := e.room(nil, [][2]any{{"m.room.third_party_invite|tok1", map[string]any{
		"display_name":     "b...@example.org",
		"key_validity_url": "https://ident.test/_matrix/identity/v2/pubkey/isvalid",
		"public_key":       base64.RawStdEncoding.EncodeToString(idKey.Public()),
	}}})
	path := "/exchange_third_party_invite/" + roomID
	exchange := func(sender, target, token string, key signing.Key) map[string]any {
		t.Helper()
		unsigned, _ := json.Marshal(map[string]string{"mxid": target, "token": token})
		signed, err := signing.SignJSON(unsigned, "ident.test", key)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{
			"type": "m.room.member", "room_id": roomID, "sender": sender, "state_key": target,
			"content": map[string]any{"membership": "invite", "third_party_invite": map[string]any{
				"display_name": "b...@example.org", "signed": json.RawMessage(signed)}},
		}
	}

	bob := "@bob:remote.test"
	e.expect("remote.test", "PUT", path, exchange(e.creator, bob, "tok1", idKey), http.StatusOK, "")
	if got := e.memberOf(roomID, bob); got != "invite" {
		t.Fatalf("bob is %q after the exchange, want invite", got)
	}
	evs, err := e.h.currentEvents(t.Context(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	for k, ev := range evs {
		if k.Type == "m.room.member" && k.StateKey == bob && ev.Sender() != e.creator {
			t.Errorf("the invite's sender is %s, want %s", ev.Sender(), e.creator)
		}
	}

	carol := "@carol:remote.test"
	refused := []struct {
		what   string
		origin string
		body   map[string]any
		status int
	}{
		{"signed by a key the room does not list", "remote.test", exchange(e.creator, carol, "tok1", otherKey), http.StatusForbidden},
		{"an unknown token", "remote.test", exchange(e.creator, carol, "tok2", idKey), http.StatusForbidden},
		{"a signed block naming another user", "remote.test", func() map[string]any {
			b := exchange(e.creator, carol, "tok1", idKey)
			b["state_key"] = "@dave:remote.test"
			return b
		}(), http.StatusForbidden},
		{"a server other than the invited user's", "other.test", exchange(e.creator, carol, "tok1", idKey), http.StatusForbidden},
		{"a sender of another server", "remote.test", exchange("@mallory:remote.test", carol, "tok1", idKey), http.StatusForbidden},
	}
	for _, c := range refused {
		status, out := e.do(c.origin, "PUT", path, c.body)
		if status != c.status || out["errcode"] != "M_FORBIDDEN" {
			t.Errorf("%s: %d %v, want %d M_FORBIDDEN", c.what, status, out, c.status)
		}
		for _, u := range []string{carol, "@dave:remote.test"} {
			if got := e.memberOf(roomID, u); got != "" {
				t.Errorf("%s: %s is %q, want no membership", c.what, u, got)
			}
		}
	}
	unknown := exchange(e.creator, carol, "tok1", idKey)
	unknown["room_id"] = "!unknown:hs.test"
	e.expect("remote.test", "PUT", "/exchange_third_party_invite/!unknown:hs.test", unknown, http.StatusNotFound, "M_NOT_FOUND")
	e.expect("remote.test", "PUT", path, unknown, http.StatusBadRequest, "M_BAD_JSON")
}
