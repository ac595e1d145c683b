package federation_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// stateMap is a room's current state as (type, state_key) → event ID.
type stateMap map[[2]string]string

func (c *client) stateMap(roomID string) (stateMap, []clientEvent) {
	c.t.Helper()
	evs := c.state(roomID)
	m := make(stateMap, len(evs))
	for _, ev := range evs {
		m[[2]string{ev.Type, *ev.StateKey}] = ev.EventID
	}
	return m, evs
}

// contentOf returns the content of the state event (typ, key) in evs.
func contentOf(evs []clientEvent, typ, key string) map[string]any {
	for _, ev := range evs {
		if ev.Type == typ && *ev.StateKey == key {
			var c map[string]any
			json.Unmarshal(ev.Content, &c)
			return c
		}
	}
	return nil
}

func (c *client) setState(roomID, typ, key string, content any) string {
	c.t.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	c.must("PUT", "/rooms/"+esc(roomID)+"/state/"+typ+"/"+esc(key), content, &out)
	// origin_server_ts orders conflicting events: keep them apart.
	time.Sleep(5 * time.Millisecond)
	return out.EventID
}

// converge waits until every client's /state of the room is the same map
// and returns it with one client's events.
func converge(t *testing.T, what, roomID string, clients ...*client) (stateMap, []clientEvent) {
	t.Helper()
	var final stateMap
	var evs []clientEvent
	eventually(t, what, func() error {
		first, firstEvs := clients[0].stateMap(roomID)
		for _, c := range clients[1:] {
			m, _ := c.stateMap(roomID)
			for k := range m {
				if _, ok := first[k]; !ok {
					first[k] = ""
				}
			}
			for k, id := range first {
				if m[k] != id {
					return fmt.Errorf("%v is %q for %s, %q for %s", k, id, clients[0].user, m[k], c.user)
				}
			}
		}
		final, evs = first, firstEvs
		return nil
	})
	return final, evs
}

// TestPartitionConflictingState: three servers share a room; the room's
// server and a third are cut off from the second; both sides change the
// same state; after the partition heals every server's state is the same
// and is what state resolution v2 picks: for ordinary state the later
// event, and a power level change on one side beats state changes on the
// other side that relied on the power taken away.
func TestPartitionConflictingState(t *testing.T) {
	a, b, c := startNode(t), startNode(t), startNode(t)
	alice, bob, carol := register(t, a, "alice"), register(t, b, "bob"), register(t, c, "carol")
	roomID := alice.createRoom("split", map[string]any{
		"power_level_content_override": map[string]any{
			"users": map[string]int{alice.user: 100, bob.user: 50},
		},
	})
	bob.join("#split:" + a.name)
	carol.join("#split:" + a.name)
	all := []*client{alice, bob, carol}
	for _, cl := range all {
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
	converge(t, "the joined room's state is the same everywhere", roomID, all...)

	// Round 1: ordinary conflicting state. Both sides set topic and name,
	// with the power to do so; each later event wins.
	cutOff([]*node{a, c}, []*node{b})
	alice.setState(roomID, "m.room.topic", "", map[string]string{"topic": "topic A1"})
	bob.setState(roomID, "m.room.name", "", map[string]string{"name": "name B1"})
	topicB1 := bob.setState(roomID, "m.room.topic", "", map[string]string{"topic": "topic B1"})
	nameA1 := alice.setState(roomID, "m.room.name", "", map[string]string{"name": "name A1"})
	heal(a, b, c)
	st, _ := converge(t, "round 1 converges", roomID, all...)
	if got := st[[2]string{"m.room.topic", ""}]; got != topicB1 {
		t.Fatalf("round 1 topic is %s, want bob's later %s", got, topicB1)
	}
	if got := st[[2]string{"m.room.name", ""}]; got != nameA1 {
		t.Fatalf("round 1 name is %s, want alice's later %s", got, nameA1)
	}

	// Round 2: alice takes bob's power and closes the room while bob,
	// cut off, uses the power he had. Power events resolve first, and
	// bob's changes fail against them everywhere, his own server too.
	cutOff([]*node{a, c}, []*node{b})
	bob.setState(roomID, "m.room.topic", "", map[string]string{"topic": "topic B2"})
	bob.setState(roomID, "m.room.name", "", map[string]string{"name": "name B2"})
	demote := alice.setState(roomID, "m.room.power_levels", "", map[string]any{
		"users":         map[string]int{alice.user: 100},
		"state_default": 50, "events_default": 0, "users_default": 0,
		"ban": 50, "kick": 50, "redact": 50, "invite": 0,
	})
	closed := alice.setState(roomID, "m.room.join_rules", "", map[string]string{"join_rule": "invite"})
	nameA2 := alice.setState(roomID, "m.room.name", "", map[string]string{"name": "name A2"})
	// Later than alice's changes: must not matter.
	bob.setState(roomID, "m.room.topic", "", map[string]string{"topic": "topic B3"})
	heal(a, b, c)
	// a and c soft-fail bob's changes (not authorised by their current
	// state), so they are no forward extremities there: the fork is
	// merged by b's next event, whose prev events are both sides' ends.
	eventually(t, "alice's changes reach b", func() error {
		if m, _ := bob.stateMap(roomID); m[[2]string{"m.room.power_levels", ""}] != demote {
			return fmt.Errorf("b's power levels are %s", m[[2]string{"m.room.power_levels", ""}])
		}
		return nil
	})
	bob.say(roomID, "after the partition")
	st, evs := converge(t, "round 2 converges", roomID, all...)
	want := map[[2]string]string{
		{"m.room.power_levels", ""}: demote,
		{"m.room.join_rules", ""}:   closed,
		{"m.room.name", ""}:         nameA2,
		// Both sides' topics (B1 before the partition, B3 during it) are
		// bob's, and neither passes the resolved power levels: state
		// resolution v2 leaves the room without a topic.
		{"m.room.topic", ""}: "",
	}
	for k, id := range want {
		if st[k] != id {
			t.Errorf("round 2 %v is %q (%v), want %q", k, st[k], contentOf(evs, k[0], k[1]), id)
		}
	}
	for _, u := range []string{alice.user, bob.user, carol.user} {
		if m := memberOf(evs, u); m != "join" {
			t.Errorf("%s is %q after the partition", u, m)
		}
	}
}
