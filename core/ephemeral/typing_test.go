package ephemeral

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestTyping(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob, carol)
	other := e.createRoom()
	ty := e.eph.Typing
	if ty.Position() != 0 {
		t.Fatalf("start position %d", ty.Position())
	}
	if err := ty.Set(ctx, dave, r, true, time.Second); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("non-member typing: %v", err)
	}
	if err := ty.Set(ctx, bob, other, true, time.Second); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("typing in a room not joined: %v", err)
	}
	if ty.Position() != 0 || len(e.takeWoken()) != 0 {
		t.Fatal("refused typing changed something")
	}
	if err := ty.Set(ctx, bob, r, true, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.takeWoken(); !reflect.DeepEqual(got, []string{alice, bob, carol}) {
		t.Fatalf("woken %v", got)
	}
	if err := ty.Set(ctx, carol, r, true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if ty.Position() != 2 {
		t.Fatalf("position %d, want 2", ty.Position())
	}
	// Typing again only extends the timeout: no change to report.
	if err := ty.Set(ctx, bob, r, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if ty.Position() != 2 {
		t.Fatalf("refresh moved the position to %d", ty.Position())
	}
	check := func(rooms []string, from, to uint64, want map[string][]string) {
		t.Helper()
		got, err := ty.Changes(ctx, rooms, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Changes(%d, %d) = %v, want %v", from, to, got, want)
		}
	}
	check([]string{r, other}, 0, 2, map[string][]string{r: {bob, carol}})
	check([]string{r}, 1, 2, map[string][]string{r: {bob, carol}})
	check([]string{r}, 2, 2, nil)
	check([]string{other}, 0, 2, nil)
	// A token from before a restart (beyond the position) gets the
	// current typers.
	check([]string{r}, 99, 2, map[string][]string{r: {bob, carol}})

	if err := ty.Set(ctx, carol, r, false, 0); err != nil {
		t.Fatal(err)
	}
	check([]string{r}, 2, 3, map[string][]string{r: {bob}})

	// Bob's refreshed 20 s run out: the clock retires him, with a new
	// position, and the timer wakes the room.
	e.advance(21 * time.Second)
	check([]string{r}, 3, 3, nil)
	e.takeWoken()
	e.mu.Lock()
	timers := e.timers
	e.mu.Unlock()
	if len(timers) != 3 {
		t.Fatalf("%d timers scheduled, want 3", len(timers))
	}
	timers[0]()
	if ty.Position() != 4 {
		t.Fatalf("position after expiry %d, want 4", ty.Position())
	}
	if got := e.takeWoken(); !reflect.DeepEqual(got, []string{alice, bob, carol}) {
		t.Fatalf("expiry woke %v", got)
	}
	check([]string{r}, 3, 4, map[string][]string{r: {}})
	check([]string{r}, 0, 4, nil)
	// Expiry is also noticed without a timer, when sync asks.
	if err := ty.Set(ctx, alice, r, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.advance(MaxTypingTimeout + time.Second) // the hour was capped
	if ty.Position() != 6 {
		t.Fatalf("position %d, want 6 after the capped timeout ran out", ty.Position())
	}
	check([]string{r}, 5, 6, map[string][]string{r: {}})
}
