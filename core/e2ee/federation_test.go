package e2ee

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
)

// TestFederationHooksAndRemote checks the device change hook and the
// application of remote device list changes and to-device messages.
func TestFederationHooksAndRemote(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	type change struct {
		user, device string
		deleted      bool
		pos          uint64
	}
	var changes []change
	e.s.hooks.OnDeviceChange = func(user, device string, deleted bool, keys json.RawMessage, pos uint64) {
		changes = append(changes, change{user, device, deleted, pos})
	}
	if _, err := e.s.UploadKeys(ctx, alice, "A1", Upload{DeviceKeys: deviceKeys(t, alice, "A1", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteDevice(ctx, alice, "A1"); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0] != (change{alice, "A1", false, 1}) || changes[1] != (change{alice, "A1", true, 2}) {
		t.Fatalf("hook calls = %+v", changes)
	}

	// Make the remote user share a room with alice.
	e.s.members = fakeMembers{{alice, "@zed:other"}}
	if err := e.s.RemoteDeviceListChanged(ctx, "@zed:other"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RemoteDeviceListChanged(ctx, bob); err == nil {
		t.Fatal("a local user's device list was changed as a remote one")
	}
	dk := e.s.DeviceKeys()
	changed, _, err := dk.ListChanges(ctx, alice, 2, dk.Position())
	if err != nil || !slices.Equal(changed, []string{"@zed:other"}) {
		t.Fatalf("ListChanges = %v, %v", changed, err)
	}

	msgs := map[string]map[string]json.RawMessage{bob: {"*": json.RawMessage(`{"k":1}`)}, "@x:other": {"X": json.RawMessage(`{}`)}}
	for range 2 { // a retried transaction delivers once
		if err := e.s.DeliverRemoteToDevice(ctx, "@zed:other", "m.room_key", "mid1", msgs); err != nil {
			t.Fatal(err)
		}
	}
	td := e.s.ToDevice()
	got, _, err := td.Messages(ctx, bob, "B1", 0, td.Position(), 0)
	if err != nil || len(got) != 1 || string(got[0]) != `{"sender":"@zed:other","type":"m.room_key","content":{"k":1}}` {
		t.Fatalf("bob's inbox = %s, %v", got, err)
	}
	if err := e.s.DeliverRemoteToDevice(ctx, alice, "m.room_key", "mid2", msgs); err == nil {
		t.Fatal("a local sender was accepted over federation")
	}
}
