package syncer

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// fakeInvites is a RemoteInvites source: invites by position.
type fakeInvites struct {
	mu   sync.Mutex
	pos  uint64
	invs map[uint64]RemoteInvite
}

func (f *fakeInvites) Position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos
}

func (f *fakeInvites) RemoteInvites(_ context.Context, userID string, from, to uint64) ([]RemoteInvite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []RemoteInvite
	for p := from + 1; p <= to; p++ {
		if inv, ok := f.invs[p]; ok && (from > 0 || inv.Left == nil) {
			out = append(out, inv)
		}
	}
	return out, nil
}

func (f *fakeInvites) add(inv RemoteInvite) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pos++
	f.invs[f.pos] = inv
}

// TestRemoteInvites: an invite to a room of another server shows in the
// initial sync and in the first incremental sync after it arrives, with the
// stripped state then the invite; not again; a rejected one goes into the
// leave section of incremental syncs; an ignored inviter's invite is hidden.
func TestRemoteInvites(t *testing.T) {
	src := &fakeInvites{invs: map[uint64]RemoteInvite{}}
	e := newEnv(t, func(c *Config) { c.RemoteInvites = src })
	stripped := json.RawMessage(`{"type":"m.room.name","state_key":"","sender":"@x:other","content":{"name":"R"}}`)
	inviteEv := json.RawMessage(`{"type":"m.room.member","state_key":"@alice:hs.test","sender":"@x:other","content":{"membership":"invite"},"event_id":"$i"}`)
	src.add(RemoteInvite{RoomID: "!r:other", Inviter: "@x:other", Event: inviteEv, StrippedState: []json.RawMessage{stripped}})

	first := e.do(t, Request{UserID: alice})
	inv := first.Rooms.Invite["!r:other"]
	if inv == nil || len(inv.InviteState.Events) != 2 || string(inv.InviteState.Events[1]) != string(inviteEv) {
		t.Fatalf("initial sync invites: %+v", first.Rooms.Invite)
	}
	tok := since(t, first)
	if tok.RemoteInvites != 1 {
		t.Fatalf("token %+v", tok)
	}
	again := e.do(t, Request{UserID: alice, Since: tok})
	if len(again.Rooms.Invite) != 0 {
		t.Fatalf("the invite came again: %+v", again.Rooms.Invite)
	}
	// A long-polling sync returns when the invite stream moves and the
	// user is woken.
	done := make(chan *Response)
	go func() {
		done <- e.do(t, Request{UserID: alice, Since: tok, Timeout: 10 * time.Second})
	}()
	time.Sleep(50 * time.Millisecond)
	src.add(RemoteInvite{RoomID: "!s:other", Inviter: "@y:other", Event: inviteEv})
	e.notify.Wake(alice)
	resp := <-done
	if len(resp.Rooms.Invite) != 1 || resp.Rooms.Invite["!s:other"] == nil {
		t.Fatalf("incremental invites: %+v", resp.Rooms.Invite)
	}
	tok = since(t, resp)

	leave := json.RawMessage(`{"type":"m.room.member","state_key":"@alice:hs.test","sender":"@alice:hs.test","content":{"membership":"leave"},"event_id":"$l"}`)
	src.add(RemoteInvite{RoomID: "!s:other", Inviter: "@y:other", Left: leave})
	resp = e.do(t, Request{UserID: alice, Since: tok})
	if l := resp.Rooms.Leave["!s:other"]; l == nil || len(l.Timeline.Events) != 1 || len(resp.Rooms.Invite) != 0 {
		t.Fatalf("rejected invite: leave %+v invite %+v", resp.Rooms.Leave, resp.Rooms.Invite)
	}
	if full := e.do(t, Request{UserID: alice}); len(full.Rooms.Leave) != 0 {
		t.Fatalf("an initial sync shows a rejected remote invite: %+v", full.Rooms.Leave)
	}
}
