package keys

import (
	"encoding/json"
	"fmt"
	"testing"

	"hearth/core/b64"
	"hearth/core/signing"
)

// TestTwoDevices walks the path of a first encrypted message between two
// users who share a room: alice's device publishes keys, bob's finds them
// and claims a one-time key, sends an Olm message to alice's device, and
// alice's device reads it from its inbox exactly once.
func TestTwoDevices(t *testing.T) {
	s := newServer(t)
	lists, inbox := s.e2ee.DeviceKeys(), s.e2ee.ToDevice()
	bobSince := fmt.Sprintf("s0_0_%d_%d_0_0_0", inbox.Position(), lists.Position())

	// Alice's device A1 publishes its identity keys and two signed
	// one-time keys.
	dk, a1Key := deviceKeys(t, alice, "A1", 1)
	otk1 := sign(t, `{"key":"otk-one"}`, alice, a1Key)
	otk2 := sign(t, `{"key":"otk-two"}`, alice, a1Key)
	out := s.ok("POST", "/keys/upload", "a1", fmt.Sprintf(`{"device_keys": %s, "one_time_keys": {"signed_curve25519:AAAA": %s, "signed_curve25519:AAAB": %s}}`, dk, otk1, otk2))
	if path(out, "one_time_key_counts", "signed_curve25519") != 2.0 {
		t.Fatalf("upload: %v", out)
	}

	// Bob's sync learns that alice's devices changed: they share a room.
	changed, _, err := lists.ListChanges(t.Context(), bob, 0, lists.Position())
	if err != nil || fmt.Sprint(changed) != "[@alice:hs]" {
		t.Fatalf("bob's device list changes: %v, %v", changed, err)
	}
	// Carol shares no room with alice and hears nothing.
	if changed, _, _ := lists.ListChanges(t.Context(), carol, 0, lists.Position()); len(changed) != 0 {
		t.Errorf("carol's device list changes: %v", changed)
	}
	bobNow := fmt.Sprintf("s0_0_%d_%d_0_0_0", inbox.Position(), lists.Position())
	out = s.ok("GET", "/keys/changes?from="+bobSince+"&to="+bobNow, "b1", "")
	if fmt.Sprint(out["changed"]) != "[@alice:hs]" {
		t.Errorf("/keys/changes for bob: %v", out)
	}

	// Bob queries alice's devices and checks A1's self-signature.
	out = s.ok("POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": []}}`)
	a1 := path(out, "device_keys", alice, "A1").(map[string]any)
	raw, _ := json.Marshal(a1)
	edKey, _ := b64.Decode(path(a1, "keys", "ed25519:A1").(string))
	if err := signing.VerifyJSON(raw, alice, "ed25519:A1", edKey); err != nil {
		t.Fatalf("A1's keys as bob sees them do not verify: %v", err)
	}
	if path(a1, "unsigned", "device_display_name") != "Alice's phone" {
		t.Errorf("A1 = %v", a1)
	}

	// Bob claims a one-time key of A1, the first uploaded of them.
	out = s.ok("POST", "/keys/claim", "b1", `{"one_time_keys": {"@alice:hs": {"A1": "signed_curve25519"}}}`)
	claimed := path(out, "one_time_keys", alice, "A1").(map[string]any)
	if len(claimed) != 1 {
		t.Fatalf("claimed %v", out)
	}
	for id, k := range claimed {
		raw, _ := json.Marshal(k)
		if err := signing.VerifyJSON(raw, alice, "ed25519:A1", edKey); err != nil {
			t.Errorf("claimed key %s does not verify: %v", id, err)
		}
	}
	counts, _ := lists.OneTimeKeyCounts(t.Context(), alice, "A1")
	if counts["signed_curve25519"] != 1 {
		t.Errorf("A1's count after the claim: %v", counts)
	}

	// Bob sends the Olm pre-key message to A1.
	from := inbox.Position()
	content := `{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"bobcurve","ciphertext":{"curve1":{"type":0,"body":"secret"}}}`
	s.ok("PUT", "/sendToDevice/m.room.encrypted/txn1", "b1", `{"messages": {"@alice:hs": {"A1": `+content+`}}}`)
	to := inbox.Position()

	// A1's sync gets it once; A2, another device of alice, gets nothing.
	msgs, last, err := inbox.Messages(t.Context(), alice, "A1", from, to, 100)
	if err != nil || len(msgs) != 1 || last != to {
		t.Fatalf("A1's inbox: %s up to %d, %v", msgs, last, err)
	}
	var msg struct {
		Sender, Type string
		Content      json.RawMessage
	}
	if err := json.Unmarshal(msgs[0], &msg); err != nil || msg.Sender != bob || msg.Type != "m.room.encrypted" || string(msg.Content) != content {
		t.Errorf("message = %s", msgs[0])
	}
	if msgs, _, _ := inbox.Messages(t.Context(), alice, "A2", from, to, 100); len(msgs) != 0 {
		t.Errorf("A2 got %s", msgs)
	}
	// The next sync, from the new token, acknowledges and deletes it: even
	// a client that goes back to the old token does not see it again.
	if msgs, _, _ := inbox.Messages(t.Context(), alice, "A1", to, to, 100); len(msgs) != 0 {
		t.Errorf("second sync: %s", msgs)
	}
	if msgs, _, _ := inbox.Messages(t.Context(), alice, "A1", from, to, 100); len(msgs) != 0 {
		t.Errorf("acknowledged message still there: %s", msgs)
	}
}
