package fedserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/room"
	"hearth/core/roomversion"
)

// joinRemote has bob of remote.test join a public room through /send and
// returns his join.
func joinRemote(t *testing.T, e *testEnv, roomID, bob string) *event.PDU {
	t.Helper()
	join := e.remoteEvent(roomID, bob, "m.room.member", &bob, map[string]any{"membership": "join"})
	res, err := e.client("remote.test").SendTransaction(context.Background(), testServer, "join-"+bob, []json.RawMessage{join.JSON()}, nil)
	if err != nil || res[join.ID()].Error != "" {
		t.Fatalf("send join: %v %v", res, err)
	}
	return join
}

// memberOf is user's membership in the room's current state.
func (e *testEnv) memberOf(roomID, user string) string {
	e.t.Helper()
	evs, err := e.h.currentEvents(context.Background(), roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	if ev := evs[room.StateKeyOf("m.room.member", user)]; ev != nil {
		return ev.Membership()
	}
	return ""
}

func TestSendTransactions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	roomID := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	bob := "@bob:remote.test"
	remote := e.client("remote.test")
	join := joinRemote(t, e, roomID, bob)
	if m := e.memberOf(roomID, bob); m != "join" {
		t.Fatalf("bob's membership after /send: %q", m)
	}

	// A retried transaction ID gets the first answer, without processing
	// what the retry carries.
	msg := e.remoteEvent(roomID, bob, "m.room.message", nil, map[string]any{"body": "hi"})
	res, err := remote.SendTransaction(ctx, testServer, "join-"+bob, []json.RawMessage{msg.JSON()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res[join.ID()]; !ok || len(res) != 1 {
		t.Fatalf("retry answered %v, want the first answer (the join)", res)
	}
	if _, err := e.dag.Event(ctx, msg.ID()); !errors.Is(err, room.ErrUnknownEvent) {
		t.Fatalf("the retry's PDU was processed: %v", err)
	}
	// The same transaction ID from another origin is another transaction.
	res, err = e.client("third.test").SendTransaction(ctx, testServer, "join-"+bob, []json.RawMessage{msg.JSON()}, nil)
	if err != nil || res[msg.ID()].Error != "" {
		t.Fatalf("same ID from another origin: %v %v", res, err)
	}
	if info, err := e.dag.Info(ctx, msg.ID()); err != nil || !info.InTimeline {
		t.Fatalf("message not in the timeline: %+v %v", info, err)
	}

	// An origin denied by the room's server ACL gets its PDUs refused.
	e.send(roomID, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
	eve := "@eve:evil.test"
	evil := e.remoteEvent(roomID, eve, "m.room.member", &eve, map[string]any{"membership": "join"})
	res, err = e.client("evil.test").SendTransaction(ctx, testServer, "e1", []json.RawMessage{evil.JSON()}, nil)
	if err != nil || !strings.Contains(res[evil.ID()].Error, "ACL") {
		t.Fatalf("ACL-denied PDU: %v %v", res, err)
	}
	if _, err := e.dag.Event(ctx, evil.ID()); !errors.Is(err, room.ErrUnknownEvent) {
		t.Fatalf("ACL-denied PDU was stored: %v", err)
	}
	// A PDU of an unknown room is left out of the answer; a forged one is
	// reported.
	forged := e.remoteEvent(roomID, "@mallory:remote.test", "m.room.message", nil, map[string]any{"body": "not a member"})
	res, err = remote.SendTransaction(ctx, testServer, "t3", []json.RawMessage{json.RawMessage(`{"room_id":"!nope:hs.test","type":"m.room.message"}`), forged.JSON()}, nil)
	if err != nil || len(res) != 1 || !strings.HasPrefix(res[forged.ID()].Error, "rejected") {
		t.Fatalf("unknown room and unauthorised PDU: %v %v", res, err)
	}

	pdus := make([]json.RawMessage, maxTxnPDUs+1)
	for i := range pdus {
		pdus[i] = msg.JSON()
	}
	for _, c := range []struct {
		body any
		code string
	}{
		{"{not json", "M_NOT_JSON"},
		{map[string]any{"origin": "remote.test", "pdus": pdus}, "M_BAD_JSON"},
	} {
		e.expect("remote.test", "PUT", "/send/bad", c.body, http.StatusBadRequest, c.code)
	}
}

func TestStateAndHistoryReads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	roomID := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	join := joinRemote(t, e, roomID, "@bob:remote.test")
	e.send(roomID, "m.room.topic", "", map[string]any{"topic": "t"})
	fx, _ := e.dag.Extremities(ctx, roomID)
	topic := fx[0]
	remote := e.client("remote.test")

	ids, err := remote.GetStateIDs(ctx, testServer, roomID, topic)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.dag.StateBefore(ctx, topic)
	var want []string
	for _, id := range before {
		want = append(want, id)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(ids.PDUIDs))
	if !slices.Equal(got, want) || !slices.Contains(ids.PDUIDs, join.ID()) || len(ids.AuthChainIDs) == 0 {
		t.Fatalf("state_ids %v (auth chain %v), want the state before the topic %v", got, ids.AuthChainIDs, want)
	}
	st, err := remote.GetState(ctx, testServer, roomID, topic)
	if err != nil || len(st.PDUs) != len(ids.PDUIDs) || len(st.AuthChain) != len(ids.AuthChainIDs) {
		t.Fatalf("state: %d PDUs, %d auth events, %v", len(st.PDUs), len(st.AuthChain), err)
	}
	chain, err := remote.GetEventAuth(ctx, testServer, roomID, join.ID())
	v := roomversion.MustLookup("10")
	var chainIDs []string
	for _, raw := range chain {
		if ev, err := event.Parse(raw, v); err == nil {
			chainIDs = append(chainIDs, ev.ID())
		}
	}
	for _, id := range join.AuthEvents() {
		if !slices.Contains(chainIDs, id) {
			t.Fatalf("event_auth of the join lacks %s: %v (%v)", id, chainIDs, err)
		}
	}
	txn, err := remote.Backfill(ctx, testServer, roomID, []string{topic}, 3)
	if err != nil || len(txn.PDUs) != 3 {
		t.Fatalf("backfill: %d PDUs, %v", len(txn.PDUs), err)
	}
	if ev, _ := event.Parse(txn.PDUs[0], v); ev == nil || ev.ID() != topic {
		t.Fatalf("backfill does not start at the topic")
	}

	// Errors: unknown room, an event of another room, a server without
	// members in a room of shared history, a server the ACL denies.
	other := e.room(nil, nil)
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"unknown room", func() error { _, err := remote.GetStateIDs(ctx, testServer, "!nope:hs.test", topic); return err }(), 404},
		{"unknown event", func() error { _, err := remote.GetStateIDs(ctx, testServer, roomID, "$nope"); return err }(), 404},
		{"event of another room", func() error { _, err := remote.GetEventAuth(ctx, testServer, other, join.ID()); return err }(), 404},
		{"stranger", func() error { _, err := e.client("stranger.test").GetState(ctx, testServer, roomID, topic); return err }(), 403},
	} {
		if fedclient.StatusOf(c.err) != c.status {
			t.Errorf("%s: %v, want status %d", c.name, c.err, c.status)
		}
	}
	// A private room's history is not backfilled to a stranger.
	otherFx, _ := e.dag.Extremities(ctx, other)
	if txn, err := remote.Backfill(ctx, testServer, other, otherFx, 3); err == nil && len(txn.PDUs) != 0 {
		t.Fatalf("backfill of a private room gave a stranger %d events", len(txn.PDUs))
	}
	// World-readable history is readable by anyone the ACL allows.
	e.send(roomID, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
	fx, _ = e.dag.Extremities(ctx, roomID)
	if _, err := e.client("stranger.test").GetStateIDs(ctx, testServer, roomID, fx[0]); err != nil {
		t.Fatalf("world-readable state for a stranger: %v", err)
	}
	e.send(roomID, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"stranger.test"}})
	if _, err := e.client("stranger.test").GetStateIDs(ctx, testServer, roomID, fx[0]); fedclient.StatusOf(err) != 403 || fedclient.CodeOf(err) != "M_FORBIDDEN" {
		t.Fatalf("ACL-denied server: %v, want 403 M_FORBIDDEN", err)
	}
	e.expect("remote.test", "GET", "/state_ids/"+roomID, nil, http.StatusBadRequest, "M_MISSING_PARAM")
}

func TestMakeAndSendLeave(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	roomID := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	bob := "@bob:remote.test"
	joinRemote(t, e, roomID, bob)
	remote := e.client("remote.test")
	tmpl, err := remote.MakeLeave(ctx, testServer, roomID, bob)
	if err != nil || tmpl.RoomVersion != "10" {
		t.Fatalf("make_leave: %+v %v", tmpl, err)
	}
	var fields map[string]any
	if err := json.Unmarshal(tmpl.Event, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["sender"] != bob || fields["state_key"] != bob || fields["content"].(map[string]any)["membership"] != "leave" {
		t.Fatalf("template %v", fields)
	}
	leave := signTemplate(t, e, tmpl, "remote.test")
	// A leave signed by another server than the user's is refused.
	if err := e.client("third.test").SendLeave(ctx, testServer, roomID, leave.ID(), leave.JSON()); err == nil {
		t.Fatal("send_leave from a server that is not the user's succeeded")
	}
	if err := remote.SendLeave(ctx, testServer, roomID, leave.ID(), leave.JSON()); err != nil {
		t.Fatalf("send_leave: %v", err)
	}
	if m := e.memberOf(roomID, bob); m != "leave" {
		t.Fatalf("bob's membership after send_leave: %q", m)
	}
	// A join template is no leave.
	if err := remote.SendLeave(ctx, testServer, roomID, "$wrong", leave.JSON()); fedclient.StatusOf(err) != 400 {
		t.Fatalf("send_leave under another event ID: %v, want 400", err)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"unknown room", func() error { _, err := remote.MakeLeave(ctx, testServer, "!nope:hs.test", bob); return err }()},
		{"another server's user", func() error { _, err := remote.MakeLeave(ctx, testServer, roomID, "@carol:third.test"); return err }()},
	} {
		if s := fedclient.StatusOf(c.err); s != 404 && s != 403 {
			t.Errorf("make_leave, %s: %v, want 403 or 404", c.name, c.err)
		}
	}
}

func TestEventAndMissingEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	roomID := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	join := joinRemote(t, e, roomID, "@bob:remote.test")
	var sent []string
	for i := range 4 {
		ev, err := e.dag.Send(ctx, roomID, room.Proto{Sender: e.creator, Type: "m.room.message", Content: json.RawMessage(`{"body":"m` + string(rune('0'+i)) + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, ev.ID())
	}
	remote := e.client("remote.test")
	raw, err := remote.GetEvent(ctx, testServer, sent[0])
	if ev, perr := event.Parse(raw, roomversion.MustLookup("10")); err != nil || perr != nil || ev.ID() != sent[0] {
		t.Fatalf("/event: %v %v", err, perr)
	}
	// The events between what bob's server has (its join) and the latest
	// message, oldest first, without either end.
	raws, err := remote.GetMissingEvents(ctx, testServer, roomID, fedclient.MissingEventsRequest{EarliestEvents: []string{join.ID()}, LatestEvents: []string{sent[3]}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, raw := range raws {
		ev, _ := event.Parse(raw, roomversion.MustLookup("10"))
		got = append(got, ev.ID())
	}
	if !slices.Equal(got, sent[:3]) {
		t.Fatalf("get_missing_events %v, want %v", got, sent[:3])
	}
	raws, err = remote.GetMissingEvents(ctx, testServer, roomID, fedclient.MissingEventsRequest{EarliestEvents: []string{join.ID()}, LatestEvents: []string{sent[3]}, Limit: 1})
	if err != nil || len(raws) != 1 {
		t.Fatalf("get_missing_events with limit 1: %d events, %v", len(raws), err)
	}
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"unknown event", func() error { _, err := remote.GetEvent(ctx, testServer, "$nope"); return err }(), 404},
		{"stranger", func() error { _, err := e.client("stranger.test").GetEvent(ctx, testServer, sent[0]); return err }(), 403},
		{"unknown room", func() error {
			_, err := remote.GetMissingEvents(ctx, testServer, "!nope:hs.test", fedclient.MissingEventsRequest{LatestEvents: []string{sent[3]}})
			return err
		}(), 404},
	} {
		if fedclient.StatusOf(c.err) != c.status {
			t.Errorf("%s: %v, want status %d", c.name, c.err, c.status)
		}
	}
	e.expect("remote.test", "POST", "/get_missing_events/"+roomID, "[1,2", http.StatusBadRequest, "M_NOT_JSON")
}

// signTemplate completes a make_* template for server and signs it.
func signTemplate(t *testing.T, e *testEnv, tmpl fedclient.MembershipTemplate, server string) *event.PDU {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(tmpl.Event, &fields); err != nil {
		t.Fatal(err)
	}
	fields["origin_server_ts"] = 1_700_000_000_500
	raw, _ := json.Marshal(fields)
	v := roomversion.MustLookup(tmpl.RoomVersion)
	signed, err := event.Sign(raw, v, server, e.keys[server])
	if err != nil {
		t.Fatal(err)
	}
	pdu, err := event.Parse(signed, v)
	if err != nil {
		t.Fatal(err)
	}
	return pdu
}

func TestMakeAndSendJoin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	public := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	private := e.room(nil, nil)
	bob := "@bob:remote.test"
	remote := e.client("remote.test")
	if _, err := remote.MakeJoin(ctx, testServer, public, bob, []string{"1"}); fedclient.CodeOf(err) != "M_INCOMPATIBLE_ROOM_VERSION" {
		t.Fatalf("make_join without the room's version: %v", err)
	}
	tmpl, err := remote.MakeJoin(ctx, testServer, public, bob, []string{"10", "11"})
	if err != nil || tmpl.RoomVersion != "10" {
		t.Fatalf("make_join: %+v %v", tmpl, err)
	}
	join := signTemplate(t, e, tmpl, "remote.test")
	resp, err := remote.SendJoin(ctx, testServer, public, join.ID(), join.JSON(), false)
	if err != nil {
		t.Fatalf("send_join: %v", err)
	}
	cur, _ := e.dag.StateBefore(ctx, join.ID())
	if resp.Origin != testServer || len(resp.State) != len(cur) || len(resp.AuthChain) == 0 {
		t.Fatalf("send_join answer: origin %s, %d state events (want %d), %d auth events", resp.Origin, len(resp.State), len(cur), len(resp.AuthChain))
	}
	if m := e.memberOf(public, bob); m != "join" {
		t.Fatalf("bob's membership after send_join: %q", m)
	}
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"invite-only room", func() error { _, err := remote.MakeJoin(ctx, testServer, private, bob, []string{"10"}); return err }(), 403},
		{"unknown room", func() error {
			_, err := remote.MakeJoin(ctx, testServer, "!nope:hs.test", bob, []string{"10"})
			return err
		}(), 404},
		{"another server's user", func() error {
			_, err := remote.MakeJoin(ctx, testServer, public, "@carol:third.test", []string{"10"})
			return err
		}(), 403},
		{"join under another ID", func() error {
			_, err := remote.SendJoin(ctx, testServer, public, "$other", join.JSON(), false)
			return err
		}(), 400},
	} {
		if s := fedclient.StatusOf(c.err); s != c.want {
			t.Errorf("%s: %v, want %d", c.name, c.err, c.want)
		}
	}
}

func TestMakeAndSendKnock(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	knockable := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "knock"}}, {"m.room.name", map[string]any{"name": "Knock here"}}})
	public := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}})
	bob := "@bob:remote.test"
	remote := e.client("remote.test")
	tmpl, err := remote.MakeKnock(ctx, testServer, knockable, bob, []string{"10"})
	if err != nil {
		t.Fatalf("make_knock: %v", err)
	}
	knock := signTemplate(t, e, tmpl, "remote.test")
	state, err := remote.SendKnock(ctx, testServer, knockable, knock.ID(), knock.JSON())
	if err != nil {
		t.Fatalf("send_knock: %v", err)
	}
	if m := e.memberOf(knockable, bob); m != "knock" {
		t.Fatalf("bob's membership after send_knock: %q", m)
	}
	var named bool
	for _, raw := range state {
		var s struct{ Type string }
		json.Unmarshal(raw, &s)
		named = named || s.Type == "m.room.name"
	}
	if !named {
		t.Fatalf("knock_room_state lacks the room's name: %s", state)
	}
	if _, err := remote.MakeKnock(ctx, testServer, public, bob, []string{"10"}); fedclient.StatusOf(err) != 403 {
		t.Fatalf("make_knock on a public room: %v, want 403", err)
	}
	if _, err := remote.MakeKnock(ctx, testServer, knockable, bob, []string{"6"}); fedclient.CodeOf(err) != "M_INCOMPATIBLE_ROOM_VERSION" {
		t.Fatalf("make_knock without the room's version: %v", err)
	}
}

// recordingEDUs records the EDUs /send hands on.
type recordingEDUs struct {
	origin string
	edus   []json.RawMessage
}

func (r *recordingEDUs) Receive(_ context.Context, origin string, edus []json.RawMessage) {
	r.origin, r.edus = origin, append(r.edus, edus...)
}

func TestSendHandsOnEDUs(t *testing.T) {
	rec := &recordingEDUs{}
	e := newEnv(t, func(c *Config) { c.EDUs = rec })
	edu := json.RawMessage(`{"edu_type":"m.typing","content":{"room_id":"!r:remote.test","user_id":"@bob:remote.test","typing":true}}`)
	res, err := e.client("remote.test").SendTransaction(context.Background(), testServer, "edu1", nil, []json.RawMessage{edu})
	if err != nil || len(res) != 0 {
		t.Fatalf("EDU-only transaction: %v %v", res, err)
	}
	if rec.origin != "remote.test" || len(rec.edus) != 1 || string(rec.edus[0]) != string(edu) {
		t.Fatalf("EDUs handed on: %s from %s", rec.edus, rec.origin)
	}
	// A retry does not hand them on again.
	if _, err := e.client("remote.test").SendTransaction(context.Background(), testServer, "edu1", nil, []json.RawMessage{edu}); err != nil {
		t.Fatal(err)
	}
	if len(rec.edus) != 1 {
		t.Fatalf("a retried transaction's EDUs were handed on again: %d", len(rec.edus))
	}
	edus := make([]json.RawMessage, maxTxnEDUs+1)
	for i := range edus {
		edus[i] = edu
	}
	e.expect("remote.test", "PUT", "/send/many", map[string]any{"origin": "remote.test", "edus": edus}, http.StatusBadRequest, "M_BAD_JSON")
}
