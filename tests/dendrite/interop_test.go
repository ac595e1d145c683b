package dendrite_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var burstMu sync.Mutex

// wait bounds every wait for something to cross from one server to the other.
const wait = 30 * time.Second

// TestDendriteInterop runs one Dendrite v0.13.8 and one hearth on 127.0.0.1:
// a Dendrite user joins a hearth room by alias and a hearth user joins a
// Dendrite room by alias; in both rooms messages go both ways and arrive in
// order on both servers, typing notifications and read receipts cross both
// ways, and both servers end with the same room state.
func TestDendriteInterop(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	dendrite := startDendrite(t, dir)
	hearth := startHearth(t, dir)
	t.Logf("dendrite %s (client %s) and hearth %s (client %s) up in %s",
		dendrite.name, dendrite.client, hearth.name, hearth.client, time.Since(start).Round(time.Millisecond))
	failHook = func(t *testing.T, format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n\n==== hearth log (%s) tail:\n%s\n\n==== dendrite log (%s) tail:\n%s",
			fmt.Sprintf(format, args...), hearth.logPath, hearth.logTail(12000), dendrite.logPath, dendrite.logTail(12000))
	}
	t.Cleanup(func() { failHook = nil })

	hal := register(t, hearth, "hal")
	dan := register(t, dendrite, "dan")
	hal.syncOnce(0)
	dan.syncOnce(0)

	t.Run("DendriteJoinsHearthRoom", func(t *testing.T) {
		hal.t, dan.t = t, t
		roomID := createRoom(hal, "hearthroom")
		alias := "#hearthroom:" + hearth.name
		joinByAlias(dan, alias, roomID)
		exercise(t, hal, dan, roomID)
	})
	if t.Failed() {
		return
	}
	t.Run("HearthJoinsDendriteRoom", func(t *testing.T) {
		hal.t, dan.t = t, t
		roomID := createRoom(dan, "dendriteroom")
		alias := "#dendriteroom:" + dendrite.name
		joinByAlias(hal, alias, roomID)
		exercise(t, dan, hal, roomID)
	})
	if t.Failed() {
		return
	}
	t.Run("InviteToDendriteRoom", func(t *testing.T) {
		hal.t, dan.t = t, t
		invited(t, dan, hal)
	})
	t.Run("InviteToHearthRoom", func(t *testing.T) {
		hal.t, dan.t = t, t
		invited(t, hal, dan)
	})
	t.Logf("whole test after Dendrite was built: %s", time.Since(start).Round(time.Millisecond))
	for _, s := range []*server{hearth, dendrite} {
		var lines []string
		for _, l := range strings.Split(s.logTail(1<<30), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") ||
				strings.Contains(l, "level=error") || (strings.Contains(l, "level=warning") && !strings.Contains(l, "IMPORTANT") &&
				!strings.Contains(l, "Open registration") && !strings.Contains(l, "component=jetstream")) {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			t.Logf("%s logged %d warnings and errors:\n%s", s.label, len(lines), strings.Join(lines, "\n"))
		}
	}
}

// createRoom makes a public room with an alias on the creator's server.
func createRoom(creator *user, aliasName string) string {
	creator.t.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	creator.must("POST", "/createRoom", map[string]any{
		"preset": "public_chat", "room_alias_name": aliasName, "name": "interop " + aliasName,
	}, &out)
	if out.RoomID == "" {
		creator.fail("createRoom on %s: no room_id", creator.srv.label)
	}
	return out.RoomID
}

// joinByAlias joins the room over federation and waits until the joiner's
// server shows the room as joined.
func joinByAlias(joiner *user, alias, wantRoom string) {
	joiner.t.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	t0 := time.Now()
	joiner.must("POST", "/join/"+url.PathEscape(alias), map[string]any{}, &out)
	if out.RoomID != wantRoom {
		joiner.fail("join %s on %s: room_id %q, want %q", alias, joiner.srv.label, out.RoomID, wantRoom)
	}
	joiner.waitSync(wait, "own join of "+wantRoom, func(r syncResponse) bool {
		return hasMember(r, wantRoom, joiner.id)
	})
	joiner.t.Logf("%s joined %s (%s) in %s", joiner.id, alias, wantRoom, time.Since(t0).Round(time.Millisecond))
}

// exercise checks one room shared by a resident (the room's creator, on the
// server that holds the alias) and a joiner from the other server.
func exercise(t *testing.T, resident, joiner *user, roomID string) {
	t.Helper()
	// The resident's server sees the remote join.
	resident.waitSync(wait, joiner.id+"'s join", func(r syncResponse) bool {
		return hasMember(r, roomID, joiner.id)
	})

	// Messages both ways, each waited for on the other side before the next.
	var sent []string // event IDs in sending order
	var bodies []string
	for i := range 4 {
		from, to := resident, joiner
		if i%2 == 1 {
			from, to = joiner, resident
		}
		body := fmt.Sprintf("message %d from %s", i+1, from.id)
		var out struct {
			EventID string `json:"event_id"`
		}
		from.must("PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/txn%d-%d", url.PathEscape(roomID), time.Now().UnixNano(), i),
			map[string]any{"msgtype": "m.text", "body": body}, &out)
		to.waitSync(wait, fmt.Sprintf("message %q (%s)", body, out.EventID), func(r syncResponse) bool {
			for _, e := range r.Rooms.Join[roomID].Timeline.Events {
				if e.EventID == out.EventID {
					return true
				}
			}
			return false
		})
		sent = append(sent, out.EventID)
		bodies = append(bodies, body)
	}
	for _, u := range []*user{resident, joiner} {
		got := messages(u, roomID)
		if !slices.Equal(got, sent) {
			u.fail("messages on %s: %v, want %v (%v)", u.srv.label, got, sent, bodies)
		}
	}

	// A burst from both sides at once: the DAG forks and must merge; every
	// server shows all of them with each sender's own order kept.
	burst := map[string][]string{} // sender -> event IDs in sending order
	done := make(chan error, 2)
	for _, u := range []*user{resident, joiner} {
		go func() {
			for i := range 5 {
				status, b, err := u.do("PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/burst%d-%d", url.PathEscape(roomID), time.Now().UnixNano(), i),
					map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("burst %d from %s", i, u.id)})
				if err != nil || status != 200 {
					done <- fmt.Errorf("burst send on %s: %v %d %s", u.srv.label, err, status, b)
					return
				}
				var out struct {
					EventID string `json:"event_id"`
				}
				_ = json.Unmarshal(b, &out)
				burstMu.Lock()
				burst[u.id] = append(burst[u.id], out.EventID)
				burstMu.Unlock()
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			resident.fail("%v", err)
		}
	}
	// One more message from each side after the burst merges the forks.
	for _, from := range []*user{resident, joiner} {
		var out struct {
			EventID string `json:"event_id"`
		}
		from.must("PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/after%d", url.PathEscape(roomID), time.Now().UnixNano()),
			map[string]any{"msgtype": "m.text", "body": "after the burst from " + from.id}, &out)
		burst[from.id] = append(burst[from.id], out.EventID)
		for _, to := range []*user{resident, joiner} {
			to.waitSync(wait, "message after the burst "+out.EventID, func(r syncResponse) bool {
				return slices.ContainsFunc(r.Rooms.Join[roomID].Timeline.Events, func(e clientEvent) bool { return e.EventID == out.EventID })
			})
		}
	}
	for _, u := range []*user{resident, joiner} {
		got := messages(u, roomID)
		if len(got) != len(sent)+12 {
			u.fail("messages on %s after the burst: %d events %v, want %d", u.srv.label, len(got), got, len(sent)+12)
		}
		for sender, ids := range burst {
			var seen []string
			for _, id := range got {
				if slices.Contains(ids, id) {
					seen = append(seen, id)
				}
			}
			if !slices.Equal(seen, ids) {
				u.fail("messages on %s: %s's burst in order %v, want %v (all: %v)", u.srv.label, sender, seen, ids, got)
			}
		}
	}

	// A state change by the resident reaches the joiner.
	topic := "topic set on " + resident.srv.label
	resident.must("PUT", fmt.Sprintf("/rooms/%s/state/m.room.topic/", url.PathEscape(roomID)), map[string]any{"topic": topic}, nil)
	joiner.waitSync(wait, "the new topic", func(r syncResponse) bool {
		jr := r.Rooms.Join[roomID]
		for _, e := range append(jr.State.Events, jr.Timeline.Events...) {
			if e.Type == "m.room.topic" && strings.Contains(string(e.Content), topic) {
				return true
			}
		}
		return false
	})

	// Typing both ways.
	for _, p := range [][2]*user{{resident, joiner}, {joiner, resident}} {
		from, to := p[0], p[1]
		from.must("PUT", fmt.Sprintf("/rooms/%s/typing/%s", url.PathEscape(roomID), url.PathEscape(from.id)),
			map[string]any{"typing": true, "timeout": 30000}, nil)
		to.waitSync(wait, from.id+" typing", func(r syncResponse) bool {
			for _, e := range r.Rooms.Join[roomID].Ephemeral.Events {
				if e.Type != "m.typing" {
					continue
				}
				var c struct {
					UserIDs []string `json:"user_ids"`
				}
				_ = json.Unmarshal(e.Content, &c)
				if slices.Contains(c.UserIDs, from.id) {
					return true
				}
			}
			return false
		})
		from.must("PUT", fmt.Sprintf("/rooms/%s/typing/%s", url.PathEscape(roomID), url.PathEscape(from.id)),
			map[string]any{"typing": false}, nil)
	}

	// Read receipts both ways, each on the other side's last message.
	for _, p := range []struct {
		from, to *user
		event    string
	}{{resident, joiner, sent[3]}, {joiner, resident, sent[2]}} {
		p.from.must("POST", fmt.Sprintf("/rooms/%s/receipt/m.read/%s", url.PathEscape(roomID), url.PathEscape(p.event)),
			map[string]any{}, nil)
		p.to.waitSync(wait, fmt.Sprintf("%s's read receipt on %s", p.from.id, p.event), func(r syncResponse) bool {
			for _, e := range r.Rooms.Join[roomID].Ephemeral.Events {
				if e.Type != "m.receipt" {
					continue
				}
				var c map[string]map[string]map[string]json.RawMessage
				_ = json.Unmarshal(e.Content, &c)
				if _, ok := c[p.event]["m.read"][p.from.id]; ok {
					return true
				}
			}
			return false
		})
	}

	// The same room state on both servers.
	sameState(t, resident, joiner, roomID)
}

// sameState waits (bounded) until GET /rooms/{id}/state is the same set of
// (type, state_key, event_id) for both users.
func sameState(t *testing.T, a, b *user, roomID string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		sa, sb := roomState(a, roomID), roomState(b, roomID)
		if slices.Equal(sa, sb) {
			t.Logf("room %s: %d state events identical on both servers", roomID, len(sa))
			return
		}
		if time.Now().After(deadline) {
			a.fail("room %s state differs:\n%s (%s) only:\n  %s\n%s (%s) only:\n  %s", roomID,
				a.srv.label, a.srv.name, strings.Join(minus(sa, sb), "\n  "),
				b.srv.label, b.srv.name, strings.Join(minus(sb, sa), "\n  "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func hasMember(r syncResponse, roomID, userID string) bool {
	jr, ok := r.Rooms.Join[roomID]
	if !ok {
		return false
	}
	for _, e := range append(jr.State.Events, jr.Timeline.Events...) {
		if e.Type != "m.room.member" || e.StateKey == nil || *e.StateKey != userID {
			continue
		}
		var c struct {
			Membership string `json:"membership"`
		}
		_ = json.Unmarshal(e.Content, &c)
		if c.Membership == "join" {
			return true
		}
	}
	return false
}

// messages returns the IDs of the room's m.room.message events, oldest
// first, from /messages paged backwards from the end.
func messages(u *user, roomID string) []string {
	u.t.Helper()
	type page struct {
		Chunk []clientEvent `json:"chunk"`
		End   string        `json:"end"`
	}
	var rev []string
	u.syncOnce(0) // a token after everything sent so far
	from := u.since
	for range 20 {
		path := fmt.Sprintf("/rooms/%s/messages?dir=b&limit=50", url.PathEscape(roomID))
		if from != "" {
			path += "&from=" + url.QueryEscape(from)
		}
		var p page
		u.must("GET", path, nil, &p)
		for _, e := range p.Chunk {
			if e.Type == "m.room.message" {
				rev = append(rev, e.EventID)
			}
		}
		if len(p.Chunk) == 0 || p.End == "" || p.End == from {
			break
		}
		from = p.End
	}
	slices.Reverse(rev)
	return rev
}

// roomState is the room's current state as sorted "type|state_key|event_id".
func roomState(u *user, roomID string) []string {
	u.t.Helper()
	var evs []clientEvent
	u.must("GET", fmt.Sprintf("/rooms/%s/state", url.PathEscape(roomID)), nil, &evs)
	var out []string
	for _, e := range evs {
		sk := "<nil>"
		if e.StateKey != nil {
			sk = *e.StateKey
		}
		out = append(out, e.Type+"|"+sk+"|"+e.EventID)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// invited checks a private room on the inviter's server: the invite crosses
// to the other server, the invitee joins by room ID, a message goes each
// way, the room state is the same on both, and then the invitee leaves and
// both servers see it.
func invited(t *testing.T, inviter, invitee *user) {
	t.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	inviter.must("POST", "/createRoom", map[string]any{
		"preset": "private_chat", "name": "private on " + inviter.srv.label, "invite": []string{invitee.id},
	}, &out)
	roomID := out.RoomID
	invitee.waitSync(wait, "the invite to "+roomID, func(r syncResponse) bool {
		_, ok := r.Rooms.Invite[roomID]
		return ok
	})
	invitee.must("POST", "/rooms/"+url.PathEscape(roomID)+"/join", map[string]any{}, nil)
	invitee.waitSync(wait, "own join of "+roomID, func(r syncResponse) bool { return hasMember(r, roomID, invitee.id) })
	inviter.waitSync(wait, invitee.id+"'s join", func(r syncResponse) bool { return hasMember(r, roomID, invitee.id) })
	for _, p := range [][2]*user{{inviter, invitee}, {invitee, inviter}} {
		from, to := p[0], p[1]
		var ev struct {
			EventID string `json:"event_id"`
		}
		from.must("PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/inv%d", url.PathEscape(roomID), time.Now().UnixNano()),
			map[string]any{"msgtype": "m.text", "body": "private hello from " + from.id}, &ev)
		to.waitSync(wait, "private message "+ev.EventID, func(r syncResponse) bool {
			return slices.ContainsFunc(r.Rooms.Join[roomID].Timeline.Events, func(e clientEvent) bool { return e.EventID == ev.EventID })
		})
	}
	sameState(t, inviter, invitee, roomID)

	invitee.must("POST", "/rooms/"+url.PathEscape(roomID)+"/leave", map[string]any{}, nil)
	invitee.waitSync(wait, "own leave of "+roomID, func(r syncResponse) bool {
		_, ok := r.Rooms.Leave[roomID]
		return ok
	})
	inviter.waitSync(wait, invitee.id+"'s leave", func(r syncResponse) bool {
		for _, e := range r.Rooms.Join[roomID].Timeline.Events {
			if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == invitee.id &&
				strings.Contains(string(e.Content), `"leave"`) {
				return true
			}
		}
		return false
	})
}
