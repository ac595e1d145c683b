package homeserver

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/roomversion"
)

// blockingMembers answers JoinedLocalMembers once release is closed, and
// counts the calls.
type blockingMembers struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (m *blockingMembers) JoinedLocalMembers(ctx context.Context, roomID string) ([]string, error) {
	<-m.release
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	return []string{"@member:a.test"}, nil
}

func testPDU(t *testing.T, roomID, typ string, stateKey *string) *event.PDU {
	t.Helper()
	obj := map[string]any{"room_id": roomID, "type": typ, "sender": "@s:a.test", "content": map[string]any{"membership": "invite"},
		"origin_server_ts": 1, "depth": 1, "hashes": map[string]string{"sha256": "x"}, "signatures": map[string]any{}, "prev_events": []string{}, "auth_events": []string{}}
	if stateKey != nil {
		obj["state_key"] = *stateKey
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	pdu, err := event.Parse(raw, roomversion.MustLookup("11"))
	if err != nil {
		t.Fatal(err)
	}
	return pdu
}

// TestRoomWakerCoalesces checks that events queued while a room's wake is
// pending share it, that membership targets are woken too, and that an
// event after the wake started gets a wake of its own.
func TestRoomWakerCoalesces(t *testing.T) {
	members := &blockingMembers{release: make(chan struct{})}
	woken := make(chan []string, 10)
	w := &roomWaker{members: members, wake: func(users ...string) { woken <- slices.Clone(users) },
		wakeAll: func() { t.Error("woke everybody") }, log: func(string, ...any) {}}
	invitee := "@invitee:b.test"
	w.accepted(room.Added{Event: testPDU(t, "!r:a.test", "m.room.message", nil), Pos: 1})
	w.accepted(room.Added{Event: testPDU(t, "!r:a.test", "m.room.member", &invitee), Pos: 2})
	w.accepted(room.Added{Event: testPDU(t, "!r:a.test", "m.room.message", nil), Pos: 3})
	close(members.release)
	select {
	case got := <-woken:
		if !slices.Equal(got, []string{"@member:a.test", invitee}) {
			t.Fatalf("woke %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nobody was woken")
	}
	select {
	case got := <-woken:
		t.Fatalf("a second wake for the same queued events: %v", got)
	case <-time.After(50 * time.Millisecond):
	}
	w.accepted(room.Added{Event: testPDU(t, "!r:a.test", "m.room.message", nil), Pos: 4})
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("an event after the wake woke nobody")
	}
	members.mu.Lock()
	defer members.mu.Unlock()
	if members.calls != 2 {
		t.Fatalf("%d member lookups for two wakes", members.calls)
	}
}
