package memory

import (
	"fmt"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// txn is a transaction over a private copy of the tree. Writes modify the
// copy; the store publishes it on commit.
type txn struct {
	t        tree.Tree[[]byte]
	readOnly bool
	done     bool
	iters    []*iterator
}

func (tx *txn) finish() {
	tx.done = true
	for _, it := range tx.iters {
		if !it.closed {
			it.err = fmt.Errorf("persist/memory: iterate: %w", persist.ErrTxDone)
			it.Close()
		}
	}
	tx.iters = nil
}

func (tx *txn) check(op string, key []byte, write bool) error {
	if tx.done {
		return fmt.Errorf("persist/memory: %s: %w", op, persist.ErrTxDone)
	}
	if write && tx.readOnly {
		return fmt.Errorf("persist/memory: %s: %w", op, persist.ErrReadOnly)
	}
	if err := persist.CheckKey(key); err != nil {
		return fmt.Errorf("persist/memory: %s: %w", op, err)
	}
	return nil
}

func (tx *txn) Get(key []byte) ([]byte, error) {
	if err := tx.check("get", key, false); err != nil {
		return nil, err
	}
	v, ok := tx.t.Get(key)
	if !ok {
		return nil, &persist.NotFoundError{Backend: "persist/memory", Key: string(key)}
	}
	return clone(v), nil
}

func (tx *txn) Set(key, value []byte) error {
	if err := tx.check("set", key, true); err != nil {
		return err
	}
	// One allocation holds the key and the value; the tree never changes
	// either, so snapshots may share them.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	tx.t.Set(buf[:len(key):len(key)], buf[len(key):])
	return nil
}

func (tx *txn) Delete(key []byte) error {
	if err := tx.check("delete", key, true); err != nil {
		return err
	}
	tx.t.Delete(key)
	return nil
}

func (tx *txn) Iterate(opts persist.IterOptions) persist.Iterator {
	it := &iterator{keysOnly: opts.KeysOnly}
	if tx.done {
		it.err = fmt.Errorf("persist/memory: iterate: %w", persist.ErrTxDone)
		return it
	}
	lower, upper := opts.Bounds()
	tx.t.InitIter(&it.it, lower, upper, opts.Reverse)
	tx.iters = append(tx.iters, it)
	return it
}

// iterator walks a frozen snapshot of the transaction's tree and copies
// each key and value it yields.
type iterator struct {
	it         tree.Iter[[]byte]
	keysOnly   bool
	closed     bool
	err        error
	key, value []byte
}

func (it *iterator) Next() bool {
	it.key, it.value = nil, nil
	if it.closed || it.err != nil || !it.it.Next() {
		return false
	}
	k := it.it.Key()
	if it.keysOnly {
		it.key = clone(k)
		return true
	}
	v := it.it.Value()
	buf := make([]byte, len(k)+len(v))
	copy(buf, k)
	copy(buf[len(k):], v)
	it.key, it.value = buf[:len(k):len(k)], buf[len(k):]
	return true
}

func (it *iterator) Key() []byte   { return it.key }
func (it *iterator) Value() []byte { return it.value }
func (it *iterator) Err() error    { return it.err }

func (it *iterator) Close() {
	if !it.closed {
		it.closed = true
		it.it = tree.Iter[[]byte]{}
	}
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
