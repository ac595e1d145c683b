package notifications

import (
	"encoding/binary"
	"math"

	"hearth/persist"
)

// listState is what pruning needs of one user's notification list: its
// length and, when known, the position of its oldest entry, where pruning
// starts instead of walking the list (or, on an LSM store, the deletion
// markers of entries pruned before) from its beginning.
type listState struct {
	n      uint64
	oldest uint64 // math.MaxUint64 for a known empty list
	known  bool   // oldest is known
}

// add counts an entry added at pos.
func (st *listState) add(pos uint64) {
	st.n++
	if st.known {
		st.oldest = min(st.oldest, pos)
	}
}

// maxCachedLists bounds the users whose listState is kept in memory; the
// others' lengths are read from the store when needed.
const maxCachedLists = 8192

// listCache keeps listState per user. Only the worker goroutine uses it,
// and only with states that a committed transaction wrote.
type listCache struct {
	users map[string]listState
}

func newListCache() *listCache { return &listCache{users: make(map[string]listState)} }

// load returns the user's list state, from memory or from the stored
// length.
func (c *listCache) load(tx persist.Tx, userID string) (listState, error) {
	if st, ok := c.users[userID]; ok {
		return st, nil
	}
	raw, err := getOptional(tx, listCountKey(userID))
	if err != nil {
		return listState{}, err
	}
	n, err := uint64Value(raw)
	if err != nil {
		return listState{}, err
	}
	if n == 0 {
		return listState{oldest: math.MaxUint64, known: true}, nil
	}
	return listState{n: n}, nil
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

// pruneList drops the oldest entries of the user's list beyond max,
// visiting only those and the next one, and stores the list's length.
func pruneList(tx persist.Tx, userID string, st listState, max uint64) (listState, error) {
	if st.n > max {
		opts := persist.IterOptions{Prefix: listPrefix(userID), KeysOnly: true}
		if st.known {
			opts.Start = listKey(userID, st.oldest)
		}
		it := tx.Iterate(opts)
		for st.n > max && it.Next() {
			if err := tx.Delete(it.Key()); err != nil {
				it.Close()
				return st, err
			}
			st.n--
		}
		st.oldest, st.known = math.MaxUint64, true
		if it.Next() {
			p, err := posSuffix(it.Key())
			if err != nil {
				it.Close()
				return st, err
			}
			st.oldest = p
		} else if it.Err() == nil {
			// The stored length was too high: the list is empty.
			st.n = 0
		}
		err := it.Err()
		it.Close()
		if err != nil {
			return st, err
		}
	}
	return st, tx.Set(listCountKey(userID), binary.BigEndian.AppendUint64(nil, st.n))
}
