package accountdata

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The key layout over the persist store. Every key starts with
// "accountdata/" so that other core packages can share the store.
//
//	accountdata/v/<user> 0x00 <room> 0x00 <type>  -> <pos:8 BE> <content JSON>
//	accountdata/log/<user> 0x00 <pos:8 BE>        -> <room> 0x00 <type>
//	accountdata/last                              -> <pos:8 BE>, the highest position written
//
// Global account data has an empty room. The log keeps one entry per
// (user, room, type): the position of its latest write; a write deletes the
// entry of the write it replaces, so reading a user's changes since a
// position costs what changed, and reading everything costs what the user
// has stored. User IDs, room IDs and types never contain 0x00 (the
// handlers refuse such types), which makes it a safe separator.
const (
	prefixValue = "accountdata/v/"
	prefixLog   = "accountdata/log/"
	keyLast     = "accountdata/last"
)

func valueKey(userID, roomID, typ string) []byte {
	return []byte(prefixValue + userID + "\x00" + roomID + "\x00" + typ)
}

func logPrefix(userID string) []byte { return []byte(prefixLog + userID + "\x00") }

func logKey(userID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(logPrefix(userID), pos)
}

// encodeValue stores content behind its position.
func encodeValue(pos uint64, content []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(content)), pos), content...)
}

func decodeValue(raw []byte) (uint64, []byte, error) {
	if len(raw) < 8 {
		return 0, nil, fmt.Errorf("accountdata: corrupt value of %d bytes", len(raw))
	}
	return binary.BigEndian.Uint64(raw), raw[8:], nil
}

// splitRef splits a log entry into its room and type.
func splitRef(ref []byte) (roomID, typ string, err error) {
	roomID, typ, ok := strings.Cut(string(ref), "\x00")
	if !ok {
		return "", "", fmt.Errorf("accountdata: corrupt log entry %q", ref)
	}
	return roomID, typ, nil
}
