package notifications

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The key layout over the persist store. Every key starts with
// "notifications/" so that other core packages can share the store.
//
//	notifications/read/<user> 0x00 <room> 0x00 <thread>            -> <pos:8 BE>, how far the user has read ("" thread: unthreaded)
//	notifications/floor/<user> 0x00 <room>                         -> <pos:8 BE>, every event up to it is read
//	notifications/pusher/<user> 0x00 <app ID> 0x00 <pushkey>       -> Pusher (JSON)
//	notifications/pushkey/<app ID> 0x00 <pushkey> 0x00 <user>      -> empty: which users have a pusher for a pushkey
//
// A notification is unread while its position is above the floor, above
// max(read marker "", read marker of its thread), and above the user's
// latest own event in its thread. Positions are room stream positions.
// The push rules themselves are account data (m.push_rules, in
// core/accountdata). User IDs, room IDs, event IDs, app IDs and pushkeys
// never contain 0x00 (pushers with one are refused), which makes it a safe
// separator.
//
// Stores written before notifications were evaluated lazily also hold
// keys under notifications/unread/, count/, list/ and listn/, which
// nothing reads any more.
const (
	prefixRead    = "notifications/read/"
	prefixFloor   = "notifications/floor/"
	prefixPusher  = "notifications/pusher/"
	prefixPushkey = "notifications/pushkey/"
)

var errCorrupt = errors.New("notifications: corrupt record")

func readPrefix(userID, roomID string) []byte {
	return []byte(prefixRead + userID + "\x00" + roomID + "\x00")
}

func readKey(userID, roomID, thread string) []byte {
	return append(readPrefix(userID, roomID), thread...)
}

func floorKey(userID, roomID string) []byte {
	return []byte(prefixFloor + userID + "\x00" + roomID)
}

func pusherPrefix(userID string) []byte { return []byte(prefixPusher + userID + "\x00") }

func pusherKey(userID, appID, pushkey string) []byte {
	return []byte(prefixPusher + userID + "\x00" + appID + "\x00" + pushkey)
}

func pushkeyPrefix(appID, pushkey string) []byte {
	return []byte(prefixPushkey + appID + "\x00" + pushkey + "\x00")
}

func pushkeyKey(appID, pushkey, userID string) []byte {
	return append(pushkeyPrefix(appID, pushkey), userID...)
}

// uint64Value reads a value of one big-endian number, 0 when absent.
func uint64Value(raw []byte) (uint64, error) {
	if raw == nil {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("%w: value %x", errCorrupt, raw)
	}
	return binary.BigEndian.Uint64(raw), nil
}
