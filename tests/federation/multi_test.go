package federation_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// memberOf returns the membership of user in the state a client sees.
func memberOf(state []clientEvent, user string) string {
	for _, ev := range state {
		if ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == user {
			var c struct {
				Membership string `json:"membership"`
			}
			json.Unmarshal(ev.Content, &c)
			return c.Membership
		}
	}
	return ""
}

// TestThreeServersBanAndCatchUp: three servers in one room; a ban made on
// the room's server is enforced by the banned user's own server and seen by
// the third; a server that was down while messages were sent gets them
// after it comes back.
func TestThreeServersBanAndCatchUp(t *testing.T) {
	a, b, c := startNode(t), startNode(t), startNode(t)
	alice, bob, carol := register(t, a, "alice"), register(t, b, "bob"), register(t, c, "carol")
	roomID := alice.createRoom("hall", nil)
	bob.join("#hall:" + a.name)
	carol.join("#hall:" + a.name)
	for _, cl := range []*client{alice, bob, carol} {
		eventually(t, "everyone joined, seen by "+cl.user, func() error {
			st := cl.state(roomID)
			for _, u := range []string{alice.user, bob.user, carol.user} {
				if m := memberOf(st, u); m != "join" {
					return fmt.Errorf("%s is %q", u, m)
				}
			}
			return nil
		})
	}

	// c goes down; messages are sent; c comes back and catches up.
	c.stop()
	want := []string{"while c was away 1", "while c was away 2"}
	alice.say(roomID, want[0])
	bob.say(roomID, want[1])
	c.restart()
	eventually(t, "c catches up", func() error {
		got := carol.syncBodies(roomID)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("carol's sync shows %q, missing %q", got, w)
			}
		}
		return nil
	})

	// alice bans bob; b refuses bob's messages from then on, c sees the ban.
	alice.must("POST", "/rooms/"+esc(roomID)+"/ban", map[string]string{"user_id": bob.user, "reason": "test"}, nil)
	for _, cl := range []*client{bob, carol} {
		eventually(t, "the ban reaches "+cl.n.name, func() error {
			if m := memberOf(cl.state(roomID), bob.user); m != "ban" {
				return fmt.Errorf("bob is %q", m)
			}
			return nil
		})
	}
	r := bob.do("PUT", "/rooms/"+esc(roomID)+"/send/m.room.message/"+nextTxn(), map[string]string{"msgtype": "m.text", "body": "banned"})
	if r.status != http.StatusForbidden {
		t.Fatalf("a banned user's message on his own server: %d %s, want 403", r.status, r.body)
	}
}
