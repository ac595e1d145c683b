package homeserver

import (
	"context"
	"sync"
	"time"

	"hearth/core/room"
)

// roomWaker wakes the long-polling syncs of a room's local members when
// events are added to it. Events that arrive while a wake of their room is
// still queued join it, so that a batch of sends costs one member lookup,
// not one per event.
type roomWaker struct {
	members interface {
		JoinedLocalMembers(ctx context.Context, roomID string) ([]string, error)
	}
	wake    func(users ...string)
	wakeAll func()
	log     func(msg string, args ...any)

	mu sync.Mutex
	// pending holds the rooms with a wake queued, each with the extra
	// users to wake: targets of membership changes, who may not be
	// members (an invitee).
	pending map[string][]string
}

// accepted queues a wake of the event's room, unless one is queued
// already. It never blocks on the room, so it is safe under its lock.
func (w *roomWaker) accepted(a room.Added) {
	roomID := a.Event.RoomID()
	w.mu.Lock()
	extra, queued := w.pending[roomID]
	if k, ok := a.Event.StateKey(); ok && a.Event.Type() == "m.room.member" {
		extra = append(extra, k)
	}
	if w.pending == nil {
		w.pending = make(map[string][]string)
	}
	w.pending[roomID] = extra
	w.mu.Unlock()
	if !queued {
		go w.run(roomID)
	}
}

// run wakes the room's members and the extra users queued for it. It
// takes the queue entry only after looking the members up, so that events
// accepted meanwhile share this wake (a member who joined meanwhile is among
// the extra users); events accepted after that queue a wake of their own.
func (w *roomWaker) run(roomID string) {
	users, err := w.members.JoinedLocalMembers(context.Background(), roomID)
	w.mu.Lock()
	extra := w.pending[roomID]
	delete(w.pending, roomID)
	w.mu.Unlock()
	if err != nil {
		w.log("waking a room's members", "room", roomID, "err", err)
		w.wakeAll()
		return
	}
	w.wake(append(users, extra...)...)
}

// syncPace is the least time between two sync answers to one device (see
// syncer.Config.Pace). Under a steady stream of events it adds at most this
// to their delivery, and it makes a client that keeps up with a busy room
// get several events per answer instead of one.
const syncPace = 4 * time.Millisecond

// sleepWith makes a sleep out of an AfterFunc, or nil without one.
func sleepWith(afterFunc func(d time.Duration, f func())) func(d time.Duration) {
	if afterFunc == nil {
		return nil
	}
	return func(d time.Duration) {
		done := make(chan struct{})
		afterFunc(d, func() { close(done) })
		<-done
	}
}
