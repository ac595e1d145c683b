package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"

	"hearth/core/event"
)

// testKey is a fixed ed25519 key for identity server signatures.
func testKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

// pub64 is the unpadded standard base64 of k's public key.
func pub64(k ed25519.PrivateKey) string {
	return base64.RawStdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// signedBlock returns a third_party_invite.signed object for mxid and
// token signed by k. The signed bytes are written out by hand as canonical
// JSON, independently of the code under test.
func signedBlock(k ed25519.PrivateKey, mxid, token string) string {
	canonical := fmt.Sprintf(`{"mxid":%q,"token":%q}`, mxid, token)
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(k, []byte(canonical)))
	return fmt.Sprintf(`{"mxid":%q,"token":%q,"signatures":{"id.example":{"ed25519:0":%q}}}`, mxid, token, sig)
}

// tpInvite builds alice's invite of target carrying third_party_invite with
// the given signed block.
func tpInvite(r *room, sender, target, signed string) *event.PDU {
	return r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"invite","third_party_invite":{"display_name":"b...","signed":%s}}}`,
		target, sender, signed))
}

// tpEvent stores an m.room.third_party_invite from sender for token.
func tpEvent(r *room, sender, token, content string) {
	r.add(fmt.Sprintf(`{"type":"m.room.third_party_invite","state_key":%q,"sender":%q,"content":%s}`, token, sender, content))
}

func TestThirdPartyInvite(t *testing.T) {
	good := testKey("identity server")
	other := testKey("someone else")
	withKey := func(k ed25519.PrivateKey) func(r *room) {
		return func(r *room) {
			tpEvent(r, alice, "tok", fmt.Sprintf(`{"display_name":"b...","key_validity_url":"https://id.example/v","public_key":%q}`, pub64(k)))
		}
	}
	valid := func(r *room) *event.PDU { return tpInvite(r, alice, bob, signedBlock(good, bob, "tok")) }
	cases := []ruleCase{
		{name: "valid signature", vers: allVersions, setup: withKey(good), ev: valid, allow: true},
		{name: "signature by another key", vers: allVersions, setup: withKey(other), ev: valid, allow: false, reason: "no signature"},
		{name: "key in public_keys", vers: allVersions,
			setup: func(r *room) {
				tpEvent(r, alice, "tok", fmt.Sprintf(`{"public_key":%q,"public_keys":[{"public_key":%q},{"public_key":%q,"key_validity_url":"https://id.example/v"}]}`,
					pub64(other), pub64(other), base64.RawURLEncoding.EncodeToString(good.Public().(ed25519.PublicKey))))
			},
			ev: valid, allow: true},
		{name: "tampered signed block", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU {
				b := signedBlock(good, bob, "tok")
				// Same signature, but over a different token.
				tampered := `{"mxid":"@bob:b.example","token":"tok","extra":1` + b[len(`{"mxid":"@bob:b.example","token":"tok"`):]
				return tpInvite(r, alice, bob, tampered)
			}, allow: false},
		{name: "mxid is not the state_key", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU { return tpInvite(r, alice, carol, signedBlock(good, bob, "tok")) }, allow: false, reason: "mxid"},
		{name: "no event for the token", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU { return tpInvite(r, alice, bob, signedBlock(good, bob, "other")) }, allow: false, reason: "no m.room.third_party_invite"},
		{name: "sender did not send the third party invite", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "join")
				withKey(good)(r)
			},
			ev: func(r *room) *event.PDU { return tpInvite(r, carol, bob, signedBlock(good, bob, "tok")) }, allow: false, reason: "did not send"},
		{name: "target banned", vers: allVersions,
			setup: func(r *room) {
				withKey(good)(r)
				r.member(bob, "ban")
			},
			ev: valid, allow: false, reason: "banned"},
		{name: "no signed", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU {
				return r.ev(`{"type":"m.room.member","state_key":"@bob:b.example","sender":"@alice:a.example","content":{"membership":"invite","third_party_invite":{"display_name":"b"}}}`)
			}, allow: false, reason: "no signed"},
		{name: "signed without token", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU { return tpInvite(r, alice, bob, `{"mxid":"@bob:b.example","signatures":{}}`) }, allow: false, reason: "mxid or token"},
		{name: "no signatures", vers: allVersions, setup: withKey(good),
			ev: func(r *room) *event.PDU { return tpInvite(r, alice, bob, `{"mxid":"@bob:b.example","token":"tok"}`) }, allow: false},
		{name: "revoked invite has no keys", vers: allVersions,
			setup: func(r *room) { tpEvent(r, alice, "tok", `{}`) }, ev: valid, allow: false},
		// The third-party path does not look at the sender's membership or
		// power: the m.room.third_party_invite already needed both.
		{name: "sender no longer joined", vers: allVersions,
			setup: func(r *room) {
				withKey(good)(r)
				r.member(alice, "leave")
			},
			ev: valid, allow: true},
	}
	runCases(t, cases)
}

func TestThirdPartyInviteEvent(t *testing.T) {
	tp := func(sender string) func(r *room) *event.PDU {
		return func(r *room) *event.PDU {
			return r.ev(fmt.Sprintf(`{"type":"m.room.third_party_invite","state_key":"tok","sender":%q,"content":{"public_key":"abc"}}`, sender))
		}
	}
	cases := []ruleCase{
		{name: "joined at invite level", vers: allVersions, setup: func(r *room) { r.member(bob, "join") }, ev: tp(bob), allow: true},
		{name: "not joined", vers: allVersions, setup: func(r *room) { r.member(bob, "invite") }, ev: tp(bob), allow: false, reason: "not joined"},
		{name: "below invite level", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.powerLevels(creatorPL(r, `"invite":10`))
			},
			ev: tp(bob), allow: false, reason: "invite level"},
		// The invite level decides even when state_default is higher.
		{name: "state_default does not apply", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.powerLevels(creatorPL(r, `"state_default":90,"events":{"m.room.third_party_invite":90}`))
			},
			ev: tp(bob), allow: true},
	}
	runCases(t, cases)
}
