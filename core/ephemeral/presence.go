package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"hearth/core/streampos"
	"hearth/persist"
)

// Presence states.
const (
	Online      = "online"
	Unavailable = "unavailable"
	Offline     = "offline"
)

// Presence activity rules: a user active within CurrentlyActiveWindow is
// currently_active while online, and activity refreshes the stored last
// active time at most once per ActiveWriteInterval.
const (
	CurrentlyActiveWindow = 5 * time.Minute
	ActiveWriteInterval   = time.Minute
)

// Presence is local users' presence, shown to the users who share a room
// with them. It implements the sync contract's Presence source. It is safe
// for concurrent use.
type Presence struct {
	cfg    *Config
	stream *streampos.Stream
}

// presenceRecord is one user's stored presence.
type presenceRecord struct {
	Presence  string  `json:"p"`
	StatusMsg *string `json:"s,omitempty"`
	// LastActive is the time of the user's last pro-active event, Unix
	// ms; 0 if never.
	LastActive int64 `json:"a,omitempty"`
	// Pos is the position of the last change others were told of.
	Pos uint64 `json:"pos"`
}

func newPresence(ctx context.Context, cfg *Config) (*Presence, error) {
	var last uint64
	err := cfg.Store.View(ctx, func(tx persist.Tx) (err error) {
		last, err = persist.GetUint64(tx, []byte(keyPresenceLast))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral: open presence: %w", err)
	}
	return &Presence{cfg: cfg, stream: streampos.New(last)}, nil
}

// Position returns the position up to which every presence change is
// durable and visible to Changes.
func (p *Presence) Position() uint64 {
	pos, _ := p.stream.Position()
	return pos
}

// Stream returns the position and a channel closed when it next moves,
// for long-polling readers that wait on the stream itself.
func (p *Presence) Stream() (uint64, <-chan struct{}) { return p.stream.Position() }

// Status is a user's presence as GET /presence/{userId}/status and the
// content of m.presence show it.
type Status struct {
	Presence        string  `json:"presence"`
	LastActiveAgo   *int64  `json:"last_active_ago,omitempty"`
	StatusMsg       *string `json:"status_msg,omitempty"`
	CurrentlyActive *bool   `json:"currently_active,omitempty"`
}

// status presents a record at time now.
func (rec presenceRecord) status(now time.Time) Status {
	s := Status{Presence: rec.Presence, StatusMsg: rec.StatusMsg}
	if s.Presence == "" {
		s.Presence = Offline
	}
	if rec.LastActive > 0 {
		ago := max(now.UnixMilli()-rec.LastActive, 0)
		s.LastActiveAgo = &ago
		if s.Presence == Online {
			active := time.Duration(ago)*time.Millisecond < CurrentlyActiveWindow
			s.CurrentlyActive = &active
		}
	}
	return s
}

// load reads a user's record; found is false when there is none.
func loadPresence(tx persist.Tx, userID string) (rec presenceRecord, found bool, err error) {
	raw, err := tx.Get(presenceKey(userID))
	if errors.Is(err, persist.ErrNotFound) {
		return presenceRecord{}, false, nil
	}
	if err != nil {
		return presenceRecord{}, false, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return presenceRecord{}, false, fmt.Errorf("ephemeral: corrupt presence of %s: %w", userID, err)
	}
	return rec, true, nil
}

// update changes a user's record atomically. change returns whether others
// must be told (the record then takes a new position); it may also change
// the record without telling (a refreshed last active time), or leave it
// (returning false, false).
func (p *Presence) update(ctx context.Context, userID string, change func(rec *presenceRecord, found bool) (write, publish bool)) error {
	return p.updateHook(ctx, userID, true, change)
}

// updateHook is update; local says whether OnPresence hears of a change.
func (p *Presence) updateHook(ctx context.Context, userID string, local bool, change func(rec *presenceRecord, found bool) (write, publish bool)) error {
	pos := p.stream.Allocate()
	finished := false
	finish := func() {
		if !finished {
			finished = true
			p.stream.Finish(pos)
		}
	}
	defer finish()
	published := false
	var stored presenceRecord
	err := p.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		published = false
		rec, found, err := loadPresence(tx, userID)
		if err != nil {
			return err
		}
		old := rec.Pos
		write, publish := change(&rec, found)
		// Even when unused, the position may reach clients' tokens: it
		// must not be reused after a restart.
		if err := raiseLast(tx, keyPresenceLast, pos); err != nil {
			return err
		}
		if !write && !publish {
			return nil
		}
		if publish {
			if found && old != 0 {
				if err := tx.Delete(presenceLogKey(old)); err != nil {
					return err
				}
			}
			rec.Pos = pos
			if err := tx.Set(presenceLogKey(pos), []byte(userID)); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		published, stored = publish, rec
		return tx.Set(presenceKey(userID), raw)
	})
	if err != nil {
		return fmt.Errorf("ephemeral: store presence: %w", err)
	}
	finish()
	if published && local && p.cfg.OnPresence != nil {
		p.cfg.OnPresence(userID, stored.status(p.cfg.Now()))
	}
	if published {
		users, err := p.cfg.Rooms.SharedUsers(ctx, userID)
		if err != nil {
			// Stored; the others see it at their next sync.
			users = nil
		}
		wakeWhenVisible(p.stream, pos, p.cfg.Wake, append(users, userID)...)
	}
	return nil
}

// Set sets the user's presence and status message, for PUT
// /presence/{userId}/status: presence is online, unavailable or offline
// (ErrInvalid otherwise); a nil statusMsg clears the message. Going online
// counts as activity.
func (p *Presence) Set(ctx context.Context, userID, presence string, statusMsg *string) error {
	switch presence {
	case Online, Unavailable, Offline:
	default:
		return fmt.Errorf("%w: presence must be online, unavailable or offline", ErrInvalid)
	}
	now := p.cfg.Now().UnixMilli()
	return p.update(ctx, userID, func(rec *presenceRecord, found bool) (bool, bool) {
		changed := !found || rec.Presence != presence || !equalStatus(rec.StatusMsg, statusMsg)
		rec.Presence, rec.StatusMsg = presence, statusMsg
		if presence == Online {
			rec.LastActive = now
		}
		return true, changed
	})
}

// SetRemote applies the presence of a user of another server (m.presence):
// its state, status message and how long ago they were last active. The
// caller (federation) has checked that the user belongs to the sending
// server. OnPresence is not called.
func (p *Presence) SetRemote(ctx context.Context, userID string, st Status) error {
	switch st.Presence {
	case Online, Unavailable, Offline:
	default:
		return fmt.Errorf("%w: presence must be online, unavailable or offline", ErrInvalid)
	}
	var lastActive int64
	if st.LastActiveAgo != nil {
		lastActive = p.cfg.Now().UnixMilli() - max(*st.LastActiveAgo, 0)
	}
	return p.updateHook(ctx, userID, false, func(rec *presenceRecord, found bool) (bool, bool) {
		changed := !found || rec.Presence != st.Presence || !equalStatus(rec.StatusMsg, st.StatusMsg) || lastActive > rec.LastActive
		rec.Presence, rec.StatusMsg = st.Presence, st.StatusMsg
		rec.LastActive = max(rec.LastActive, lastActive)
		return true, changed
	})
}

func equalStatus(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// Active records activity by the user (a message sent, a sync with
// set_presence=online): it bumps the last active time and sets the user
// online if they were not, which others are told of. The stored time is
// refreshed at most once per ActiveWriteInterval.
func (p *Presence) Active(ctx context.Context, userID string) error {
	now := p.cfg.Now().UnixMilli()
	fresh := func(rec *presenceRecord, found bool) bool {
		return found && rec.Presence == Online && now-rec.LastActive < ActiveWriteInterval.Milliseconds()
	}
	// Most calls change nothing: a read answers them without a write
	// transaction, which would take a stream position and a commit of its
	// own for every message a user sends.
	var skip bool
	err := p.cfg.Store.View(ctx, func(tx persist.Tx) error {
		rec, found, err := loadPresence(tx, userID)
		skip = err == nil && fresh(&rec, found)
		return err
	})
	if err != nil {
		return fmt.Errorf("ephemeral: read presence: %w", err)
	}
	if skip {
		return nil
	}
	return p.update(ctx, userID, func(rec *presenceRecord, found bool) (bool, bool) {
		if fresh(rec, found) {
			return false, false
		}
		publish := !found || rec.Presence != Online
		rec.Presence, rec.LastActive = Online, now
		return true, publish
	})
}

// Get returns userID's presence as viewer may see it, for GET
// /presence/{userId}/status: viewer must be userID or share a room with
// them (ErrNotVisible). A user who never set any is offline.
func (p *Presence) Get(ctx context.Context, viewer, userID string) (Status, error) {
	if viewer != userID {
		shared, err := p.cfg.Rooms.SharedUsers(ctx, viewer)
		if err != nil {
			return Status{}, fmt.Errorf("ephemeral: shared users: %w", err)
		}
		if !slices.Contains(shared, userID) {
			return Status{}, fmt.Errorf("%w: %s", ErrNotVisible, userID)
		}
	}
	var rec presenceRecord
	err := p.cfg.Store.View(ctx, func(tx persist.Tx) (err error) {
		rec, _, err = loadPresence(tx, userID)
		return err
	})
	if err != nil {
		return Status{}, err
	}
	return rec.status(p.cfg.Now()), nil
}

// presenceEvent is an m.presence event.
type presenceEvent struct {
	Type    string `json:"type"`
	Sender  string `json:"sender"`
	Content Status `json:"content"`
}

// Changes returns m.presence events for the users who share a room with
// userID (and userID), whose presence changed at positions in (from, to];
// with from == 0, of every such user who has set a presence. It reads
// whichever is smaller: the changes in the window or the shared users.
func (p *Presence) Changes(ctx context.Context, userID string, from, to uint64) ([]json.RawMessage, error) {
	if to <= from {
		return nil, nil
	}
	shared, err := p.cfg.Rooms.SharedUsers(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("ephemeral: shared users: %w", err)
	}
	if !slices.Contains(shared, userID) {
		shared = append(shared, userID)
	}
	now := p.cfg.Now()
	var out []json.RawMessage
	emit := func(user string, rec presenceRecord) error {
		raw, err := json.Marshal(presenceEvent{Type: "m.presence", Sender: user, Content: rec.status(now)})
		if err == nil {
			out = append(out, raw)
		}
		return err
	}
	err = p.cfg.Store.View(ctx, func(tx persist.Tx) error {
		if from != 0 && to-from < uint64(len(shared)) {
			set := make(map[string]bool, len(shared))
			for _, u := range shared {
				set[u] = true
			}
			it := tx.Iterate(persist.IterOptions{Start: presenceLogKey(from + 1), End: presenceLogKey(to + 1)})
			defer it.Close()
			for it.Next() {
				user := string(it.Value())
				if !set[user] {
					continue
				}
				rec, found, err := loadPresence(tx, user)
				if err != nil {
					return err
				}
				if found {
					if err := emit(user, rec); err != nil {
						return err
					}
				}
			}
			return it.Err()
		}
		slices.Sort(shared)
		for _, user := range shared {
			rec, found, err := loadPresence(tx, user)
			if err != nil {
				return err
			}
			if found && rec.Pos > from && rec.Pos <= to {
				if err := emit(user, rec); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral: presence changes: %w", err)
	}
	return out, nil
}
