package ephemeral

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"hearth/core/streampos"
)

// Typing timeouts: the default when a client gives none, and the longest
// the server honours.
const (
	DefaultTypingTimeout = 30 * time.Second
	MaxTypingTimeout     = 120 * time.Second
)

// Typing is who is typing in which room, in memory: positions restart at 0
// with the server. It implements the sync contract's Typing source. It is
// safe for concurrent use.
type Typing struct {
	cfg    *Config
	stream *streampos.Stream

	mu    sync.Mutex
	rooms map[string]*typingRoom
	due   expiryHeap
}

// typingRoom is one room's typers and the position of its last change.
// Rooms stay in the map once typed in, so that a client whose token
// predates the last typer's stop still learns of it.
type typingRoom struct {
	until map[string]time.Time
	pos   uint64
}

// expiry is a typer's timeout, queued by time.
type expiry struct {
	at           time.Time
	room, userID string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newTyping(cfg *Config) *Typing {
	return &Typing{cfg: cfg, stream: streampos.New(0), rooms: make(map[string]*typingRoom)}
}

// bump gives a room's change the next position; the caller holds mu.
func (t *Typing) bump(tr *typingRoom) {
	p := t.stream.Allocate()
	t.stream.Finish(p)
	tr.pos = p
}

// sweep drops the typers whose time is up and returns the rooms that
// changed; the caller holds mu.
func (t *Typing) sweep(now time.Time) []string {
	var changed []string
	for len(t.due) > 0 && !t.due[0].at.After(now) {
		e := heap.Pop(&t.due).(expiry)
		tr := t.rooms[e.room]
		if at, ok := tr.until[e.userID]; !ok || !at.Equal(e.at) {
			continue // stopped or extended since
		}
		delete(tr.until, e.userID)
		if !slices.Contains(changed, e.room) {
			changed = append(changed, e.room)
		}
	}
	for _, r := range changed {
		t.bump(t.rooms[r])
	}
	return changed
}

// expire sweeps and wakes the rooms whose typers timed out.
func (t *Typing) expire() {
	t.mu.Lock()
	changed := t.sweep(t.cfg.Now())
	t.mu.Unlock()
	t.wakeRooms(context.Background(), changed)
}

// wakeRooms wakes the local members of rooms.
func (t *Typing) wakeRooms(ctx context.Context, rooms []string) {
	for _, r := range rooms {
		members, err := t.cfg.Rooms.JoinedLocalMembers(ctx, r)
		if err == nil {
			t.cfg.Wake(members...)
		}
	}
}

// Set records that the user started (typing true, for timeout) or
// stopped typing in the room, for PUT /rooms/{roomId}/typing/{userId}.
// The user must be joined (ErrNotJoined). A timeout of 0 means
// DefaultTypingTimeout, and timeouts are capped at MaxTypingTimeout.
func (t *Typing) Set(ctx context.Context, userID, roomID string, typing bool, timeout time.Duration) error {
	if err := joined(ctx, t.cfg.Rooms, userID, roomID); err != nil {
		return err
	}
	t.set(ctx, userID, roomID, typing, timeout)
	if t.cfg.OnTyping != nil {
		t.cfg.OnTyping(roomID, userID, typing)
	}
	return nil
}

// SetRemote applies a typing notification from another server (m.typing).
// The caller (federation) has checked that the user is joined to the room
// and belongs to the sending server; OnTyping is not called.
func (t *Typing) SetRemote(ctx context.Context, userID, roomID string, typing bool, timeout time.Duration) {
	t.set(ctx, userID, roomID, typing, timeout)
}

// set records a typing change and wakes the room.
func (t *Typing) set(ctx context.Context, userID, roomID string, typing bool, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultTypingTimeout
	}
	timeout = min(timeout, MaxTypingTimeout)
	now := t.cfg.Now()
	t.mu.Lock()
	changed := t.sweep(now)
	tr := t.rooms[roomID]
	if tr == nil {
		tr = &typingRoom{until: make(map[string]time.Time)}
		t.rooms[roomID] = tr
	}
	_, was := tr.until[userID]
	if typing {
		at := now.Add(timeout)
		tr.until[userID] = at
		heap.Push(&t.due, expiry{at: at, room: roomID, userID: userID})
	} else {
		delete(tr.until, userID)
	}
	if was != typing {
		t.bump(tr)
		if !slices.Contains(changed, roomID) {
			changed = append(changed, roomID)
		}
	}
	t.mu.Unlock()
	if typing && t.cfg.AfterFunc != nil {
		t.cfg.AfterFunc(timeout, t.expire)
	}
	t.wakeRooms(ctx, changed)
}

// Position returns the position of the latest typing change, first
// retiring typers whose time is up (each retirement is a change).
func (t *Typing) Position() uint64 {
	p, _ := t.Stream()
	return p
}

// Stream is Position with a channel closed when the position next moves,
// for long-polling readers that wait on the stream itself.
func (t *Typing) Stream() (uint64, <-chan struct{}) {
	t.mu.Lock()
	changed := t.sweep(t.cfg.Now())
	p, moved := t.stream.Position()
	t.mu.Unlock()
	if len(changed) > 0 {
		go t.wakeRooms(context.Background(), changed)
	}
	return p, moved
}

// Changes returns the current typers, sorted, of each of roomIDs whose
// typing changed at a position in (from, to]. With from == 0, or from
// beyond the current position (a token from before a restart), it returns
// every room of roomIDs with someone typing.
func (t *Typing) Changes(_ context.Context, roomIDs []string, from, to uint64) (map[string][]string, error) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, _ := t.stream.Position(); from > p {
		from = 0
	}
	var out map[string][]string
	for _, r := range roomIDs {
		tr := t.rooms[r]
		if tr == nil {
			continue
		}
		users := []string{}
		for u, at := range tr.until {
			if at.After(now) {
				users = append(users, u)
			}
		}
		if from == 0 && len(users) == 0 || from != 0 && (tr.pos <= from || tr.pos > to) {
			continue
		}
		slices.Sort(users)
		if out == nil {
			out = make(map[string][]string)
		}
		out[r] = users
	}
	return out, nil
}
