package federation_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

// syncResp is the part of a /sync answer the invite test reads.
type syncResp struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join   map[string]json.RawMessage `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events []clientEvent `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]json.RawMessage `json:"leave"`
	} `json:"rooms"`
}

func (c *client) sync(since string) syncResp {
	c.t.Helper()
	path := "/sync?timeout=0"
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	var out syncResp
	c.must("GET", path, nil, &out)
	return out
}

// TestRemoteInvites: a user of one server invites users of another server
// that is not in the room: the invitees see the invite in /sync with the
// room's stripped state, once in incremental syncs; one joins it (the invite
// goes, the room comes), the other rejects it (the room's server sees the
// leave, the invite goes and the incremental sync shows the leave).
func TestRemoteInvites(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice := register(t, a, "alice")
	bob, dave := register(t, b, "bob"), register(t, b, "dave")
	roomID := alice.createRoom("private", map[string]any{"preset": "private_chat", "name": "Secret"})
	for _, u := range []*client{bob, dave} {
		alice.must("POST", "/rooms/"+esc(roomID)+"/invite", map[string]string{"user_id": u.user}, nil)
	}
	var bobSince, daveSince string
	for _, u := range []*client{bob, dave} {
		eventually(t, "the invite reaches "+u.user, func() error {
			s := u.sync("")
			inv, ok := s.Rooms.Invite[roomID]
			if !ok {
				return fmt.Errorf("no invite in %+v", s.Rooms.Invite)
			}
			var name, member bool
			for _, ev := range inv.InviteState.Events {
				if ev.Type == "m.room.name" && string(ev.Content) == `{"name":"Secret"}` {
					name = true
				}
				if ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == u.user && ev.Sender == alice.user {
					member = true
				}
			}
			if !name || !member {
				return fmt.Errorf("invite_state without the name or the invite: %+v", inv.InviteState.Events)
			}
			if u == bob {
				bobSince = s.NextBatch
			} else {
				daveSince = s.NextBatch
			}
			return nil
		})
	}
	if s := bob.sync(bobSince); len(s.Rooms.Invite) != 0 {
		t.Fatalf("the invite came again in an incremental sync: %+v", s.Rooms.Invite)
	}

	// dave rejects while b has no one in the room: through a.
	dave.must("POST", "/rooms/"+esc(roomID)+"/leave", map[string]string{"reason": "no thanks"}, nil)
	eventually(t, "a sees dave's rejection", func() error {
		if m := memberOf(alice.state(roomID), dave.user); m != "leave" {
			return fmt.Errorf("dave is %q", m)
		}
		return nil
	})
	inc := dave.sync(daveSince)
	if _, ok := inc.Rooms.Leave[roomID]; !ok || len(inc.Rooms.Invite) != 0 {
		t.Fatalf("dave's incremental sync after rejecting: leave %v invite %v", inc.Rooms.Leave, inc.Rooms.Invite)
	}
	if s := dave.sync(""); len(s.Rooms.Invite) != 0 {
		t.Fatalf("the rejected invite is still in an initial sync: %+v", s.Rooms.Invite)
	}
	// bob joins by room ID: through the inviter's server.
	if got := bob.join(roomID); got != roomID {
		t.Fatalf("joined %s", got)
	}
	s := bob.sync("")
	if _, ok := s.Rooms.Invite[roomID]; ok {
		t.Fatalf("the invite is still there after the join")
	}
	if _, ok := s.Rooms.Join[roomID]; !ok {
		t.Fatalf("the joined room is not in /sync")
	}

}
