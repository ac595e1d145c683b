package e2ee

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"hearth/persist"
)

// The key layout over the persist store. Names inside keys (user, device,
// room and session IDs, algorithms, key IDs) never contain 0x00, which
// separates them; positions, sequence and version numbers are 8-byte
// big-endian so that byte order is numeric order.
//
//	e2ee/dk/<user> 0 <device>                        -> device keys (canonical JSON, as uploaded, no unsigned)
//	e2ee/otk/<user> 0 <device> 0 <alg> 0 <seq:8> <key ID> -> one-time key (canonical JSON)
//	e2ee/otkid/<user> 0 <device> 0 <alg> 0 <key ID>  -> seq:8 of that one-time key
//	e2ee/otkn/<user> 0 <device>                      -> otkState (JSON): counts per algorithm, next seq
//	e2ee/fbk/<user> 0 <device> 0 <alg>               -> fallbackKey (JSON)
//	e2ee/xs/<user> 0 <usage>                         -> cross-signing key (canonical JSON, as uploaded)
//	e2ee/sig/<user> 0 <key> 0 <signer> 0 <signer key ID> -> signature uploaded through /keys/signatures/upload
//	e2ee/dl/<pos:8>                                  -> user ID whose device list changed at pos
//	e2ee/dlu/<user> 0 <pos:8>                        -> empty: the user's device list changed at pos
//	e2ee/td/<user> 0 <device> 0 <pos:8>              -> to-device message {"sender","type","content"}
//	e2ee/tdtxn/<user> 0 <device> 0 <sha256 of txn ID> -> empty: the device sent that transaction
//	e2ee/tdpos                                       -> highest to-device position written (8 bytes)
//	e2ee/bv/<user> 0 <version:8>                     -> backupVersion (JSON)
//	e2ee/bvnext/<user>                               -> next backup version number (8 bytes)
//	e2ee/bk/<user> 0 <version:8> 0 <room> 0 <session> -> backed-up room key (canonical JSON)
//
// In e2ee/sig/, <key> is the device ID for a device's keys and the public
// key for a cross-signing key; signatures that came with an upload stay
// inside the uploaded JSON instead.
const (
	prefixDeviceKeys = "e2ee/dk/"
	prefixOTK        = "e2ee/otk/"
	prefixOTKID      = "e2ee/otkid/"
	prefixOTKState   = "e2ee/otkn/"
	prefixFallback   = "e2ee/fbk/"
	prefixCross      = "e2ee/xs/"
	prefixSig        = "e2ee/sig/"
	prefixList       = "e2ee/dl/"
	prefixUserList   = "e2ee/dlu/"
	prefixInbox      = "e2ee/td/"
	prefixTxn        = "e2ee/tdtxn/"
	keyToDevicePos   = "e2ee/tdpos"
	prefixBackup     = "e2ee/bv/"
	prefixBackupNext = "e2ee/bvnext/"
	prefixBackupKey  = "e2ee/bk/"
)

// key joins prefix and parts with 0x00 separators.
func key(prefix string, parts ...string) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n+8)
	b = append(b, prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// under returns the prefix of every key that continues key(prefix, parts...)
// with further parts.
func under(prefix string, parts ...string) []byte { return append(key(prefix, parts...), 0) }

func appendUint(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

func deviceKeysKey(user, device string) []byte { return key(prefixDeviceKeys, user, device) }

func otkPrefix(user, device, alg string) []byte { return under(prefixOTK, user, device, alg) }

func otkKey(user, device, alg string, seq uint64, keyID string) []byte {
	return append(appendUint(otkPrefix(user, device, alg), seq), keyID...)
}

func otkIDKey(user, device, alg, keyID string) []byte {
	return key(prefixOTKID, user, device, alg, keyID)
}

func otkStateKey(user, device string) []byte { return key(prefixOTKState, user, device) }

func fallbackKeyKey(user, device, alg string) []byte { return key(prefixFallback, user, device, alg) }

func crossSigningKey(user, usage string) []byte { return key(prefixCross, user, usage) }

func sigPrefix(user, target string) []byte { return under(prefixSig, user, target) }

func sigKey(user, target, signer, signerKeyID string) []byte {
	return key(prefixSig, user, target, signer, signerKeyID)
}

func listKey(pos uint64) []byte { return appendUint([]byte(prefixList), pos) }

func userListKey(user string, pos uint64) []byte { return appendUint(under(prefixUserList, user), pos) }

func inboxPrefix(user, device string) []byte { return under(prefixInbox, user, device) }

func inboxKey(user, device string, pos uint64) []byte {
	return appendUint(inboxPrefix(user, device), pos)
}

func txnKey(user, device, txnID string) []byte {
	sum := sha256.Sum256([]byte(txnID))
	return append(under(prefixTxn, user, device), sum[:]...)
}

func backupKey(user string, version uint64) []byte {
	return appendUint(under(prefixBackup, user), version)
}

func backupNextKey(user string) []byte { return key(prefixBackupNext, user) }

func backupKeysPrefix(user string, version uint64) []byte {
	return append(appendUint(under(prefixBackupKey, user), version), 0)
}

func backupRoomPrefix(user string, version uint64, room string) []byte {
	return append(append(backupKeysPrefix(user, version), room...), 0)
}

func backupSessionKey(user string, version uint64, room, session string) []byte {
	return append(backupRoomPrefix(user, version, room), session...)
}

// errCorrupt reports a stored value that cannot be read back.
var errCorrupt = errors.New("e2ee: corrupt record")

func decodeUint(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d-byte number", errCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// get reads k, reporting absence as ok == false rather than an error.
func get(tx persist.Tx, k []byte) (v []byte, ok bool, err error) {
	v, err = tx.Get(k)
	if errors.Is(err, persist.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// deletePrefix removes every key that starts with p.
func deletePrefix(tx persist.Tx, p []byte) error {
	it := tx.Iterate(persist.IterOptions{Prefix: p, KeysOnly: true})
	defer it.Close()
	for it.Next() {
		if err := tx.Delete(it.Key()); err != nil {
			return err
		}
	}
	return it.Err()
}
