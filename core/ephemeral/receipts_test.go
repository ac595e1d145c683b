package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestReceipts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob, carol)
	other := e.createRoom(bob)
	rc := e.eph.Receipts
	ev1, p1 := e.message(r, alice)
	ev2, p2 := e.message(r, alice)
	evOther, _ := e.message(other, alice)

	for _, tc := range []struct {
		name string
		user string
		m    Marker
		want error
	}{
		{"not joined", dave, Marker{Type: ReceiptRead, EventID: ev1}, ErrNotJoined},
		{"unknown event", bob, Marker{Type: ReceiptRead, EventID: "$nope"}, ErrUnknownEvent},
		{"event of another room", bob, Marker{Type: ReceiptRead, EventID: evOther}, ErrUnknownEvent},
		{"bad type", bob, Marker{Type: "m.unread", EventID: ev1}, ErrInvalid},
		{"thread on fully read", bob, Marker{Type: FullyRead, EventID: ev1, ThreadID: "main"}, ErrInvalid},
	} {
		if err := rc.Mark(ctx, tc.user, r, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A request with one bad marker applies none.
	if err := rc.Mark(ctx, bob, r, Marker{Type: ReceiptRead, EventID: ev1}, Marker{Type: FullyRead, EventID: "$nope"}); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("mixed request: %v", err)
	}
	if rc.Position() != 0 || len(e.marks) != 0 || len(e.takeWoken()) != 0 {
		t.Fatal("refused receipts changed something")
	}

	if err := rc.Mark(ctx, bob, r, Marker{Type: ReceiptRead, EventID: ev1}); err != nil {
		t.Fatal(err)
	}
	if got := e.takeWoken(); !reflect.DeepEqual(got, []string{alice, bob, carol}) {
		t.Fatalf("public receipt woke %v", got)
	}
	if err := rc.Mark(ctx, carol, r, Marker{Type: ReceiptReadPrivate, EventID: ev2}); err != nil {
		t.Fatal(err)
	}
	if got := e.takeWoken(); !reflect.DeepEqual(got, []string{carol}) {
		t.Fatalf("private receipt woke %v", got)
	}
	if err := rc.Mark(ctx, carol, r, Marker{Type: ReceiptRead, EventID: ev2, ThreadID: "main"}); err != nil {
		t.Fatal(err)
	}
	if rc.Position() != 3 {
		t.Fatalf("position %d", rc.Position())
	}
	wantMarks := []markCall{{bob, r, "", p1}, {carol, r, "", p2}, {carol, r, "main", p2}}
	if !reflect.DeepEqual(e.marks, wantMarks) {
		t.Fatalf("read markers %v, want %v", e.marks, wantMarks)
	}

	type body = map[string]map[string]map[string]map[string]any
	changes := func(user string, from, to uint64) body {
		t.Helper()
		got, err := rc.Changes(ctx, user, []string{r, other}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		out := body{}
		for room, raw := range got {
			var c map[string]map[string]map[string]any
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			out[room] = c
		}
		return out
	}
	ts := float64(e.clock().UnixMilli())
	all := changes(alice, 0, 3)
	want := body{r: {
		ev1: {ReceiptRead: {bob: map[string]any{"ts": ts}}},
		ev2: {ReceiptRead: {carol: map[string]any{"ts": ts, "thread_id": "main"}}},
	}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("alice sees %v, want %v", all, want)
	}
	mine := changes(carol, 0, 3)
	if _, ok := mine[r][ev2][ReceiptReadPrivate][carol]; !ok {
		t.Fatalf("carol does not see her private receipt: %v", mine)
	}
	if got := changes(bob, 1, 2); len(got) != 0 {
		t.Fatalf("bob sees carol's private receipt: %v", got)
	}
	if got := changes(carol, 1, 2); len(got[r]) != 1 {
		t.Fatalf("carol's window (1,2]: %v", got)
	}
	if got := changes(alice, 3, 3); len(got) != 0 {
		t.Fatalf("empty window: %v", got)
	}

	// Receipts do not move backwards.
	if err := rc.Mark(ctx, carol, r, Marker{Type: ReceiptRead, EventID: ev1, ThreadID: "main"}); err != nil {
		t.Fatal(err)
	}
	if got := changes(alice, 3, rc.Position()); len(got) != 0 {
		t.Fatalf("backward receipt published %v", got)
	}
	// Moving forward replaces the old receipt.
	ev3, _ := e.message(r, alice)
	if err := rc.Mark(ctx, bob, r, Marker{Type: ReceiptRead, EventID: ev3}); err != nil {
		t.Fatal(err)
	}
	now := changes(alice, 0, rc.Position())
	if _, ok := now[r][ev1]; ok {
		t.Fatalf("replaced receipt still listed: %v", now)
	}
	if _, ok := now[r][ev3][ReceiptRead][bob]; !ok {
		t.Fatalf("new receipt missing: %v", now)
	}
	// Positions survive a restart.
	if got := e.open().Receipts.Position(); got != rc.Position() {
		t.Fatalf("reopened at %d, want %d", got, rc.Position())
	}
}

func TestFullyRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	ev1, _ := e.message(r, alice)
	ev2, p2 := e.message(r, alice)
	rc := e.eph.Receipts
	if err := rc.Mark(ctx, bob, r, Marker{Type: FullyRead, EventID: ev2}, Marker{Type: ReceiptReadPrivate, EventID: ev2}); err != nil {
		t.Fatal(err)
	}
	got, err := e.ad.Get(ctx, bob, r, FullyRead)
	if err != nil || string(got) != `{"event_id":"`+ev2+`"}` {
		t.Fatalf("m.fully_read = %s, %v", got, err)
	}
	if len(e.marks) != 1 || e.marks[0] != (markCall{bob, r, "", p2}) {
		t.Fatalf("marks %v", e.marks)
	}
	// The marker does not move backwards.
	adPos := e.ad.Position()
	if err := rc.Mark(ctx, bob, r, Marker{Type: FullyRead, EventID: ev1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.ad.Get(ctx, bob, r, FullyRead); string(got) != `{"event_id":"`+ev2+`"}` || e.ad.Position() != adPos {
		t.Fatalf("marker moved back to %s", got)
	}
	// It is no receipt.
	if c, _ := rc.Changes(ctx, alice, []string{r}, 0, rc.Position()); len(c) != 0 {
		t.Fatalf("fully read shows as a receipt: %v", c)
	}
}
