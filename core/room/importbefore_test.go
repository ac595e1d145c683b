package room

import (
	"context"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// TestStateBeforeImportedJoin: the state before a join imported with its
// room's state (whose prev events are outliers) is the imported state, so
// that sync can show the room from the join on.
func TestStateBeforeImportedJoin(t *testing.T) {
	ctx := context.Background()
	v := roomversion.MustLookup("10")
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	b := newServer(t, "b.test", 2, ring)
	evs := createPublicRoom(t, a, v, "@alice:a.test")
	roomID := evs[0].RoomID()
	fx, _ := a.dag.Extremities(ctx, roomID)
	cur, _ := a.dag.CurrentState(ctx, roomID)
	stateEvs, _ := a.dag.StateEvents(ctx, cur)
	var state []*event.PDU
	var auths []string
	for k, ev := range stateEvs {
		state = append(state, ev)
		if k.Type != "m.room.member" && k.Type != "m.room.history_visibility" {
			auths = append(auths, ev.ID())
		}
	}
	join := buildOn(t, b, v, roomID, Proto{Sender: "@bob:b.test", Type: "m.room.member", StateKey: strp("@bob:b.test"),
		Content: content(t, map[string]any{"membership": "join"})}, fx, auths, int64(len(evs)+1))
	if res, err := b.dag.Import(ctx, join, state, nil); err != nil || res.Outcome != Accepted {
		t.Fatalf("Import(join) = %v (%v), %v", res.Outcome, res.Reason, err)
	}
	before, err := b.dag.StateBefore(ctx, join.ID())
	if err != nil {
		t.Fatalf("StateBefore(imported join): %v", err)
	}
	if len(before) != len(cur) {
		t.Fatalf("state before the join has %d entries, want %d", len(before), len(cur))
	}
	for k, id := range cur {
		if before[k] != id {
			t.Fatalf("state before the join has %s = %s, want %s", k, before[k], id)
		}
	}
}
