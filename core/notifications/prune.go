package notifications

import (
	"encoding/binary"
	"fmt"

	"hearth/persist"
)

// listState is what writing and pruning need of one user's notification
// list, stored under its listn key: its length, its oldest chunk, where
// pruning starts instead of walking the list (or, on an LSM store, the
// deletion markers of chunks pruned before) from its beginning, and the
// widest position range of a chunk, which bounds how far List looks.
type listState struct {
	n uint64
	// oldestMin and oldestMax name the oldest chunk by key, which holds
	// oldestN entries; all three are meaningful only when n > 0.
	oldestMin, oldestMax, oldestN uint64
	// span is at least maxpos-minpos of every stored chunk.
	span uint64
}

const listStateLen = 5 * 8

func (st listState) encode() []byte {
	b := make([]byte, 0, listStateLen)
	for _, v := range []uint64{st.n, st.oldestMin, st.oldestMax, st.oldestN, st.span} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// readListState reads the user's stored list state; a missing one is an
// empty list.
func readListState(tx persist.Tx, userID string) (listState, error) {
	raw, err := getOptional(tx, listCountKey(userID))
	switch {
	case err != nil:
		return listState{}, err
	case raw == nil:
		return listState{}, nil
	case len(raw) != listStateLen:
		return listState{}, fmt.Errorf("%w: list state %x", errCorrupt, raw)
	}
	var v [5]uint64
	for i := range v {
		v[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	return listState{n: v[0], oldestMin: v[1], oldestMax: v[2], oldestN: v[3], span: v[4]}, nil
}

// maxCachedLists bounds the users whose listState is kept in memory; the
// others' are read from the store when needed.
const maxCachedLists = 8192

// listCache keeps listState per user. Only the worker goroutine uses it,
// and only with states that a committed transaction wrote.
type listCache struct {
	users map[string]listState
}

func newListCache() *listCache { return &listCache{users: make(map[string]listState)} }

// load returns the user's list state, from memory or from the store.
func (c *listCache) load(tx persist.Tx, userID string) (listState, error) {
	if st, ok := c.users[userID]; ok {
		return st, nil
	}
	return readListState(tx, userID)
}

// put keeps a state that is now committed.
func (c *listCache) put(userID string, st listState) {
	if _, ok := c.users[userID]; !ok && len(c.users) >= maxCachedLists {
		for u := range c.users {
			delete(c.users, u)
			break
		}
	}
	c.users[userID] = st
}

// listChunk is one batch's entries for one user's list, encoded.
type listChunk struct {
	minPos, maxPos, n uint64
	value             []byte
}

// appendList stores a chunk in the user's list, prunes the list to about
// limit entries and stores the list's state.
func appendList(tx persist.Tx, userID string, st listState, c listChunk, limit uint64) (listState, error) {
	if err := tx.Set(listKey(userID, c.minPos, c.maxPos), c.value); err != nil {
		return st, err
	}
	if st.n == 0 || c.minPos < st.oldestMin || c.minPos == st.oldestMin && c.maxPos < st.oldestMax {
		st.oldestMin, st.oldestMax, st.oldestN = c.minPos, c.maxPos, c.n
	}
	st.n += c.n
	st.span = max(st.span, c.maxPos-c.minPos)
	if st.n >= limit+st.oldestN {
		var err error
		if st, err = pruneList(tx, userID, st, limit); err != nil {
			return st, err
		}
	}
	return st, tx.Set(listCountKey(userID), st.encode())
}

// pruneList drops the user's oldest chunks while at least limit entries
// remain without them, visiting only those and the next one.
func pruneList(tx persist.Tx, userID string, st listState, limit uint64) (listState, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: listPrefix(userID), Start: listKey(userID, st.oldestMin, st.oldestMax)})
	defer it.Close()
	for it.Next() {
		lo, hi, err := listKeyRange(it.Key())
		if err != nil {
			return st, err
		}
		n, err := chunkRecords(it.Value())
		if err != nil {
			return st, fmt.Errorf("list chunk %q: %w", it.Key(), err)
		}
		if st.n < limit+n {
			st.oldestMin, st.oldestMax, st.oldestN = lo, hi, n
			return st, nil
		}
		if err := tx.Delete(it.Key()); err != nil {
			return st, err
		}
		st.n -= n
	}
	if err := it.Err(); err != nil {
		return st, err
	}
	// The stored length was too high: the list is empty.
	return listState{}, nil
}
