package notifications

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"hearth/persist/memory"
)

// thread sends a text message by sender into root's thread.
func (e *env) thread(roomID, sender, root, body string) uint64 {
	e.t.Helper()
	_, p := e.send(roomID, sender, map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
	return p
}

func TestReceiptInOneThreadKeepsOthers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	a, _ := e.text(r, alice, "root a")
	b, _ := e.text(r, alice, "root b")
	ta := e.thread(r, alice, a.ID(), "in a")
	e.thread(r, alice, b.ID(), "in b")
	e.thread(r, alice, a.ID(), "in a again")
	if got := e.counts(bob, r); got != [2]int{5, 0} {
		t.Fatalf("counts %v, want 5 0", got)
	}
	// A receipt in thread a, even far ahead, reads only thread a.
	if err := e.svc.MarkRead(ctx, bob, r, a.ID(), ta+100); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{3, 0} {
		t.Fatalf("after a receipt in thread a %v, want 3 0 (two roots and thread b)", got)
	}
	// Bob's own message in thread b reads thread b only.
	e.thread(r, bob, b.ID(), "reply in b")
	if got := e.counts(bob, r); got != [2]int{2, 0} {
		t.Fatalf("after replying in thread b %v, want 2 0 (the roots)", got)
	}
	// New messages in both threads count again, above the own event.
	e.thread(r, alice, b.ID(), "b again")
	e.thread(r, alice, a.ID(), "a, read by the marker ahead")
	if got := e.counts(bob, r); got != [2]int{3, 0} {
		t.Fatalf("after more %v, want 3 0", got)
	}
	e.restart()
	if got := e.counts(bob, r); got != [2]int{3, 0} {
		t.Fatalf("after a restart %v, want 3 0", got)
	}
}

func TestCountsBeyondMaxWalk(t *testing.T) {
	e := newEnvOn(t, memory.New(), Config{MaxWalk: 10})
	ctx := context.Background()
	r := e.createRoom(bob)
	var pos []uint64
	for range 25 {
		_, p := e.text(r, alice, "flood")
		pos = append(pos, p)
	}
	// Only the newest 10 are evaluated, cold.
	if got := e.counts(bob, r); got != [2]int{10, 0} {
		t.Fatalf("cold counts %v, want 10 0", got)
	}
	// And warm: new ones push the oldest out.
	for range 3 {
		_, p := e.text(r, alice, "more")
		pos = append(pos, p)
	}
	if got := e.counts(bob, r); got != [2]int{10, 0} {
		t.Fatalf("warm counts %v, want 10 0", got)
	}
	e.restart()
	if got := e.counts(bob, r); got != [2]int{10, 0} {
		t.Fatalf("counts after a restart %v, want 10 0", got)
	}
	// A receipt within the newest ten leaves those after it.
	if err := e.svc.MarkRead(ctx, bob, r, "", pos[len(pos)-4]); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, r); got != [2]int{3, 0} {
		t.Fatalf("after a receipt %v, want 3 0", got)
	}
}

// TestModel sends random messages, in the main timeline and two threads,
// from alice and from bob, with random receipts from bob, and checks bob's
// counts against a model of the spec's rules after every step: from the
// long-lived Service (whose cache follows the changes, and which now and
// then restarts) and from a new one over the same store (nothing cached,
// walking from the stored floor).
func TestModel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	roots := []string{MainThread}
	for _, body := range []string{"root a", "root b"} {
		ev, _ := e.text(r, alice, body)
		roots = append(roots, ev.ID())
	}
	type msg struct {
		pos       uint64
		thread    string
		own       bool
		highlight bool
	}
	// The two roots are unread messages in the main timeline.
	var msgs []msg
	for _, id := range roots[1:] {
		info, err := e.dag.Info(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg{pos: info.Pos, thread: MainThread})
	}
	markers := map[string]uint64{}
	model := func() [2]int {
		var n, h int
		for i, m := range msgs {
			if m.own || m.pos <= max(markers[""], markers[m.thread]) {
				continue
			}
			read := false
			for _, later := range msgs[i+1:] {
				read = read || later.own && later.thread == m.thread
			}
			if !read {
				n++
				if m.highlight {
					h++
				}
			}
		}
		return [2]int{n, h}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 300 {
		th := roots[rng.IntN(len(roots))]
		switch k := rng.IntN(10); {
		case k < 6, k < 8 && len(msgs) == 0:
			m := msg{thread: th, own: k == 0, highlight: rng.IntN(5) == 0}
			sender := alice
			if m.own {
				sender = bob
			}
			content := map[string]any{"msgtype": "m.text", "body": "hi"}
			if m.highlight {
				content["m.mentions"] = map[string]any{"user_ids": []string{bob}}
			}
			if th != MainThread {
				content["m.relates_to"] = map[string]any{"rel_type": "m.thread", "event_id": th}
			}
			_, m.pos = e.send(r, sender, content)
			msgs = append(msgs, m)
		case k < 8:
			// A receipt at a random message, in its thread, in
			// another, or unthreaded.
			at := msgs[rng.IntN(len(msgs))].pos
			if rng.IntN(3) == 0 {
				th = ""
			}
			if err := e.svc.MarkRead(ctx, bob, r, th, at); err != nil {
				t.Fatal(err)
			}
			markers[th] = max(markers[th], at)
		case k == 8:
			e.restart()
		}
		want := model()
		if rng.IntN(2) == 0 {
			if got := e.counts(bob, r); got != want {
				t.Fatalf("step %d: counts %v, model %v", step, got, want)
			}
		}
		fresh, err := New(e.svc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n, h, err := fresh.Counts(ctx, bob, r); err != nil || [2]int{n, h} != want {
			t.Fatalf("step %d: uncached counts %v %v, model %v", step, [2]int{n, h}, err, want)
		}
	}
}

// TestConcurrentCountsAndMarkRead runs Counts, MarkRead and sends for
// several users at once (under -race, it checks the caches' locking), then
// checks that the cached counts equal those walked afresh.
func TestConcurrentCountsAndMarkRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := []string{bob, carol}
	r := e.createRoom(users...)
	root, _ := e.text(r, alice, "root")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	var mu sync.Mutex
	var sent []uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 60 {
			var p uint64
			if i%3 == 0 {
				p = e.thread(r, alice, root.ID(), fmt.Sprint(i))
			} else {
				_, p = e.text(r, alice, fmt.Sprint(i))
			}
			mu.Lock()
			sent = append(sent, p)
			mu.Unlock()
		}
	}()
	for w, u := range users {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, _, err := e.svc.Counts(ctx, u, r); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 40 {
				mu.Lock()
				var at uint64
				if len(sent) > 0 {
					at = sent[rng.IntN(len(sent))]
				}
				mu.Unlock()
				th := []string{"", MainThread, root.ID()}[rng.IntN(3)]
				if err := e.svc.MarkRead(ctx, u, r, th, at); err != nil {
					errs <- err
					return
				}
				if _, _, err := e.svc.Counts(ctx, u, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fresh, err := New(e.svc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		got := e.counts(u, r)
		n, h, err := fresh.Counts(ctx, u, r)
		if err != nil || got != [2]int{n, h} {
			t.Fatalf("%s: cached counts %v, uncached %v %v", u, got, [2]int{n, h}, err)
		}
	}
}
