package ephemeral

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHooksAndRemote checks that local changes reach the federation hooks
// and that changes applied for remote users do not.
func TestHooksAndRemote(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	msg, _ := e.message(r, bob)
	var calls []string
	eph, err := New(ctx, Config{
		Store: e.store, Now: e.clock, Rooms: e.rooms, Events: e.dag, AccountData: e.ad,
		OnTyping: func(roomID, userID string, typing bool) { calls = append(calls, "typing "+userID) },
		OnReceipt: func(roomID, userID, eventID, thread string, ts int64) {
			calls = append(calls, "receipt "+userID+" "+eventID)
		},
		OnPresence: func(userID string, st Status) { calls = append(calls, "presence "+userID+" "+st.Presence) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eph.Typing.Set(ctx, alice, r, true, 0); err != nil {
		t.Fatal(err)
	}
	if err := eph.Receipts.Mark(ctx, alice, r, Marker{Type: ReceiptRead, EventID: msg}); err != nil {
		t.Fatal(err)
	}
	if err := eph.Receipts.Mark(ctx, bob, r, Marker{Type: ReceiptReadPrivate, EventID: msg}); err != nil {
		t.Fatal(err)
	}
	if err := eph.Presence.Set(ctx, alice, Online, nil); err != nil {
		t.Fatal(err)
	}
	const remote = "@zed:b.test"
	eph.Typing.SetRemote(ctx, remote, r, true, 0)
	if err := eph.Receipts.MarkRemote(ctx, remote, r, msg, "", 1234); err != nil {
		t.Fatal(err)
	}
	if err := eph.Receipts.MarkRemote(ctx, remote, r, "$unknown", "", 1234); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("MarkRemote of an unknown event: %v", err)
	}
	ago := int64(5000)
	if err := eph.Presence.SetRemote(ctx, remote, Status{Presence: Unavailable, LastActiveAgo: &ago}); err != nil {
		t.Fatal(err)
	}
	want := []string{"typing " + alice, "receipt " + alice + " " + msg, "presence " + alice + " online"}
	if !slices.Equal(calls, want) {
		t.Fatalf("hook calls = %q, want %q", calls, want)
	}
	typers, _ := eph.Typing.Changes(ctx, []string{r}, 0, eph.Typing.Position())
	if !slices.Contains(typers[r], remote) {
		t.Fatalf("remote typer missing: %v", typers)
	}
	content, _ := eph.Receipts.Changes(ctx, alice, []string{r}, 0, eph.Receipts.Position())
	if want := `"` + remote + `":{"ts":1234}`; !strings.Contains(string(content[r]), want) {
		t.Fatalf("receipts %s lack %s", content[r], want)
	}
	st, err := eph.Presence.Get(ctx, remote, remote)
	if err != nil || st.Presence != Unavailable || st.LastActiveAgo == nil || time.Duration(*st.LastActiveAgo) != 5000 {
		t.Fatalf("remote presence = %+v, %v", st, err)
	}
}
