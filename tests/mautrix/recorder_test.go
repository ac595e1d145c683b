package mautrix_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// recorder keeps every event that a client's mautrix syncer delivered, so a
// test can wait until one it expects has arrived.
type recorder struct {
	mu     sync.Mutex
	events []*event.Event
	syncs  int
	errs   []error
	moved  chan struct{} // closed and replaced whenever events grows
}

// startSync runs cli's mautrix sync loop until the test ends and records what
// its DefaultSyncer dispatches. Each setup func runs on the new syncer, which
// is already cli.Syncer, before the recorder's handler is added and the loop
// starts.
func startSync(t *testing.T, cli *mautrix.Client, setup ...func(*mautrix.DefaultSyncer)) *recorder {
	t.Helper()
	rec := &recorder{moved: make(chan struct{})}
	syncer := mautrix.NewDefaultSyncer()
	cli.Syncer = syncer
	for _, f := range setup {
		f(syncer)
	}
	syncer.OnEvent(func(_ context.Context, evt *event.Event) {
		rec.mu.Lock()
		rec.events = append(rec.events, evt)
		close(rec.moved)
		rec.moved = make(chan struct{})
		rec.mu.Unlock()
	})
	syncer.OnSync(func(context.Context, *mautrix.RespSync, string) bool {
		rec.mu.Lock()
		rec.syncs++
		rec.mu.Unlock()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.SyncWithContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				t.Errorf("%s: sync loop ended: %v", cli.UserID, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: sync loop did not stop", cli.UserID)
		}
	})
	return rec
}

// waitFor returns the first recorded event that match accepts, failing the
// test if none arrives within the timeout.
func (r *recorder) waitFor(t *testing.T, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		for _, evt := range r.events {
			if match(evt) {
				r.mu.Unlock()
				return evt
			}
		}
		moved := r.moved
		r.mu.Unlock()
		select {
		case <-moved:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
}

// all returns the recorded events that match accepts, in delivery order.
func (r *recorder) all(match func(*event.Event) bool) []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*event.Event
	for _, evt := range r.events {
		if match(evt) {
			out = append(out, evt)
		}
	}
	return out
}
