package syncer

import (
	"context"
	"errors"
	"testing"
)

// fakeForgotten says which rooms users forgot, keyed by user and room.
type fakeForgotten struct {
	rooms map[[2]string]bool
	err   error
}

func (f *fakeForgotten) Forgotten(_ context.Context, userID, roomID string) (bool, error) {
	return f.rooms[[2]string{userID, roomID}], f.err
}

func TestForgottenRoomsAreLeftOut(t *testing.T) {
	forgotten := &fakeForgotten{rooms: map[[2]string]bool{}}
	e := newEnv(t, func(c *Config) { c.Forgotten = forgotten })
	kept := e.createRoom(t, alice, "Kept")
	forgot := e.createRoom(t, alice, "Forgot")
	for _, id := range []string{kept, forgot} {
		e.member(t, id, bob, bob, "join")
	}
	tok := since(t, e.do(t, Request{UserID: bob}))
	for _, id := range []string{kept, forgot} {
		e.member(t, id, bob, bob, "leave")
	}
	forgotten.rooms[[2]string{bob, forgot}] = true
	// Someone else forgetting the room changes nothing for bob.
	forgotten.rooms[[2]string{carol, kept}] = true

	includeLeave := mustFilter(t, `{"room":{"include_leave":true}}`)
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"initial with include_leave", Request{UserID: bob, Filter: includeLeave}},
		{"incremental", Request{UserID: bob, Since: tok}},
		{"incremental, full state", Request{UserID: bob, Since: tok, FullState: true}},
	} {
		resp := e.do(t, tc.req)
		if _, ok := resp.Rooms.Leave[forgot]; ok {
			t.Errorf("%s: the forgotten room is in the leave section", tc.name)
		}
		if _, ok := resp.Rooms.Leave[kept]; !ok {
			t.Errorf("%s: the room bob left but did not forget is missing: %+v", tc.name, resp.Rooms)
		}
	}

	forgotten.err = errors.New("store down")
	if _, err := e.sync.Sync(context.Background(), Request{UserID: bob, Filter: includeLeave}); !errors.Is(err, forgotten.err) {
		t.Errorf("Sync with a failing Forgotten = %v, want its error", err)
	}
}
