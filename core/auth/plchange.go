package auth

import (
	"encoding/json"
	"fmt"

	"hearth/core/event"
)

// checkPowerLevels applies the m.room.power_levels rules to ev, given the
// room's current levels cur and the sender's level under them.
func checkPowerLevels(ev *event.PDU, state State, create *event.PDU, cur *PowerLevels, senderLevel int64) error {
	const rule = "m.room.power_levels"
	v := ev.Version()
	next, err := ParsePowerLevels(ev, create)
	if err != nil {
		// Before room version 10 the rules check only users before
		// allowing a room's first power levels; other values are judged
		// when a later change compares them.
		if v.IntegerPowerLevels || state.Get(powerLevelsKey) != nil {
			return deny(rule, "%v", err)
		}
		if err := checkUsersOnly(ev); err != nil {
			return deny(rule, "%v", err)
		}
		return nil
	}
	if v.PrivilegedCreators {
		for _, c := range next.creators {
			if _, ok := next.users[c]; ok {
				return deny(rule, "users names room creator %s", c)
			}
		}
	}
	if state.Get(powerLevelsKey) == nil {
		return nil
	}
	for i := range numNamed {
		changed := cur.set[i] != next.set[i] || (cur.set[i] && cur.named[i] != next.named[i])
		if !changed {
			continue
		}
		if cur.set[i] && cur.named[i] > senderLevel {
			return deny(rule, "%s is %d, above the sender's %d", namedKeys[i], cur.named[i], senderLevel)
		}
		if next.set[i] && next.named[i] > senderLevel {
			return deny(rule, "new %s %d is above the sender's %d", namedKeys[i], next.named[i], senderLevel)
		}
	}
	if err := checkLevelMap("events", cur.events, next.events, senderLevel); err != nil {
		return err
	}
	if v.NotificationsPowerLevels {
		if err := checkLevelMap("notifications", cur.notifs, next.notifs, senderLevel); err != nil {
			return err
		}
	}
	sender := ev.Sender()
	for user, old := range cur.users {
		if user == sender {
			continue
		}
		if n, ok := next.users[user]; ok && n == old {
			continue
		}
		if old >= senderLevel {
			return deny(rule, "cannot change %s at level %d, not below the sender's %d", user, old, senderLevel)
		}
	}
	for user, n := range next.users {
		if old, ok := cur.users[user]; ok && old == n {
			continue
		}
		if n > senderLevel {
			return deny(rule, "cannot give %s level %d, above the sender's %d", user, n, senderLevel)
		}
	}
	return nil
}

// checkLevelMap applies the rules for the events and notifications maps:
// an entry changed or removed must not be above the sender's level now, and
// one added or changed must not be above it after.
func checkLevelMap(name string, cur, next map[string]int64, senderLevel int64) error {
	for k, old := range cur {
		if n, ok := next[k]; ok && n == old {
			continue
		}
		if old > senderLevel {
			return deny("m.room.power_levels", "cannot change %s[%s] at level %d, above the sender's %d", name, k, old, senderLevel)
		}
	}
	for k, n := range next {
		if old, ok := cur[k]; ok && old == n {
			continue
		}
		if n > senderLevel {
			return deny("m.room.power_levels", "cannot set %s[%s] to %d, above the sender's %d", name, k, n, senderLevel)
		}
	}
	return nil
}

// checkUsersOnly applies the one content rule of room versions 1 to 9 that
// holds for a room's first power levels: users must map valid user IDs to
// integers (or integer strings).
func checkUsersOnly(ev *event.PDU) error {
	var c struct {
		Users json.RawMessage `json:"users"`
	}
	if err := json.Unmarshal(ev.Content(), &c); err != nil {
		return fmt.Errorf("%w: content is not an object", ErrInvalidPowerLevels)
	}
	if _, err := parseLevelMap(c.Users, ev.Version(), true); err != nil {
		return fmt.Errorf("%w: users: %v", ErrInvalidPowerLevels, err)
	}
	return nil
}
