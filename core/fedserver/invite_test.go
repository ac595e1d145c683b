package fedserver

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/internal/apitest"
	"hearth/core/roomversion"
)

func TestRemoteInvite(t *testing.T) {
	ctx := context.Background()
	var woken []string
	e := newEnv(t, func(c *Config) { c.OnInvite = func(u string) { woken = append(woken, u) } })
	remote := e.client("remote.test")
	v := roomversion.MustLookup("10")
	alice, roomID := "@alice:hs.test", "!elsewhere:remote.test"
	build := func(sender, invitee, server string) *event.PDU {
		t.Helper()
		pdu, err := event.Build(event.Builder{RoomID: roomID, Sender: sender, Type: "m.room.member", StateKey: &invitee,
			Content: json.RawMessage(`{"membership":"invite"}`), PrevEvents: []string{"$p"}, AuthEvents: []string{"$a"}, Depth: 5,
			OriginServerTS: apitest.Epoch.UnixMilli()}, v, server, e.keys[server], nil)
		if err != nil {
			t.Fatal(err)
		}
		return pdu
	}
	inv := build("@bob:remote.test", alice, "remote.test")
	stripped := []json.RawMessage{json.RawMessage(`{"type":"m.room.name","state_key":"","sender":"@bob:remote.test","content":{"name":"Elsewhere"}}`)}
	raw, err := remote.Invite(ctx, testServer, roomID, inv.ID(), fedclient.InviteRequest{RoomVersion: "10", Event: inv.JSON(), InviteRoomState: stripped})
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	signed, err := event.Parse(raw, v)
	if err != nil || signed.ID() != inv.ID() {
		t.Fatalf("countersigned invite: %v", err)
	}
	if err := event.VerifySignatures(signed, e.keys); err != nil {
		t.Fatalf("countersigned invite does not verify: %v", err)
	}
	if !slices.Equal(woken, []string{alice}) {
		t.Fatalf("OnInvite woke %v", woken)
	}
	invites, err := e.h.RemoteInvites(ctx, alice, 0, ^uint64(0))
	if err != nil || len(invites) != 1 || invites[0].RoomID != roomID || invites[0].Inviter != "@bob:remote.test" || len(invites[0].StrippedState) != 1 {
		t.Fatalf("remote invites: %+v %v", invites, err)
	}

	forged := build("@bob:remote.test", alice, "remote.test")
	var obj map[string]any
	json.Unmarshal(forged.JSON(), &obj)
	obj["content"] = map[string]any{"membership": "invite", "tampered": true}
	obj["signatures"] = map[string]any{"remote.test": map[string]string{"ed25519:t": "AAAA"}}
	forgedRaw, _ := json.Marshal(obj)
	forgedPDU, _ := event.Parse(forgedRaw, v)
	for _, c := range []struct {
		name string
		id   string
		req  fedclient.InviteRequest
		code string
	}{
		{"unknown room version", inv.ID(), fedclient.InviteRequest{RoomVersion: "999", Event: inv.JSON()}, "M_INCOMPATIBLE_ROOM_VERSION"},
		{"wrong event ID", "$other", fedclient.InviteRequest{RoomVersion: "10", Event: inv.JSON()}, "M_BAD_JSON"},
		{"invitee elsewhere", "", fedclient.InviteRequest{RoomVersion: "10", Event: build("@bob:remote.test", "@carol:third.test", "remote.test").JSON()}, "M_BAD_JSON"},
		{"bad signature", forgedPDU.ID(), fedclient.InviteRequest{RoomVersion: "10", Event: forgedRaw}, "M_FORBIDDEN"},
	} {
		id := c.id
		if id == "" {
			ev, _ := event.Parse(c.req.Event, v)
			id = ev.ID()
		}
		if _, err := remote.Invite(ctx, testServer, roomID, id, c.req); fedclient.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// An invite from a user of another server than the requester's.
	third := e.client("third.test")
	if _, err := third.Invite(ctx, testServer, roomID, inv.ID(), fedclient.InviteRequest{RoomVersion: "10", Event: inv.JSON()}); fedclient.StatusOf(err) != 403 {
		t.Errorf("invite relayed by another server: %v, want 403", err)
	}
}
