package notifications

import (
	"context"
	"reflect"
	"testing"

	"hearth/core/event"
	"hearth/core/pushrules"
)

// TestEvaluateMatchesWholeEvent checks evaluate, which reads an event's
// fields from the parsed PDU and evaluates the user's compiled rules,
// against evaluating the user's rules as stored on the PDU's whole JSON.
func TestEvaluateMatchesWholeEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob, carol)
	e.state(r, bob, "m.room.member", bob, map[string]any{"membership": "join", "displayname": "Bobby T"})
	err := e.svc.EditRules(ctx, carol, func(rs *pushrules.Ruleset) error {
		pattern := "lunch*"
		if err := rs.Put(pushrules.KindContent, "lunch", pushrules.RuleBody{Pattern: &pattern,
			Actions: []pushrules.Action{pushrules.Notify(), pushrules.SetTweak(pushrules.TweakHighlight, nil)}}, "", ""); err != nil {
			return err
		}
		return rs.Put(pushrules.KindSender, alice, pushrules.RuleBody{Actions: []pushrules.Action{}}, "", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.PDU
	add := func(ev *event.PDU, _ uint64) { evs = append(evs, ev) }
	add(e.text(r, alice, "hello @room"))
	add(e.text(r, carol, "ping bob, and Bobby T!"))
	add(e.text(r, bob, "LUNCH time? \u212aelvin"))
	add(e.send(r, carol, map[string]any{"msgtype": "m.notice", "body": "bob"}))
	add(e.send(r, carol, map[string]any{"msgtype": "m.text", "body": "hey", "m.mentions": map[string]any{"user_ids": []string{bob}}}))
	add(e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "all", "m.mentions": map[string]any{"room": true}}))
	add(e.send(r, carol, map[string]any{"msgtype": "m.text", "body": "bob \u00e9", "m\u002erelates_to": map[string]any{"rel_type": "m.thread", "event_id": "$root"}}))
	add(e.send(r, carol, map[string]any{"msgtype": "m.text", "body": "* fix", "m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": "$x"}}))
	add(e.send(r, carol, map[string]any{"body": 5, "msgtype": []int{1}}))
	add(e.state(r, alice, "m.room.topic", "", map[string]any{"topic": "bob"}), 0)
	add(e.state(r, alice, "m.room.member", "@dave:a.test", map[string]any{"membership": "invite"}), 0)
	var notified, highlighted, threaded int
	for _, ev := range evs {
		for _, user := range []string{alice, bob, carol, "@dave:a.test"} {
			got, err := e.svc.evaluate(ctx, user, ev)
			if err != nil {
				t.Fatal(err)
			}
			want := wholeEventVerdict(t, e, user, ev)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s for %s: verdict %+v, want %+v", ev.Content(), user, got, want)
			}
			if got.notifies() {
				notified++
			}
			if got.highlight {
				highlighted++
			}
			if got.thread != MainThread && got.thread != "" {
				threaded++
			}
		}
	}
	// The events cover notifying, highlighting and threaded verdicts.
	if notified < 10 || highlighted < 5 || threaded < 2 {
		t.Errorf("%d notifying, %d highlighting, %d threaded verdicts: the test covers too little", notified, highlighted, threaded)
	}
}

// wholeEventVerdict is evaluate with the user's rules as stored, not
// compiled, on a view of the PDU's whole JSON.
func wholeEventVerdict(t *testing.T, e *env, user string, ev *event.PDU) verdict {
	t.Helper()
	ctx := context.Background()
	view, err := pushrules.NewEventView(ev.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender() == user {
		return verdict{thread: threadOf(view), own: true}
	}
	state, err := e.dag.StateAfter(ctx, ev.ID())
	if err != nil {
		t.Fatal(err)
	}
	ec, err := e.svc.members.context(ctx, e.dag, ev.RoomID(), state, user, ev.Sender())
	if err != nil {
		t.Fatal(err)
	}
	if sk, _ := ev.StateKey(); ec.membership != "join" && !(sk == user && ev.Membership() == "invite") {
		return verdict{}
	}
	rs, err := e.svc.Rules(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	actions, _ := pushrules.Evaluate(rs, view, ec.push)
	if !pushrules.Notifies(actions) {
		return verdict{}
	}
	return verdict{thread: threadOf(view), actions: actions, highlight: pushrules.Highlights(actions)}
}
