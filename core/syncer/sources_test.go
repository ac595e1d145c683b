package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
)

// fakeAccountData is an in-memory AccountData: each put is one position.
type fakeAccountData struct {
	mu  sync.Mutex
	pos uint64
	log []adEntry
}

type adEntry struct {
	pos                uint64
	user, room, typ, c string
}

func (f *fakeAccountData) put(user, roomID, typ, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pos++
	f.log = append(f.log, adEntry{f.pos, user, roomID, typ, content})
}

func (f *fakeAccountData) Position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos
}

func (f *fakeAccountData) Changes(_ context.Context, userID string, from, to uint64) (map[string]json.RawMessage, map[string]map[string]json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	global, rooms := map[string]json.RawMessage{}, map[string]map[string]json.RawMessage{}
	for _, e := range f.log {
		if e.user != userID || e.pos <= from || e.pos > to {
			continue
		}
		if e.room == "" {
			global[e.typ] = json.RawMessage(e.c)
			continue
		}
		if rooms[e.room] == nil {
			rooms[e.room] = map[string]json.RawMessage{}
		}
		rooms[e.room][e.typ] = json.RawMessage(e.c)
	}
	return global, rooms, nil
}

// fakeToDevice holds numbered messages for one device.
type fakeToDevice struct{ msgs []json.RawMessage }

func (f *fakeToDevice) Position() uint64 { return uint64(len(f.msgs)) }

func (f *fakeToDevice) Messages(_ context.Context, _, _ string, from, to uint64, limit int) ([]json.RawMessage, uint64, error) {
	last := min(to, from+uint64(limit))
	return f.msgs[from:last], last, nil
}

type fakeDeviceKeys struct {
	pos           uint64
	changed, left []string
}

func (f *fakeDeviceKeys) Position() uint64 { return f.pos }

func (f *fakeDeviceKeys) ListChanges(_ context.Context, _ string, from, to uint64) ([]string, []string, error) {
	return f.changed, f.left, nil
}

func (f *fakeDeviceKeys) OneTimeKeyCounts(context.Context, string, string) (map[string]int, error) {
	return map[string]int{"signed_curve25519": 3}, nil
}

func (f *fakeDeviceKeys) UnusedFallbackKeyTypes(context.Context, string, string) ([]string, error) {
	return nil, nil
}

type fakeReceipts struct {
	pos   uint64
	rooms map[string]json.RawMessage
	asked []string
}

func (f *fakeReceipts) Position() uint64 { return f.pos }

func (f *fakeReceipts) Changes(_ context.Context, _ string, roomIDs []string, from, to uint64) (map[string]json.RawMessage, error) {
	f.asked = roomIDs
	return f.rooms, nil
}

type fakeTyping struct {
	pos      uint64
	typers   map[string][]string
	lastFrom uint64
}

func (f *fakeTyping) Position() uint64 { return f.pos }

func (f *fakeTyping) Changes(_ context.Context, _ []string, from, to uint64) (map[string][]string, error) {
	f.lastFrom = from
	return f.typers, nil
}

type fakePresence struct {
	pos    uint64
	events []json.RawMessage
	set    []string
}

func (f *fakePresence) Position() uint64 { return f.pos }

func (f *fakePresence) Changes(context.Context, string, uint64, uint64) ([]json.RawMessage, error) {
	return f.events, nil
}

func (f *fakePresence) Active(_ context.Context, userID string) error {
	f.set = append(f.set, userID)
	return nil
}

type fakeUnread struct{}

func (fakeUnread) Counts(context.Context, string, string) (int, int, error) { return 4, 1, nil }

func TestSources(t *testing.T) {
	ad := &fakeAccountData{}
	td := &fakeToDevice{}
	for range 150 {
		td.msgs = append(td.msgs, json.RawMessage(`{"sender":"@x:hs.test","type":"m.dummy","content":{}}`))
	}
	dk := &fakeDeviceKeys{pos: 2, changed: []string{carol}, left: []string{dave}}
	rc := &fakeReceipts{pos: 5}
	ty := &fakeTyping{pos: 3}
	pr := &fakePresence{pos: 9, events: []json.RawMessage{
		json.RawMessage(`{"type":"m.presence","sender":"@carol:hs.test","content":{"presence":"online"}}`),
		json.RawMessage(`{"type":"m.presence","sender":"@dave:hs.test","content":{"presence":"offline"}}`),
	}}
	e := newEnv(t, func(c *Config) {
		c.AccountData, c.ToDevice, c.DeviceKeys, c.Receipts, c.Typing, c.Presence, c.Unread = ad, td, dk, rc, ty, pr, fakeUnread{}
	})
	roomID := e.createRoom(t, alice, "Tea")
	quiet := e.createRoom(t, alice, "Quiet")
	ad.put(alice, "", "m.direct", `{}`)
	ad.put(alice, roomID, "m.tag", `{"tags":{}}`)
	ad.put(bob, "", "not.alices", `{}`)
	rc.rooms = map[string]json.RawMessage{roomID: json.RawMessage(`{"$e":{"m.read":{"@bob:hs.test":{"ts":1}}}}`)}
	ty.typers = map[string][]string{roomID: {bob}}

	e.do(t, Request{UserID: alice, SetPresence: "offline"})
	if len(pr.set) != 0 {
		t.Fatalf("set_presence=offline marked %v active", pr.set)
	}
	resp := e.do(t, Request{UserID: alice, DeviceID: "DEV"})
	if !slices.Equal(pr.set, []string{alice}) {
		t.Fatalf("marked active: %v", pr.set)
	}
	if got := keys(t, resp.AccountData.Events); !slices.Equal(got, []string{"m.direct"}) {
		t.Fatalf("global account data = %v", got)
	}
	jr := resp.Rooms.Join[roomID]
	if got := keys(t, jr.AccountData.Events); !slices.Equal(got, []string{"m.tag"}) {
		t.Fatalf("room account data = %v", got)
	}
	if got := keys(t, jr.Ephemeral.Events); !slices.Equal(got, []string{"m.typing", "m.receipt"}) {
		t.Fatalf("ephemeral = %v", got)
	}
	if u := jr.UnreadNotifications; u == nil || u.NotificationCount != 4 || u.HighlightCount != 1 {
		t.Fatalf("unread = %+v", u)
	}
	if len(resp.Presence.Events) != 2 {
		t.Fatalf("presence = %v", resp.Presence.Events)
	}
	if len(resp.ToDevice.Events) != maxToDevice {
		t.Fatalf("%d to-device messages, want %d", len(resp.ToDevice.Events), maxToDevice)
	}
	if len(resp.DeviceLists.Changed) != 0 || resp.OneTimeKeysCount["signed_curve25519"] != 3 || resp.UnusedFallbackKeyTypes == nil {
		t.Fatalf("initial device lists %+v, counts %v, fallback %v", resp.DeviceLists, resp.OneTimeKeysCount, resp.UnusedFallbackKeyTypes)
	}
	tok := since(t, resp)
	want := Token{Rooms: tok.Rooms, AccountData: 3, ToDevice: maxToDevice, DeviceKeys: 2, Receipts: 5, Typing: 3, Presence: 9}
	if *tok != want {
		t.Fatalf("next_batch = %+v, want %+v", *tok, want)
	}
	if !slices.Contains(rc.asked, quiet) {
		t.Fatalf("receipts asked for %v, not every joined room", rc.asked)
	}

	// Incremental: the rest of the to-device messages, then new news only.
	rc.rooms, ty.typers, pr.events = nil, nil, nil
	resp = e.do(t, Request{UserID: alice, DeviceID: "DEV", Since: tok})
	if len(resp.ToDevice.Events) != 50 || since(t, resp).ToDevice != 150 {
		t.Fatalf("second batch of to-device: %d messages, next %s", len(resp.ToDevice.Events), resp.NextBatch)
	}
	if len(resp.AccountData.Events) != 0 || len(resp.Rooms.Join) != 0 {
		t.Fatalf("unchanged account data or rooms sent again: %+v", resp)
	}
	tok = since(t, resp)
	dk.pos = 3
	rc.pos = 6
	rc.rooms = map[string]json.RawMessage{quiet: json.RawMessage(`{}`)}
	resp = e.do(t, Request{UserID: alice, DeviceID: "DEV", Since: tok})
	if !slices.Equal(resp.DeviceLists.Changed, []string{carol}) || !slices.Equal(resp.DeviceLists.Left, []string{dave}) {
		t.Fatalf("device lists = %+v", resp.DeviceLists)
	}
	if jr := resp.Rooms.Join[quiet]; jr == nil || len(jr.Ephemeral.Events) != 1 || len(jr.Timeline.Events) != 0 {
		t.Fatalf("a receipt in the quiet room: %+v", resp.Rooms.Join)
	}

	// The typing stream restarted: a token beyond it asks for everything.
	ty.pos = 1
	e.do(t, Request{UserID: alice, Since: tok})
	if ty.lastFrom != 0 {
		t.Fatalf("typing asked from %d after a restart, want 0", ty.lastFrom)
	}
}

func TestFilterSections(t *testing.T) {
	ad := &fakeAccountData{}
	ty := &fakeTyping{pos: 1}
	e := newEnv(t, func(c *Config) { c.AccountData, c.Typing = ad, ty })
	a := e.createRoom(t, alice, "A")
	b := e.createRoom(t, alice, "B")
	ad.put(alice, "", "m.direct", `{}`)
	ad.put(alice, "", "im.vector.setting", `{}`)
	ty.typers = map[string][]string{a: {alice}, b: {alice}}
	e.message(t, a, alice, "x")

	tests := []struct {
		name   string
		filter string
		check  func(t *testing.T, r *Response)
	}{
		{"rooms", `{"room":{"rooms":["` + b + `"]}}`, func(t *testing.T, r *Response) {
			if len(r.Rooms.Join) != 1 || r.Rooms.Join[b] == nil {
				t.Fatalf("rooms = %v", r.Rooms.Join)
			}
		}},
		{"not_rooms", `{"room":{"not_rooms":["` + b + `"]}}`, func(t *testing.T, r *Response) {
			if len(r.Rooms.Join) != 1 || r.Rooms.Join[a] == nil {
				t.Fatalf("rooms = %v", r.Rooms.Join)
			}
		}},
		{"timeline limit", `{"room":{"timeline":{"limit":2}}}`, func(t *testing.T, r *Response) {
			if tl := r.Rooms.Join[a].Timeline; len(tl.Events) != 2 || !tl.Limited {
				t.Fatalf("timeline = %d events, limited %v", len(tl.Events), tl.Limited)
			}
		}},
		{"timeline types", `{"room":{"timeline":{"types":["m.room.message"]}}}`, func(t *testing.T, r *Response) {
			got := keys(t, r.Rooms.Join[a].Timeline.Events)
			if !slices.Equal(got, []string{"m.room.message"}) {
				t.Fatalf("timeline = %v", got)
			}
			// State left out of the timeline shows up as state.
			if !slices.Contains(keys(t, r.Rooms.Join[a].State.Events), "m.room.create|") {
				t.Fatal("state missing when the timeline filters it out")
			}
		}},
		{"timeline not_types", `{"room":{"timeline":{"not_types":["m.room.*"]}}}`, func(t *testing.T, r *Response) {
			if got := r.Rooms.Join[a].Timeline.Events; len(got) != 0 {
				t.Fatalf("timeline = %v", keys(t, got))
			}
		}},
		{"state types", `{"room":{"state":{"types":["m.room.name"]},"timeline":{"limit":1}}}`, func(t *testing.T, r *Response) {
			if got := keys(t, r.Rooms.Join[a].State.Events); !slices.Equal(got, []string{"m.room.name|"}) {
				t.Fatalf("state = %v", got)
			}
		}},
		{"account data", `{"account_data":{"not_types":["im.vector.*"]}}`, func(t *testing.T, r *Response) {
			if got := keys(t, r.AccountData.Events); !slices.Equal(got, []string{"m.direct"}) {
				t.Fatalf("account data = %v", got)
			}
		}},
		{"ephemeral", `{"room":{"ephemeral":{"not_types":["m.typing"]}}}`, func(t *testing.T, r *Response) {
			if got := r.Rooms.Join[a].Ephemeral.Events; len(got) != 0 {
				t.Fatalf("ephemeral = %v", keys(t, got))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, e.do(t, Request{UserID: alice, Filter: mustFilter(t, tc.filter)}))
		})
	}
}

func TestDeviceListsOfNewRoomMates(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DeviceKeys = &fakeDeviceKeys{} })
	roomID := e.createRoom(t, alice, "Tea")
	e.member(t, roomID, carol, carol, "join")
	tok := since(t, e.do(t, Request{UserID: bob}))
	e.member(t, roomID, bob, bob, "join")
	resp := e.do(t, Request{UserID: bob, Since: tok})
	if !slices.Equal(resp.DeviceLists.Changed, []string{alice, carol}) {
		t.Fatalf("bob joined a room: device_lists.changed = %v", resp.DeviceLists.Changed)
	}
}

func TestDeviceListsOfJoiningUsers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DeviceKeys = &fakeDeviceKeys{} })
	roomID := e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice}))
	e.member(t, roomID, carol, carol, "join")
	e.message(t, roomID, carol, "hi")
	if got := e.do(t, Request{UserID: alice, Since: tok}).DeviceLists.Changed; !slices.Equal(got, []string{carol}) {
		t.Fatalf("carol joined: device_lists.changed = %v", got)
	}
	// In the gap of a limited timeline too.
	tok = since(t, e.do(t, Request{UserID: alice}))
	e.member(t, roomID, dave, dave, "join")
	e.message(t, roomID, dave, "hi")
	lim := mustFilter(t, `{"room":{"timeline":{"limit":1}}}`)
	if got := e.do(t, Request{UserID: alice, Since: tok, Filter: lim}).DeviceLists.Changed; !slices.Equal(got, []string{dave}) {
		t.Fatalf("dave joined in the gap: device_lists.changed = %v", got)
	}
}

func TestDeviceListsNotFloodedByFullState(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DeviceKeys = &fakeDeviceKeys{} })
	roomID := e.createRoom(t, alice, "Tea")
	e.member(t, roomID, carol, carol, "join")
	tok := since(t, e.do(t, Request{UserID: alice}))
	if got := e.do(t, Request{UserID: alice, Since: tok, FullState: true}).DeviceLists.Changed; len(got) != 0 {
		t.Fatalf("full_state sync with no joins: device_lists.changed = %v", got)
	}
}

// readableAccountData adds Get to the fake.
type readableAccountData struct{ fakeAccountData }

func (f *readableAccountData) Get(_ context.Context, userID, roomID, typ string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.log) - 1; i >= 0; i-- {
		if e := f.log[i]; e.user == userID && e.room == roomID && e.typ == typ {
			return json.RawMessage(e.c), nil
		}
	}
	return nil, errors.New("not found")
}

func TestIgnoredUsers(t *testing.T) {
	ad := &readableAccountData{}
	e := newEnv(t, func(c *Config) { c.AccountData = ad })
	roomID := e.createRoom(t, alice, "Tea")
	e.member(t, roomID, bob, bob, "join")
	spam := e.message(t, roomID, bob, "spam")
	fine := e.message(t, roomID, alice, "fine")
	other := e.createRoom(t, bob, "Bob's")
	e.member(t, other, bob, alice, "invite")
	ad.put(alice, "", "m.ignored_user_list", `{"ignored_users":{"@bob:hs.test":{}}}`)

	resp := e.do(t, Request{UserID: alice})
	tl := ids(t, resp.Rooms.Join[roomID].Timeline.Events)
	if slices.Contains(tl, spam.ID()) || !slices.Contains(tl, fine.ID()) {
		t.Fatalf("timeline with bob ignored = %v", tl)
	}
	if len(resp.Rooms.Invite) != 0 {
		t.Fatalf("invite from an ignored user: %v", resp.Rooms.Invite)
	}
	// State from ignored users still counts: bob's join is there.
	if !slices.Contains(keys(t, resp.Rooms.Join[roomID].State.Events), "m.room.member|"+bob) && !slices.Contains(keys(t, resp.Rooms.Join[roomID].Timeline.Events), "m.room.member|"+bob) {
		t.Fatal("bob's membership hidden")
	}
}
