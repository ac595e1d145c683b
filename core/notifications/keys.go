package notifications

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The key layout over the persist store. Every key starts with
// "notifications/" so that other core packages can share the store.
//
//	notifications/unread/<user> 0x00 <room> 0x00 <maxpos:8 BE>     -> unread chunk: notifications not yet read (chunk.go)
//	notifications/count/<user> 0x00 <room>                         -> <notifications:8 BE> <highlights:8 BE>, the unread entries counted
//	notifications/read/<user> 0x00 <room> 0x00 <thread>            -> <pos:8 BE>, how far the user has read ("" thread: unthreaded)
//	notifications/list/<user> 0x00 <minpos:8 BE> <maxpos:8 BE>     -> list chunk: one batch's entries for GET /notifications (chunk.go)
//	notifications/listn/<user>                                     -> listHead: the list's length and oldest chunk
//	notifications/pusher/<user> 0x00 <app ID> 0x00 <pushkey>       -> Pusher (JSON)
//	notifications/pushkey/<app ID> 0x00 <pushkey> 0x00 <user>      -> empty: which users have a pusher for a pushkey
//
// Each transaction of the evaluator writes, per (user, room) it touches,
// at most one new unread chunk, keyed by the largest position in it, and
// per user one list chunk, keyed by its smallest and largest positions.
// Unread chunks hold only entries still unread: an entry is read once its
// position is at most max(read marker "", read marker of its thread), and
// moving a marker drops the entries it reads from the chunks, rewriting a
// chunk that keeps some under its new largest position.
//
// Positions are the room stream's positions of the events that notified.
// The push rules themselves are account data (m.push_rules, in
// core/accountdata). User IDs, room IDs, event IDs, app IDs and pushkeys
// never contain 0x00 (pushers with one are refused), which makes it a safe
// separator.
const (
	prefixUnread  = "notifications/unread/"
	prefixCount   = "notifications/count/"
	prefixRead    = "notifications/read/"
	prefixList    = "notifications/list/"
	prefixListN   = "notifications/listn/"
	prefixPusher  = "notifications/pusher/"
	prefixPushkey = "notifications/pushkey/"
)

var errCorrupt = errors.New("notifications: corrupt record")

func unreadPrefix(userID, roomID string) []byte {
	return []byte(prefixUnread + userID + "\x00" + roomID + "\x00")
}

func unreadKey(userID, roomID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(unreadPrefix(userID, roomID), pos)
}

func countKey(userID, roomID string) []byte { return []byte(prefixCount + userID + "\x00" + roomID) }

func readKey(userID, roomID, thread string) []byte {
	return []byte(prefixRead + userID + "\x00" + roomID + "\x00" + thread)
}

func listPrefix(userID string) []byte { return []byte(prefixList + userID + "\x00") }

func listKey(userID string, minPos, maxPos uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(listPrefix(userID), minPos), maxPos)
}

// listKeyRange reads the positions that end a list chunk's key.
func listKeyRange(key []byte) (minPos, maxPos uint64, err error) {
	if len(key) < 16 {
		return 0, 0, fmt.Errorf("%w: key %q", errCorrupt, key)
	}
	return binary.BigEndian.Uint64(key[len(key)-16:]), binary.BigEndian.Uint64(key[len(key)-8:]), nil
}

func listCountKey(userID string) []byte { return []byte(prefixListN + userID) }

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

// posSuffix reads the big-endian position that ends key.
func posSuffix(key []byte) (uint64, error) {
	if len(key) < 8 {
		return 0, fmt.Errorf("%w: key %q", errCorrupt, key)
	}
	return binary.BigEndian.Uint64(key[len(key)-8:]), nil
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
