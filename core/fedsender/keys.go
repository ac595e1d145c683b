package fedsender

import (
	"encoding/binary"
	"fmt"
)

// The key layout over the persist store. Every key starts with
// "fedsender/" so that other core packages can share the store.
//
//	fedsender/q/<destination> 0x00 <seq:8 BE>  -> kind byte ('p' PDU, 'e' EDU) + raw JSON
//	fedsender/in/<pos:8 BE>                    -> event ID of a local event awaiting fan-out
//	fedsender/counter                          -> <n:8 BE>
//
// A destination's queue is ordered by sequence number; an entry is deleted
// only once a transaction carrying it was answered with 200. The "in" log
// is written in the transaction that stores a local event (Index), so an
// event the DAG committed is never lost: the fan-out turns each entry into
// queue entries for the room's servers and deletes it in one transaction.
// The counter is the reserved upper bound of sequence numbers and
// transaction IDs, reserved in blocks so that none is reused after a
// restart. Server names never contain 0x00.
const (
	prefixQueue = "fedsender/q/"
	prefixIn    = "fedsender/in/"
	keyCounter  = "fedsender/counter"
)

// Queue entry kinds.
const (
	kindPDU = 'p'
	kindEDU = 'e'
)

func queuePrefix(dest string) []byte { return []byte(prefixQueue + dest + "\x00") }

func queueKey(dest string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(queuePrefix(dest), seq)
}

// destOf returns the destination a queue key belongs to.
func destOf(key []byte) (string, error) {
	rest := key[len(prefixQueue):]
	for i, b := range rest {
		if b == 0 {
			return string(rest[:i]), nil
		}
	}
	return "", fmt.Errorf("fedsender: corrupt queue key %q", key)
}

func inKey(pos uint64) []byte { return binary.BigEndian.AppendUint64([]byte(prefixIn), pos) }
