package fedserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/transport"
)

// withholding serves a server's federation API but refuses
// get_missing_events, recording the paths asked for.
type withholding struct {
	h     http.Handler
	mu    sync.Mutex
	paths []string
}

func (wh *withholding) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wh.mu.Lock()
	wh.paths = append(wh.paths, r.URL.Path)
	wh.mu.Unlock()
	if strings.Contains(r.URL.Path, "/get_missing_events/") {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"withheld"}`))
		return
	}
	wh.h.ServeHTTP(w, r)
}

func (wh *withholding) asked(part string) bool {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	for _, p := range wh.paths {
		if strings.Contains(p, part) {
			return true
		}
	}
	return false
}

// TestSendAcrossGap: b receives an event of a whose prev events a will not
// give through get_missing_events, after many state changes b never saw:
// b fetches the state at the prev event (in one /state request, there
// being many unknown events) and the event's auth chain, and accepts the
// event with that state.
func TestSendAcrossGap(t *testing.T) {
	ctx := context.Background()
	ring := keyring{}
	a := newServerEnv(t, "a.test", ring, nil)
	peer := &withholding{h: a.signed}
	b := newServerEnv(t, "b.test", ring, func(c *Config) {
		fc, err := fedclient.New(fedclient.Config{ServerName: "b.test", Key: ring["b.test"], Transports: transport.Single{Transport: handlerTransport{peer}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Client = fc
	})
	roomID := a.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	// b has the room as it is now, and bob of b joins it.
	tl, err := a.dag.Timeline(ctx, roomID, 0, 0, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.dag.Import(ctx, tl[0].Event, nil, nil); err != nil || res.Outcome != room.Accepted {
		t.Fatalf("import: %v %v", res, err)
	}
	for _, te := range tl[1:] {
		if res, err := b.dag.Accept(ctx, te.Event); err != nil || res.Outcome != room.Accepted {
			t.Fatalf("b accepts %s: %v %v", te.Event.Type(), res, err)
		}
	}
	bob := "@bob:b.test"
	join, err := b.dag.Send(ctx, roomID, room.Proto{Sender: bob, Type: "m.room.member", StateKey: &bob, Content: json.RawMessage(`{"membership":"join"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != room.Accepted {
		t.Fatalf("a accepts bob's join: %v %v", res, err)
	}
	// a changes state many times; b hears only of the message after.
	for i := range maxGapFetches + 2 {
		a.send(roomID, "x.state", fmt.Sprintf("k%d", i), map[string]any{"n": i})
	}
	msg, err := a.dag.Send(ctx, roomID, room.Proto{Sender: a.creator, Type: "m.room.message", Content: json.RawMessage(`{"body":"across"}`)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.client("a.test").SendTransaction(ctx, "b.test", "g1", []json.RawMessage{msg.JSON()}, nil)
	if err != nil || res[msg.ID()].Error != "" {
		t.Fatalf("the message across the gap: %v %v", res, err)
	}
	if !peer.asked("/get_missing_events/") || !peer.asked("/state_ids/") || !peer.asked("/v1/state/") || !peer.asked("/event_auth/") {
		t.Fatalf("b asked a for %v", peer.paths)
	}
	if info, err := b.dag.Info(ctx, msg.ID()); err != nil || !info.InTimeline {
		t.Fatalf("message not in b's timeline: %+v %v", info, err)
	}
	want, _ := a.dag.CurrentState(ctx, roomID)
	got, _ := b.dag.CurrentState(ctx, roomID)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("b's state after the gap:\n got %v\nwant %v", got, want)
	}
	fx, _ := b.dag.Extremities(ctx, roomID)
	if fx[len(fx)-1] != msg.ID() {
		t.Fatalf("b's extremities %v lack the message", fx)
	}
}

// TestSendWithUnplaceableAuthEvent: an event whose prev events b has but
// one of whose auth events (a join after history b never saw) cannot be
// placed in b's DAG is judged with that auth event stored as an outlier,
// instead of failing for want of it.
func TestSendWithUnplaceableAuthEvent(t *testing.T) {
	ctx := context.Background()
	ring := keyring{}
	a := newServerEnv(t, "a.test", ring, nil)
	peer := &withholding{h: a.signed}
	b := newServerEnv(t, "b.test", ring, func(c *Config) {
		fc, err := fedclient.New(fedclient.Config{ServerName: "b.test", Key: ring["b.test"], Transports: transport.Single{Transport: handlerTransport{peer}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Client = fc
	})
	roomID := a.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	tl, _ := a.dag.Timeline(ctx, roomID, 0, 0, false, 100)
	if _, err := b.dag.Import(ctx, tl[0].Event, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, te := range tl[1:] {
		if _, err := b.dag.Accept(ctx, te.Event); err != nil {
			t.Fatal(err)
		}
	}
	bob := "@bob:b.test"
	bobJoin, err := b.dag.Send(ctx, roomID, room.Proto{Sender: bob, Type: "m.room.member", StateKey: &bob, Content: json.RawMessage(`{"membership":"join"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.dag.Accept(ctx, bobJoin); err != nil || res.Outcome != room.Accepted {
		t.Fatalf("a accepts bob's join: %v %v", res, err)
	}
	known := []string{bobJoin.ID()}
	if _, err := a.dag.Send(ctx, roomID, room.Proto{Sender: a.creator, Type: "m.room.message", Content: json.RawMessage(`{"body":"unseen"}`)}); err != nil {
		t.Fatal(err)
	}
	carol := "@carol:c.test"
	join := a.remoteEvent(roomID, carol, "m.room.member", &carol, map[string]any{"membership": "join"})
	if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != room.Accepted {
		t.Fatalf("a accepts carol's join: %v %v", res, err)
	}
	// carol writes on the history b has (a fork), citing her join.
	cur, _ := a.dag.CurrentState(ctx, roomID)
	msg, err := event.Build(event.Builder{RoomID: roomID, Sender: carol, Type: "m.room.message", Content: json.RawMessage(`{"body":"fork"}`),
		PrevEvents: known, AuthEvents: []string{cur[room.StateKeyOf("m.room.create", "")], cur[room.StateKeyOf("m.room.power_levels", "")], join.ID()},
		Depth: 1000, OriginServerTS: 1}, roomversion.MustLookup("10"), "c.test", ring["c.test"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.dag.Accept(ctx, msg); err != nil {
		t.Fatal(err)
	}
	res, err := b.client("a.test").SendTransaction(ctx, "b.test", "u1", []json.RawMessage{msg.JSON()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Its auth events allow it; the state before it (on b's history,
	// where carol never joined) does not.
	if got := res[msg.ID()].Error; !strings.HasPrefix(got, "rejected") {
		t.Fatalf("b's verdict on the fork: %q, want rejected by the state before it", got)
	}
	if !peer.asked("/event_auth/") {
		t.Fatalf("b did not fetch the auth chain: %v", peer.paths)
	}
	if info, err := b.dag.Info(ctx, join.ID()); err != nil || info.InTimeline {
		t.Fatalf("carol's join on b: %+v %v; want an outlier", info, err)
	}
}
