package notifications

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"hearth/core/event"
	"hearth/persist/memory"
)

// room33 makes a room of alice and 32 more local members, each with the
// default push rules.
func room33(e *env) (string, []string) {
	members := make([]string, 0, 32)
	for i := range 32 {
		members = append(members, fmt.Sprintf("@u%d:%s", i, server))
	}
	return e.createRoom(members...), members
}

// send16 sends 16 messages at once, two from each of 8 members, as
// cmd/bench's load does: the room DAG writes concurrent sends to one room
// in shared commits.
func send16(e *env, roomID string, members []string) {
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { e.text(roomID, members[i%8], "hello everyone") })
	}
	wg.Wait()
}

// benchMessages sends realistic messages into roomID from members[3]: a
// plain sentence, a rich reply with a mention, a message in a thread and
// an edit, each a PDU of about 700 bytes.
func benchMessages(e *env, roomID string, members []string) []*event.PDU {
	from, to := members[3], members[5]
	root, _ := e.text(roomID, from, "Has anyone looked at the flaky federation test since the last deploy? It failed twice this morning.")
	reply, _ := e.send(roomID, from, map[string]any{
		"msgtype": "m.text",
		"body":    "> <" + to + "> Has anyone looked at the flaky federation test?\n\nYes, I think it is the backoff timer again.",
		"format":  "org.matrix.custom.html",
		"formatted_body": `<mx-reply><blockquote><a href="https://matrix.to/#/` + roomID + `/` + root.ID() + `">In reply to</a> <a href="https://matrix.to/#/` + to + `">` + to +
			`</a><br>Has anyone looked at the flaky federation test?</blockquote></mx-reply>Yes, I think it is the backoff timer again.`,
		"m.mentions":   map[string]any{"user_ids": []string{to}},
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": root.ID()}},
	})
	thread, _ := e.send(roomID, from, map[string]any{
		"msgtype": "m.text",
		"body":    "I will take a look after lunch, it might be the retry loop.",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.ID(), "is_falling_back": true,
			"m.in_reply_to": map[string]any{"event_id": reply.ID()}},
	})
	edit, _ := e.send(roomID, from, map[string]any{
		"msgtype":       "m.text",
		"body":          " * Has anyone looked at the flaky federation test since Tuesday?",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "Has anyone looked at the flaky federation test since Tuesday?"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": root.ID()},
	})
	return []*event.PDU{root, reply, thread, edit}
}

// BenchmarkEvaluate evaluates one realistic message for one member of a
// room of 33 with the default push rules, as a walk of Counts does for
// each new event: the room state, the member context, the rules and the
// push rule evaluation, over the memory store with every cache warm.
func BenchmarkEvaluate(b *testing.B) {
	e := newEnvOn(b, memory.New(), Config{})
	r, members := room33(e)
	evs := benchMessages(e, r, members)
	ctx := context.Background()
	for i, name := range []string{"plain", "reply", "thread", "edit"} {
		ev := evs[i]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, user := range []string{members[5], members[20]} {
					if _, err := e.svc.evaluate(ctx, user, ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(ev.JSON())), "eventbytes")
		})
	}
}

// BenchmarkCountsAfter16Memory is BenchmarkCountsAfter16Badger over the
// memory store.
func BenchmarkCountsAfter16Memory(b *testing.B) {
	benchCountsAfter16(b, newEnvOn(b, memory.New(), Config{}))
}

// benchCountsAfter16 measures Counts for one member after 16 new messages,
// with that member's previous counts cached, as for a user who syncs
// continuously. ns/op is per Counts; the sends are not timed.
func benchCountsAfter16(b *testing.B, e *env) {
	r, members := room33(e)
	ctx := context.Background()
	user := members[20]
	e.counts(user, r)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		send16(e, r, members)
		b.StartTimer()
		if n, _, err := e.svc.Counts(ctx, user, r); err != nil || n == 0 {
			b.Fatalf("counts %d %v", n, err)
		}
	}
}
