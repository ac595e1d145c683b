package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hearth/core/matrixerr"
	"hearth/core/pushrules"
	"hearth/persist/memory"
)

func TestCountsRiseAndResetOnReceipt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob, carol)
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("counts after joins %v", got)
	}
	_, p1 := e.text(r, alice, "hello")
	_, p2 := e.text(r, alice, "how are you")
	if got := e.counts(bob, r); got != [2]int{2, 0} {
		t.Fatalf("bob after two messages %v, want 2 0", got)
	}
	if got := e.counts(alice, r); got != [2]int{0, 0} {
		t.Fatalf("sender counts her own messages: %v", got)
	}
	// A mention highlights.
	_, p3 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "bob: look", "m.mentions": map[string]any{"user_ids": []string{bob}}})
	if got := e.counts(bob, r); got != [2]int{3, 1} {
		t.Fatalf("bob after mention %v, want 3 1", got)
	}
	if got := e.counts(carol, r); got != [2]int{3, 0} {
		t.Fatalf("carol highlighted by bob's mention: %v", got)
	}
	// A receipt at the second message leaves only the mention unread.
	if err := e.svc.MarkRead(ctx, bob, r, "", p2); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{1, 1} {
		t.Fatalf("bob after receipt at p2 %v, want 1 1", got)
	}
	// A receipt behind the current one changes nothing.
	if err := e.svc.MarkRead(ctx, bob, r, "", p1); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{1, 1} {
		t.Fatalf("older receipt rewound counts: %v", got)
	}
	if err := e.svc.MarkRead(ctx, bob, r, "", p3); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("bob after reading all %v", got)
	}
	// Carol is untouched by bob's receipts.
	if got := e.counts(carol, r); got != [2]int{3, 0} {
		t.Fatalf("carol %v", got)
	}
	// Sending a message reads up to it.
	e.text(r, carol, "me too")
	if got := e.counts(carol, r); got != [2]int{0, 0} {
		t.Fatalf("carol after sending %v, want 0 0", got)
	}
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("bob after carol's message %v", got)
	}
}

func TestReceiptBeforeFirstCounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	_, pos := e.text(r, alice, "hi")
	// The receipt arrives before anything asked for bob's counts.
	if err := e.svc.MarkRead(ctx, bob, r, "", pos); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("event read before the first Counts counted: %v", got)
	}
	list, _, err := e.svc.List(ctx, bob, 0, 10, false)
	if err != nil || len(list) != 1 || !list[0].Read {
		t.Fatalf("list %+v %v", list, err)
	}
}

func TestNothingWrittenOnSend(t *testing.T) {
	e := newEnv(t)
	r := e.createRoom(bob, carol)
	before := e.updates.Updates.Load()
	for range 5 {
		e.text(r, alice, "hello")
	}
	e.counts(bob, r)
	if _, _, err := e.svc.List(context.Background(), carol, 0, 10, false); err != nil {
		t.Fatal(err)
	}
	if n := e.updates.Updates.Load() - before; n != 0 {
		t.Fatalf("%d Updates for sends, Counts and List, want 0", n)
	}
}

func TestThreads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	root, _ := e.text(r, alice, "root")
	_, tp := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "in thread", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.ID()}})
	_, mp := e.text(r, alice, "main again")
	if got := e.counts(bob, r); got != [2]int{3, 0} {
		t.Fatalf("counts %v", got)
	}
	if err := e.svc.MarkRead(ctx, bob, r, MainThread, mp); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("main receipt cleared the thread too: %v", got)
	}
	if err := e.svc.MarkRead(ctx, bob, r, root.ID(), tp); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("thread receipt left %v", got)
	}
	// An unthreaded receipt covers every thread.
	_, tp2 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "more", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.ID()}})
	e.text(r, alice, "and main")
	if err := e.svc.MarkRead(ctx, bob, r, "", tp2+1); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("unthreaded receipt left %v", got)
	}
}

func TestRulesDecide(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob, carol)
	// @room from someone without the power to notify the room does not
	// highlight; from alice (100) it does.
	e.text(r, carol, "@room hello")
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("@room by unprivileged carol %v", got)
	}
	e.text(r, alice, "@room hello")
	if got := e.counts(bob, r); got != [2]int{2, 1} {
		t.Fatalf("@room by alice %v", got)
	}
	// The user name in a body highlights (the legacy content rule).
	e.text(r, alice, "ping bob please")
	if got := e.counts(bob, r); got != [2]int{3, 2} {
		t.Fatalf("user name %v", got)
	}
	// Notices do not notify.
	e.send(r, alice, map[string]any{"msgtype": "m.notice", "body": "bot"})
	if got := e.counts(bob, r); got != [2]int{3, 2} {
		t.Fatalf("notice counted: %v", got)
	}
	// Bob mutes the room with a room rule.
	err := e.svc.EditRules(ctx, bob, func(rs *pushrules.Ruleset) error {
		return rs.Put(pushrules.KindRoom, r, pushrules.RuleBody{Actions: []pushrules.Action{}}, "", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	e.text(r, alice, "muted")
	if got := e.counts(bob, r); got != [2]int{3, 2} {
		t.Fatalf("muted room counted: %v", got)
	}
	if got := e.counts(carol, r); got != [2]int{3, 1} {
		t.Fatalf("carol %v", got)
	}
	// The stored rules sync as account data.
	g, _, err := e.ad.Changes(ctx, bob, 0, e.ad.Position())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(g[PushRulesType]), `"rule_id":"`+r+`"`) {
		t.Fatalf("m.push_rules account data lacks the room rule: %s", g[PushRulesType])
	}
	// A failing edit changes nothing.
	before, _ := e.ad.Get(ctx, bob, "", PushRulesType)
	err = e.svc.EditRules(ctx, bob, func(rs *pushrules.Ruleset) error {
		rs.SetEnabled(pushrules.KindOverride, pushrules.RuleMaster, true)
		return rs.Delete(pushrules.KindOverride, pushrules.RuleMaster)
	})
	var perr matrixerr.Error
	if !errors.As(err, &perr) || perr.Status != http.StatusBadRequest {
		t.Fatalf("deleting a default rule: %v", err)
	}
	after, _ := e.ad.Get(ctx, bob, "", PushRulesType)
	if string(before) != string(after) {
		t.Fatalf("failed edit stored %s", after)
	}
}

func TestOneToOneAndInvite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	e.text(r, alice, "just us")
	list, _, err := e.svc.List(ctx, bob, 0, 10, false)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if !strings.Contains(string(list[0].Actions), `"sound"`) {
		t.Fatalf("1:1 message actions %s, want the one-to-one rule's sound", list[0].Actions)
	}
	e.state(r, alice, "m.room.member", carol, map[string]any{"membership": "invite"})
	list, _, err = e.svc.List(ctx, carol, 0, 10, false)
	if err != nil || len(list) != 1 || list[0].Event.Type() != "m.room.member" || list[0].RoomID != r {
		t.Fatalf("invitee's notifications %+v %v", list, err)
	}
	// The invite is no member event for bob, whose rules suppress those.
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("bob counted the invite: %v", got)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	var ids []string
	for i := range 5 {
		content := map[string]any{"msgtype": "m.text", "body": "msg"}
		if i%2 == 0 {
			content["m.mentions"] = map[string]any{"user_ids": []string{bob}}
		}
		ev, _ := e.send(r, alice, content)
		ids = append(ids, ev.ID())
	}
	page, next, err := e.svc.List(ctx, bob, 0, 2, false)
	if err != nil || next == 0 || len(page) != 2 || page[0].Event.ID() != ids[4] || page[1].Event.ID() != ids[3] {
		t.Fatalf("first page %+v next %v err %v", page, next, err)
	}
	page, next, err = e.svc.List(ctx, bob, next, 10, false)
	if err != nil || next != 0 || len(page) != 3 || page[0].Event.ID() != ids[2] {
		t.Fatalf("second page %+v next %v err %v", page, next, err)
	}
	hl, _, err := e.svc.List(ctx, bob, 0, 10, true)
	if err != nil || len(hl) != 3 || hl[0].Event.ID() != ids[4] || hl[2].Event.ID() != ids[0] {
		t.Fatalf("highlights %+v %v", hl, err)
	}
	var actions []any
	if err := json.Unmarshal(hl[0].Actions, &actions); err != nil || actions[0] != "notify" {
		t.Fatalf("actions %s", hl[0].Actions)
	}
	if hl[0].TS != e.now.UnixMilli() || hl[0].Read {
		t.Fatalf("entry %+v", hl[0])
	}
}

// TestListScanBound checks that a List that stops at MaxListScan events
// returns what it found and a next position from which the following
// pages find the rest, across rooms, newest first.
func TestListScanBound(t *testing.T) {
	e := newEnvOn(t, memory.New(), Config{MaxListScan: 7})
	ctx := context.Background()
	a := e.createRoom(bob)
	b := e.createRoom(bob)
	var want []uint64
	for i := range 30 {
		r, sender := a, alice
		if i%3 == 0 {
			r = b
		}
		if i%4 == 0 {
			// Bob's own events notify nobody.
			sender = bob
		}
		_, p := e.text(r, sender, "hello")
		if sender != bob {
			want = append(want, p)
		}
	}
	slices.Reverse(want)
	var got []uint64
	var from uint64
	pages := 0
	for {
		page, next, err := e.svc.List(ctx, bob, from, 5, false)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, n := range page {
			got = append(got, n.Pos)
		}
		if next == 0 {
			break
		}
		if from != 0 && next >= from || pages > 100 {
			t.Fatalf("next %d after from %d", next, from)
		}
		from = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if pages < 6 {
		t.Fatalf("%d pages: the scan bound did not stop any", pages)
	}
}

func TestRedactedInList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	ev, _ := e.text(r, alice, "oops")
	red, err := e.dag.Send(ctx, r, roomProto(alice, "m.room.redaction", raw(t, map[string]any{"redacts": ev.ID()})))
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := e.svc.List(ctx, bob, 0, 10, false)
	if err != nil || len(list) != 1 || list[0].RedactedBy == nil || list[0].RedactedBy.ID() != red.ID() {
		t.Fatalf("list %+v %v", list, err)
	}
}

func TestPushers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := func(v string) *string { return &v }
	good := func(pushkey string, app bool) PusherRequest {
		return PusherRequest{
			PushKey: s(pushkey), Kind: json.RawMessage(`"http"`), AppID: s("com.example.app"),
			AppDisplayName: s("App"), DeviceDisplayName: s("Phone"), Lang: s("en"),
			Data:   json.RawMessage(`{"url":"https://push.example.com/_matrix/push/v1/notify","format":"event_id_only"}`),
			Append: app,
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*PusherRequest)
		code string
	}{
		{"no pushkey", func(p *PusherRequest) { p.PushKey = nil }, "M_MISSING_PARAM"},
		{"no kind", func(p *PusherRequest) { p.Kind = nil }, "M_MISSING_PARAM"},
		{"no lang", func(p *PusherRequest) { p.Lang = nil }, "M_MISSING_PARAM"},
		{"no data", func(p *PusherRequest) { p.Data = nil }, "M_MISSING_PARAM"},
		{"no url", func(p *PusherRequest) { p.Data = json.RawMessage(`{"format":"event_id_only"}`) }, "M_MISSING_PARAM"},
		{"bad url path", func(p *PusherRequest) { p.Data = json.RawMessage(`{"url":"https://push.example.com/notify"}`) }, "M_INVALID_PARAM"},
		{"url not string", func(p *PusherRequest) { p.Data = json.RawMessage(`{"url":1}`) }, "M_INVALID_PARAM"},
		{"email", func(p *PusherRequest) { p.Kind = json.RawMessage(`"email"`) }, "M_INVALID_PARAM"},
		{"kind number", func(p *PusherRequest) { p.Kind = json.RawMessage(`1`) }, "M_INVALID_PARAM"},
		{"long pushkey", func(p *PusherRequest) { p.PushKey = s(strings.Repeat("k", MaxPushkeyBytes+1)) }, "M_INVALID_PARAM"},
		{"long app id", func(p *PusherRequest) { p.AppID = s(strings.Repeat("a", MaxAppIDChars+1)) }, "M_INVALID_PARAM"},
	} {
		req := good("k1", false)
		tc.edit(&req)
		err := e.svc.SetPusher(ctx, bob, "DEV", req)
		if me := matrixerr.As(err); me.Code != tc.code || me.Status != 400 {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if ps, _ := e.svc.Pushers(ctx, bob); len(ps) != 0 {
		t.Fatalf("rejected requests stored pushers: %v", ps)
	}
	if err := e.svc.SetPusher(ctx, bob, "DEV", good("k1", false)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetPusher(ctx, bob, "DEV2", good("k2", false)); err != nil {
		t.Fatal(err)
	}
	ps, err := e.svc.Pushers(ctx, bob)
	if err != nil || len(ps) != 2 || ps[0].PushKey != "k1" || ps[0].Lang != "en" || !strings.Contains(string(ps[0].Data), "event_id_only") {
		t.Fatalf("pushers %+v %v", ps, err)
	}
	// Carol takes over k1 with append: bob keeps his. Without append, bob's
	// is removed.
	if err := e.svc.SetPusher(ctx, carol, "C", good("k1", true)); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.svc.Pushers(ctx, bob); len(ps) != 2 {
		t.Fatalf("append removed bob's pusher: %v", ps)
	}
	if err := e.svc.SetPusher(ctx, carol, "C", good("k1", false)); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.svc.Pushers(ctx, bob); len(ps) != 1 || ps[0].PushKey != "k2" {
		t.Fatalf("bob's k1 survived carol's set: %v", ps)
	}
	// kind null deletes.
	del := good("k1", false)
	del.Kind = json.RawMessage(`null`)
	if err := e.svc.SetPusher(ctx, carol, "C", del); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.svc.Pushers(ctx, carol); len(ps) != 0 {
		t.Fatalf("carol's pusher not deleted: %v", ps)
	}
	if err := e.svc.DeleteDevicePushers(ctx, bob, "DEV2"); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.svc.Pushers(ctx, bob); len(ps) != 0 {
		t.Fatalf("device pushers survived logout: %v", ps)
	}
}

func TestAccountDataDefaults(t *testing.T) {
	d := AccountDataDefaults(bob)
	var rs pushrules.Ruleset
	if err := json.Unmarshal(d[PushRulesType], &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs.Global.Content) != 1 || rs.Global.Content[0].Pattern != "bob" || len(rs.Global.Override) == 0 || rs.Global.Room == nil {
		t.Fatalf("defaults %+v", rs.Global)
	}
}
