package room

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The room DAG's key layout over the persist store. Every key starts with
// "room/" so that other core packages can share the store.
//
//	room/ev/<event ID>                      -> eventRecord (binary, see encodeRecord)
//	room/meta/<room ID>                     -> roomMeta (JSON), perhaps behind (see metaEvery)
//	room/tl/<room ID> 0x00 <pos:8 BE>       -> event ID (the room's timeline, in stream order)
//	room/streamtop                          -> pos:8 BE, above every stream position used
//	room/stream/<pos:8 BE>                  -> room ID 0x00 event ID (written by older versions)
//	room/sg/<group:8 BE>                    -> stateGroup (JSON)
//	room/redacted/<event ID>                -> ID of the redaction that redacts it
//	room/user/<user ID> 0x00 <room ID>      -> Membership (JSON), local users only
//	room/ulog/<user ID> 0x00 <pos:8 BE>     -> room ID whose membership changed at pos
//
// Positions and group numbers are big-endian so that byte order is numeric
// order, and the highest group is found at start-up by iterating its
// prefix backwards. Stream positions restart above room/streamtop, which
// is raised a block at a time (see streamBlock) rather than recorded per
// event. Room and event IDs never contain 0x00, which makes it a safe
// separator.
const (
	prefixEvent  = "room/ev/"
	prefixMeta   = "room/meta/"
	prefixTL     = "room/tl/"
	prefixStream = "room/stream/"
	prefixGroup  = "room/sg/"
	prefixRedact = "room/redacted/"
	prefixUser   = "room/user/"
	prefixULog   = "room/ulog/"
)

// EventKeyPrefix starts the keys of the records of a room's events. A
// record is written when its event is stored and rewritten only when an
// outlier joins its room's DAG; records are never deleted. So a store may
// keep these values in a log that never reclaims space, as
// persist/badger.WithValueLog does.
const EventKeyPrefix = prefixEvent

func eventKey(id string) []byte { return []byte(prefixEvent + id) }
func metaKey(roomID string) []byte {
	return []byte(prefixMeta + roomID)
}

func timelinePrefix(roomID string) []byte { return []byte(prefixTL + roomID + "\x00") }

func timelineKey(roomID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(timelinePrefix(roomID), pos)
}

// streamTopKey holds a stream position above every position used.
var streamTopKey = []byte("room/streamtop")

func redactedKey(id string) []byte { return []byte(prefixRedact + id) }

func userRoomsPrefix(userID string) []byte { return []byte(prefixUser + userID + "\x00") }

func userRoomKey(userID, roomID string) []byte {
	return append(userRoomsPrefix(userID), roomID...)
}

func userLogPrefix(userID string) []byte { return []byte(prefixULog + userID + "\x00") }

func userLogKey(userID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(userLogPrefix(userID), pos)
}

func groupKey(g uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixGroup), g)
}

// eventStatus says how an event stands in its room.
type eventStatus byte

const (
	// statusAccepted events passed every check and are part of the room.
	statusAccepted eventStatus = 1
	// statusSoftFailed events passed the checks against their own past but
	// not against the room's current state: kept, never shown or built on.
	statusSoftFailed eventStatus = 2
	// statusRejected events failed authorisation: kept so that they are
	// not fetched again, never used.
	statusRejected eventStatus = 3
	// statusOutlier events are known (for example as auth events) but
	// have no known place in the DAG and no state.
	statusOutlier eventStatus = 4
)

// eventRecord is what the store keeps for one event.
type eventRecord struct {
	status  eventStatus
	version string // room version ID
	pos     uint64 // stream position; 0 for events not in the timeline
	group   uint64 // state group after the event; 0 when unknown
	// txn is the client transaction that sent the event, if any.
	txn Transaction
	// advances says the room's metadata after the event is its metadata
	// before, advanced by the event (roomMeta.advance), and may not have
	// been stored: see DAG.meta.
	advances bool
	json     []byte // the event as accepted
}

// Flags in a stored record's status byte. Records written before they
// existed never have them.
const (
	// recordHasTxn says the record holds a transaction.
	recordHasTxn = 0x80
	// recordAdvances is eventRecord.advances.
	recordAdvances = 0x40
)

// encodeRecord lays a record out as: status and flags(1) pos(8) group(8)
// len(version)(1) version, then, when the status byte has recordHasTxn,
// the transaction's user, device and transaction IDs, each a uvarint
// length and the bytes; then json.
func encodeRecord(r eventRecord) []byte {
	size := 18 + len(r.version) + len(r.json)
	status := byte(r.status)
	if r.advances {
		status |= recordAdvances
	}
	if r.txn != (Transaction{}) {
		status |= recordHasTxn
		size += 3*binary.MaxVarintLen32 + len(r.txn.UserID) + len(r.txn.DeviceID) + len(r.txn.TxnID)
	}
	b := make([]byte, 0, size)
	b = append(b, status)
	b = binary.BigEndian.AppendUint64(b, r.pos)
	b = binary.BigEndian.AppendUint64(b, r.group)
	b = append(b, byte(len(r.version)))
	b = append(b, r.version...)
	if status&recordHasTxn != 0 {
		for _, f := range []string{r.txn.UserID, r.txn.DeviceID, r.txn.TxnID} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
	}
	return append(b, r.json...)
}

var errCorrupt = errors.New("room: corrupt record")

func decodeRecord(b []byte) (eventRecord, error) {
	if len(b) < 18 {
		return eventRecord{}, fmt.Errorf("%w: event record of %d bytes", errCorrupt, len(b))
	}
	r := eventRecord{
		status:   eventStatus(b[0] &^ (recordHasTxn | recordAdvances)),
		advances: b[0]&recordAdvances != 0,
		pos:      binary.BigEndian.Uint64(b[1:9]),
		group:    binary.BigEndian.Uint64(b[9:17]),
	}
	n := int(b[17])
	if len(b) < 18+n {
		return eventRecord{}, fmt.Errorf("%w: event record version overruns", errCorrupt)
	}
	r.version = string(b[18 : 18+n])
	rest := b[18+n:]
	if b[0]&recordHasTxn != 0 {
		var fields [3]string
		for i := range fields {
			l, k := binary.Uvarint(rest)
			if k <= 0 || l > uint64(len(rest)-k) {
				return eventRecord{}, fmt.Errorf("%w: event record transaction overruns", errCorrupt)
			}
			fields[i] = string(rest[k : k+int(l)])
			rest = rest[k+int(l):]
		}
		r.txn = Transaction{UserID: fields[0], DeviceID: fields[1], TxnID: fields[2]}
	}
	r.json = rest
	return r, nil
}
