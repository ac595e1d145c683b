package notifications

import (
	"context"
	"encoding/json"
	"strings"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/room"
)

// member is what evaluation needs of one m.room.member event.
type member struct {
	membership  string
	displayName string
}

// roomMembers is the membership of one room as of the last event evaluated
// in it, kept so that the next event only loads the member events that
// changed.
type roomMembers struct {
	ids    map[string]string // user ID -> m.room.member event ID
	info   map[string]member
	joined int64

	createID, plID string
	create, pl     *event.PDU
	levels         *auth.PowerLevels
}

// maxCachedRooms bounds the rooms whose membership is kept in memory.
const maxCachedRooms = 512

// memberCache keeps roomMembers per room. Only the worker goroutine uses
// it.
type memberCache struct {
	suffix string // ":" + server name: the end of local user IDs
	rooms  map[string]*roomMembers
}

func newMemberCache(serverName string) *memberCache {
	return &memberCache{suffix: ":" + serverName, rooms: make(map[string]*roomMembers)}
}

func (c *memberCache) local(userID string) bool { return strings.HasSuffix(userID, c.suffix) }

// at returns the room's members in state, loading only the state events
// that differ from the cached ones.
func (c *memberCache) at(ctx context.Context, rooms Rooms, roomID string, state room.State) (*roomMembers, error) {
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
	need := room.State{}
	members := 0
	for k, id := range state {
		switch {
		case k.Type == "m.room.member":
			members++
			if rm.ids[k.StateKey] != id {
				need[k] = id
			}
		case k.Type == "m.room.create" && k.StateKey == "" && id != rm.createID,
			k.Type == "m.room.power_levels" && k.StateKey == "" && id != rm.plID:
			need[k] = id
		}
	}
	if members != len(rm.ids) {
		// A member left the state altogether (a state reset): forget
		// those that are gone.
		for u := range rm.ids {
			if _, ok := state[room.StateKeyOf("m.room.member", u)]; !ok {
				rm.forget(u)
			}
		}
	}
	if _, ok := state[room.StateKeyOf("m.room.power_levels", "")]; !ok && rm.plID != "" {
		rm.plID, rm.pl, rm.levels = "", nil, nil
	}
	if len(need) == 0 && rm.levels != nil {
		return rm, nil
	}
	evs, err := rooms.StateEvents(ctx, need)
	if err != nil {
		delete(c.rooms, roomID)
		return nil, err
	}
	levelsChanged := rm.levels == nil
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
	if levelsChanged && (rm.create != nil || rm.pl != nil) {
		// Power levels that do not parse (content an old room version
		// let through) leave levels nil: everyone then has level 0 and
		// sender_notification_permission never matches, rather than
		// the event notifying nobody.
		rm.levels, _ = auth.ParsePowerLevels(rm.pl, rm.create)
	}
	return rm, nil
}

// forget drops a member from the cache.
func (rm *roomMembers) forget(userID string) {
	if rm.info[userID].membership == "join" {
		rm.joined--
	}
	delete(rm.ids, userID)
	delete(rm.info, userID)
}
