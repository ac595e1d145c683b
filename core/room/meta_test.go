package room

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"hearth/core/roomversion"
	"hearth/persist"
)

// storedMeta reads a room's metadata as stored, without advancing it.
func storedMeta(t *testing.T, d *DAG, roomID string) roomMeta {
	t.Helper()
	var m roomMeta
	err := d.cfg.Store.View(context.Background(), func(tx persist.Tx) error {
		raw, err := tx.Get(metaKey(roomID))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMetaLeftUnstored sends messages, state events and concurrent batches,
// which store the room's metadata only now and then, and checks that a DAG
// reopened over the store works out the same metadata and builds on it.
func TestMetaLeftUnstored(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), alice)
	roomID := evs[0].RoomID()
	send := func(p Proto) {
		t.Helper()
		if _, err := s.dag.Send(ctx, roomID, p); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(i int) Proto {
		return Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": fmt.Sprint(i)})}
	}
	checkReopen := func(step string) {
		t.Helper()
		want, err := s.dag.meta(ctx, roomID, s.dag.entry(roomID))
		if err != nil {
			t.Fatal(err)
		}
		reopened, err := New(ctx, s.dag.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reopened.meta(ctx, roomID, reopened.entry(roomID))
		if err != nil {
			t.Fatalf("%s: reopened meta: %v", step, err)
		}
		if !reflect.DeepEqual(*got, *want) {
			t.Errorf("%s: reopened metadata %+v, want %+v (stored %+v)", step, *got, *want, storedMeta(t, s.dag, roomID))
		}
		ev, err := reopened.Send(ctx, roomID, msg(-1))
		if err != nil {
			t.Fatalf("%s: send after reopen: %v", step, err)
		}
		if !reflect.DeepEqual(ev.PrevEvents(), want.Extremities) {
			t.Errorf("%s: after reopen prev_events %v, want %v", step, ev.PrevEvents(), want.Extremities)
		}
		// Carry on with the reopened DAG, as a restarted server does.
		s.dag = reopened
	}

	for i := range 20 {
		send(msg(i))
	}
	if got, want := storedMeta(t, s.dag, roomID).LastPos, s.dag.entry(roomID).meta.LastPos; got >= want {
		t.Errorf("after 20 messages the stored metadata is at %d, the room at %d: stored every time", got, want)
	}
	checkReopen("messages")

	// State events change the current state group; they advance too.
	for i := range 5 {
		send(Proto{Sender: alice, Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": fmt.Sprint(i)})})
		send(msg(i))
	}
	checkReopen("state events")

	// Concurrent sends commit in chains.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { send(msg(100 + i)) })
	}
	wg.Wait()
	checkReopen("chains")

	// Past metaEvery positions, the metadata is stored again.
	before := storedMeta(t, s.dag, roomID).LastPos
	for i := range metaEvery + 1 {
		send(msg(1000 + i))
	}
	if got := storedMeta(t, s.dag, roomID).LastPos; got <= before {
		t.Errorf("after %d more positions the stored metadata is still at %d", metaEvery+1, got)
	}
	checkReopen("many messages")
}

// TestRoomMetaEqualCoversEveryField changes each field of a roomMeta in
// turn: equal must see every change, or a commit could skip storing
// metadata that differs from the advance start-up works out.
func TestRoomMetaEqualCoversEveryField(t *testing.T) {
	base := roomMeta{Version: "11", CreateID: "$c", Extremities: []string{"$a"}, Group: 1, Depth: 2, LastPos: 3}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		changed := base
		changed.Extremities = slices.Clone(base.Extremities)
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Uint64:
			f.SetUint(f.Uint() + 1)
		case reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("$b")))
		default:
			t.Fatalf("field %s has a kind (%s) this test cannot change", typ.Field(i).Name, f.Kind())
		}
		if base.equal(changed) {
			t.Errorf("equal misses a change of %s", typ.Field(i).Name)
		}
	}
	if !base.equal(roomMeta{Version: "11", CreateID: "$c", Extremities: []string{"$a"}, Group: 1, Depth: 2, LastPos: 3}) {
		t.Error("equal metadata compare unequal")
	}
}
