package syncer

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"hearth/core/room"
)

// maxCachedUsers bounds how many users' room lists a Syncer keeps in memory.
const maxCachedUsers = 1024

// memberCache keeps the room lists of recently syncing users, so that an
// incremental sync reads only the memberships that changed since the list
// was read instead of decoding every one of the user's rooms.
type memberCache struct {
	mu    sync.Mutex
	users map[string]*memberEntry
	order []string // insertion order, for eviction
}

// memberEntry is one user's rooms as the room DAG held them when the stream
// was complete up to pos. The map is never modified once cached.
type memberEntry struct {
	pos   uint64
	rooms map[string]room.Membership
}

func (c *memberCache) get(user string) *memberEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users[user]
}

func (c *memberCache) put(user string, e *memberEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil {
		c.users = map[string]*memberEntry{}
	}
	if old, ok := c.users[user]; ok {
		if old.pos <= e.pos {
			c.users[user] = e
		}
		return
	}
	if len(c.order) >= maxCachedUsers {
		delete(c.users, c.order[0])
		c.order = c.order[1:]
	}
	c.users[user] = e
	c.order = append(c.order, user)
}

// memberships returns every room in which user has or had a membership,
// reflecting at least every change at positions up to to (later changes may
// show too: callers check Membership.Pos against to).
func (s *Syncer) memberships(ctx context.Context, user string, to uint64) (map[string]room.Membership, error) {
	dag := s.cfg.DAG
	if e := s.members.get(user); e != nil {
		if e.pos >= to {
			return e.rooms, nil
		}
		changed, err := dag.MembershipChanges(ctx, user, e.pos, to)
		if err != nil {
			return nil, fmt.Errorf("syncer: membership changes of %s: %w", user, err)
		}
		rooms := e.rooms
		if len(changed) > 0 {
			rooms = maps.Clone(e.rooms)
			for _, id := range changed {
				m, err := dag.MembershipOf(ctx, user, id)
				if err != nil {
					return nil, fmt.Errorf("syncer: membership of %s in %s: %w", user, id, err)
				}
				rooms[id] = m
			}
		}
		s.members.put(user, &memberEntry{pos: to, rooms: rooms})
		return rooms, nil
	}
	rooms, err := dag.Rooms(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("syncer: rooms of %s: %w", user, err)
	}
	s.members.put(user, &memberEntry{pos: to, rooms: rooms})
	return rooms, nil
}
