package notifications

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/pushrules"
	"hearth/core/room"
)

// member is what evaluation needs of one m.room.member event.
type member struct {
	membership  string
	displayName string
}

// roomMembers is the membership of one room as of the last state it was
// brought to, kept so that the next state only loads the member events
// that changed. mu guards every field.
type roomMembers struct {
	mu     sync.Mutex
	ids    map[string]string // user ID -> m.room.member event ID
	info   map[string]member
	joined int64

	createID, plID string
	create, pl     *event.PDU
	levels         *auth.PowerLevels
	notifLevels    map[string]int64 // levels.Notifications(), read only
}

// maxCachedRooms bounds the rooms whose membership is kept in memory.
const maxCachedRooms = 512

// memberCache keeps roomMembers per room. It is safe for concurrent use:
// each room's entry is brought to the state of the event being evaluated
// under the entry's own lock.
type memberCache struct {
	suffix string // ":" + server name: the end of local user IDs
	mu     sync.Mutex
	rooms  map[string]*roomMembers
}

func newMemberCache(serverName string) *memberCache {
	return &memberCache{suffix: ":" + serverName, rooms: make(map[string]*roomMembers)}
}

func (c *memberCache) local(userID string) bool { return strings.HasSuffix(userID, c.suffix) }

// entry returns the room's entry, making one (and evicting any other when
// full) if there is none.
func (c *memberCache) entry(roomID string) *roomMembers {
	c.mu.Lock()
	defer c.mu.Unlock()
	rm, ok := c.rooms[roomID]
	if !ok {
		if len(c.rooms) >= maxCachedRooms {
			for r := range c.rooms {
				delete(c.rooms, r)
				break
			}
		}
		rm = &roomMembers{ids: make(map[string]string), info: make(map[string]member)}
		c.rooms[roomID] = rm
	}
	return rm
}

// drop forgets the room's entry if it is still rm.
func (c *memberCache) drop(roomID string, rm *roomMembers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms[roomID] == rm {
		delete(c.rooms, roomID)
	}
}

// evalContext is what evaluating one event for one user needs of the
// room's state after the event.
type evalContext struct {
	// membership is the user's membership in that state.
	membership string
	push       pushrules.Context
}

// context returns the evaluation context of an event by sender, for
// userID, in the room's state.
func (c *memberCache) context(ctx context.Context, rooms Rooms, roomID string, state room.State, userID, sender string) (evalContext, error) {
	rm := c.entry(roomID)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if err := rm.update(ctx, rooms, state); err != nil {
		c.drop(roomID, rm)
		return evalContext{}, err
	}
	m := rm.info[userID]
	ec := evalContext{membership: m.membership, push: pushrules.Context{
		UserID: userID, DisplayName: m.displayName, MemberCount: rm.joined,
	}}
	if rm.levels != nil {
		ec.push.SenderPowerLevel = rm.levels.UserLevel(sender)
		ec.push.NotificationPowerLevels = rm.notifLevels
	}
	return ec, nil
}

// update brings rm to state, loading only the state events that differ
// from those it holds. The caller holds rm.mu.
func (rm *roomMembers) update(ctx context.Context, rooms Rooms, state room.State) error {
	var need room.State // made when something is needed: usually nothing is
	members := 0
	for k, id := range state {
		switch {
		case k.Type == "m.room.member":
			members++
			if rm.ids[k.StateKey] == id {
				continue
			}
		case k.Type == "m.room.create" && k.StateKey == "" && id != rm.createID,
			k.Type == "m.room.power_levels" && k.StateKey == "" && id != rm.plID:
		default:
			continue
		}
		if need == nil {
			need = room.State{}
		}
		need[k] = id
	}
	if members != len(rm.ids) {
		// A member is not in this state at all (an older state, or a
		// state reset): forget those that are not.
		for u := range rm.ids {
			if _, ok := state[room.StateKeyOf("m.room.member", u)]; !ok {
				rm.forget(u)
			}
		}
	}
	levelsChanged := rm.levels == nil
	if _, ok := state[room.StateKeyOf("m.room.power_levels", "")]; !ok && rm.plID != "" {
		rm.plID, rm.pl, levelsChanged = "", nil, true
	}
	if len(need) == 0 && !levelsChanged {
		return nil
	}
	var evs map[event.StateKey]*event.PDU
	if len(need) > 0 {
		var err error
		if evs, err = rooms.StateEvents(ctx, need); err != nil {
			return err
		}
	}
	for k, ev := range evs {
		switch k.Type {
		case "m.room.member":
			rm.forget(k.StateKey)
			m := member{membership: ev.Membership()}
			var content struct {
				DisplayName any `json:"displayname"`
			}
			if json.Unmarshal(ev.Content(), &content) == nil {
				m.displayName, _ = content.DisplayName.(string)
			}
			rm.ids[k.StateKey] = ev.ID()
			rm.info[k.StateKey] = m
			if m.membership == "join" {
				rm.joined++
			}
		case "m.room.create":
			rm.createID, rm.create, levelsChanged = ev.ID(), ev, true
		case "m.room.power_levels":
			rm.plID, rm.pl, levelsChanged = ev.ID(), ev, true
		}
	}
	if levelsChanged {
		rm.levels, rm.notifLevels = nil, nil
		if rm.create != nil || rm.pl != nil {
			// Power levels that do not parse (content an old room
			// version let through) leave levels nil: everyone then
			// has level 0 and sender_notification_permission never
			// matches, rather than the event notifying nobody.
			if rm.levels, _ = auth.ParsePowerLevels(rm.pl, rm.create); rm.levels != nil {
				rm.notifLevels = rm.levels.Notifications()
			}
		}
	}
	return nil
}

// forget drops a member.
func (rm *roomMembers) forget(userID string) {
	if rm.info[userID].membership == "join" {
		rm.joined--
	}
	delete(rm.ids, userID)
	delete(rm.info, userID)
}
