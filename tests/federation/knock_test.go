package federation_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRemoteKnock: a user knocks from another server on a room with the
// knock join rule: the room's server records the knock; a knock on a
// room nobody has fails with an error.
func TestRemoteKnock(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice, bob := register(t, a, "alice"), register(t, b, "bob")
	roomID := alice.createRoom("door", map[string]any{
		"preset":        "private_chat",
		"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]string{"join_rule": "knock"}}},
	})
	bob.must("POST", "/knock/"+esc(roomID)+"?server_name="+a.name, map[string]string{"reason": "let me in"}, nil)
	eventually(t, "a records the knock", func() error {
		if m := memberOf(alice.state(roomID), bob.user); m != "knock" {
			return fmt.Errorf("bob is %q", m)
		}
		return nil
	})
	if r := bob.do("POST", "/knock/"+esc("!nowhere:"+a.name), map[string]any{}); r.status == http.StatusOK {
		t.Fatalf("a knock on an unknown room succeeded: %s", r.body)
	}
}
