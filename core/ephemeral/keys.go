package ephemeral

import (
	"encoding/binary"

	"hearth/persist"
)

// The key layout over the persist store. Every key starts with
// "ephemeral/" so that other core packages can share the store. Typing is
// kept in memory only.
//
//	ephemeral/receipts/r/<room> 0x00 <user> 0x00 <type> 0x00 <thread>  -> receiptRecord (JSON)
//	ephemeral/receipts/s/<room> 0x00 <pos:8 BE>                        -> <user> 0x00 <type> 0x00 <thread>
//	ephemeral/receipts/last                                            -> <pos:8 BE>
//	ephemeral/presence/u/<user>                                        -> presenceRecord (JSON)
//	ephemeral/presence/s/<pos:8 BE>                                    -> <user>
//	ephemeral/presence/last                                            -> <pos:8 BE>
//
// Each receipt (room, user, type, thread; thread "" for unthreaded) keeps
// its latest value, and each room's log keeps one entry per receipt, at the
// position of its latest change: a change deletes the entry it replaces.
// So reading a room's receipts since a position costs what changed, and
// reading them all costs one entry per receipt. Presence works the same
// way, one log entry per user. The "last" keys hold the highest position
// written, read at start-up. IDs never contain 0x00, nor do the receipt
// types and thread IDs the handlers accept.
const (
	prefixReceipt    = "ephemeral/receipts/r/"
	prefixReceiptLog = "ephemeral/receipts/s/"
	keyReceiptLast   = "ephemeral/receipts/last"
	prefixPresence   = "ephemeral/presence/u/"
	prefixPresLog    = "ephemeral/presence/s/"
	keyPresenceLast  = "ephemeral/presence/last"
)

func receiptRef(userID, typ, thread string) string { return userID + "\x00" + typ + "\x00" + thread }

func receiptKey(roomID, ref string) []byte { return []byte(prefixReceipt + roomID + "\x00" + ref) }

func receiptLogPrefix(roomID string) []byte { return []byte(prefixReceiptLog + roomID + "\x00") }

func receiptLogKey(roomID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(receiptLogPrefix(roomID), pos)
}

func presenceKey(userID string) []byte { return []byte(prefixPresence + userID) }

func presenceLogKey(pos uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixPresLog), pos)
}

// raiseLast records pos under key unless a higher position is there.
func raiseLast(tx persist.Tx, key string, pos uint64) error {
	last, err := persist.GetUint64(tx, []byte(key))
	if err != nil || last >= pos {
		return err
	}
	return tx.Set([]byte(key), binary.BigEndian.AppendUint64(nil, pos))
}
