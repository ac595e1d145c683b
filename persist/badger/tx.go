//go:build !js

package badger

import (
	"errors"
	"fmt"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// txState is what read-only and read-write transactions share: the
// finished flag, the open iterators and a buffer for building keys.
type txState struct {
	done  bool
	iters []*iterator
	kbuf  []byte
}

// internalKey returns key with dataPrefix, in a buffer reused by the next
// call.
func (st *txState) internalKey(key []byte) []byte {
	st.kbuf = append(append(st.kbuf[:0], dataPrefix), key...)
	return st.kbuf
}

func (st *txState) check(op string, key []byte) error {
	if st.done {
		return fmt.Errorf("persist/badger: %s: %w", op, persist.ErrTxDone)
	}
	if err := persist.CheckKey(key); err != nil {
		return fmt.Errorf("persist/badger: %s: %w", op, err)
	}
	return nil
}

// finish ends the transaction and closes the iterators left open, which
// BadgerDB requires before discarding its transaction.
func (st *txState) finish() {
	st.done = true
	for _, it := range st.iters {
		if !it.closed {
			it.Close()
			it.err = fmt.Errorf("persist/badger: iterate: %w", persist.ErrTxDone)
		}
	}
	st.iters = nil
}

func (st *txState) iterate(base *snapshot, overlay *tree.Tree[entry], opts persist.IterOptions) persist.Iterator {
	if st.done {
		return &iterator{err: fmt.Errorf("persist/badger: iterate: %w", persist.ErrTxDone)}
	}
	it := newIterator(base, overlay, opts)
	st.iters = append(st.iters, it)
	return it
}

// get reads key from a BadgerDB transaction.
func get(txn *bdb.Txn, ikey []byte) ([]byte, error) {
	item, err := txn.Get(ikey)
	if errors.Is(err, bdb.ErrKeyNotFound) {
		return nil, &persist.NotFoundError{Backend: "persist/badger", Key: string(ikey[1:])}
	}
	if err != nil {
		return nil, fmt.Errorf("persist/badger: get %q: %w", ikey[1:], err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("persist/badger: get %q: reading value: %w", ikey[1:], err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// fromOverlay reads ikey from overlay: a copy of its value, or an error
// wrapping ErrNotFound for a deletion; found is false when overlay has no
// write of ikey.
func fromOverlay(overlay *tree.Tree[entry], ikey []byte) (value []byte, found bool, err error) {
	e, found := overlay.Get(ikey)
	switch {
	case !found:
		return nil, false, nil
	case e.del:
		return nil, true, &persist.NotFoundError{Backend: "persist/badger", Key: string(ikey[1:])}
	}
	return clone(e.value), true, nil
}

// readTx is a read-only transaction on a snapshot of the databases, under
// the writes they do not have yet.
type readTx struct {
	txState
	s    *Store
	snap snapshot
	view tree.Tree[entry] // frozen
}

func (tx *readTx) finish() {
	tx.txState.finish()
	tx.snap.discard()
}

func (tx *readTx) Get(key []byte) ([]byte, error) {
	if err := tx.check("get", key); err != nil {
		return nil, err
	}
	ikey := tx.internalKey(key)
	if v, found, err := fromOverlay(&tx.view, ikey); found {
		return v, err
	}
	return get(tx.snap.txn(ikey), ikey)
}

func (tx *readTx) Set(key, value []byte) error {
	return tx.readOnly("set")
}

func (tx *readTx) Delete(key []byte) error {
	return tx.readOnly("delete")
}

func (tx *readTx) readOnly(op string) error {
	if tx.done {
		return fmt.Errorf("persist/badger: %s: %w", op, persist.ErrTxDone)
	}
	return fmt.Errorf("persist/badger: %s: %w", op, persist.ErrReadOnly)
}

func (tx *readTx) Iterate(opts persist.IterOptions) persist.Iterator {
	if tx.view.Len() == 0 {
		return tx.iterate(&tx.snap, nil, opts)
	}
	return tx.iterate(&tx.snap, &tx.view, opts)
}

// writeTx is a read-write transaction: its writes go to the group's
// overlay, its reads see the overlay on top of the group's snapshot.
type writeTx struct {
	txState
	g    *group
	used usage
	log  []op
}

// call runs r's callback on tx and ends tx, recording a panic in r.
func (tx *writeTx) call(r *request) (err error) {
	defer tx.finish()
	defer func() {
		if v := recover(); v != nil {
			r.panicked, r.panicVal = true, v
		}
	}()
	return r.fn(tx)
}

func (tx *writeTx) Get(key []byte) ([]byte, error) {
	if err := tx.check("get", key); err != nil {
		return nil, err
	}
	ikey := tx.internalKey(key)
	if v, found, err := fromOverlay(&tx.g.overlay, ikey); found {
		return v, err
	}
	return get(tx.g.baseSnapshot().txn(ikey), ikey)
}

func (tx *writeTx) Set(key, value []byte) error {
	return tx.write("set", key, value, false)
}

func (tx *writeTx) Delete(key []byte) error {
	return tx.write("delete", key, nil, true)
}

func (tx *writeTx) write(name string, key, value []byte, del bool) error {
	if err := tx.check(name, key); err != nil {
		return err
	}
	lim := tx.g.s.lim
	used := tx.used.plus(usage{lim.cost(1+len(key), len(value)), 1, int64(1 + len(key) + len(value))})
	if !lim.fits(used) {
		return fmt.Errorf("persist/badger: %s: %w: over %d bytes or %d writes", name, persist.ErrTxTooBig, lim.size, lim.count)
	}
	// One allocation holds the key, with its prefix, and the value.
	buf := make([]byte, 1+len(key)+len(value))
	buf[0] = dataPrefix
	copy(buf[1:], key)
	copy(buf[1+len(key):], value)
	o := op{key: buf[: 1+len(key) : 1+len(key)], entry: entry{value: buf[1+len(key):], del: del}}
	tx.g.overlay.Set(o.key, o.entry)
	tx.log = append(tx.log, o)
	tx.used = used
	return nil
}

func (tx *writeTx) Iterate(opts persist.IterOptions) persist.Iterator {
	if tx.done {
		// The group is no longer this transaction's to read.
		return tx.iterate(nil, nil, opts)
	}
	return tx.iterate(tx.g.baseSnapshot(), &tx.g.overlay, opts)
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
