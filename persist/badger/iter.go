//go:build !js

package badger

import (
	"bytes"
	"fmt"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// iterator merges the BadgerDB iterators over a snapshot (one per database
// that may hold keys in range) with the overlay of pending writes of a
// read-write transaction (nil for read-only ones). For a key in both, the
// overlay wins; deletions in the overlay hide the key.
type iterator struct {
	base    baseIterator
	ov      *tree.Iter[entry] // nil without an overlay
	ovOK    bool              // ov is positioned on a key
	lower   []byte            // inclusive, with dataPrefix
	upper   []byte            // exclusive, with dataPrefix
	reverse bool
	values  bool

	key, value []byte
	err        error
	closed     bool
}

func newIterator(snap *snapshot, overlay *tree.Tree[entry], opts persist.IterOptions) *iterator {
	it := &iterator{reverse: opts.Reverse, values: !opts.KeysOnly}
	// Translate the bounds to internal keys; both are always set, since
	// every key the store writes lies in [dataPrefix, dataPrefix+1).
	lower, upper := opts.Bounds()
	it.lower = append([]byte{dataPrefix}, lower...)
	if upper != nil {
		it.upper = append([]byte{dataPrefix}, upper...)
	} else {
		it.upper = []byte{dataPrefix + 1}
	}
	if persist.Empty(it.lower, it.upper) {
		return it // with neither source, Next returns false
	}

	bopts := bdb.IteratorOptions{Reverse: opts.Reverse}
	if !opts.Reverse {
		// The prefix lets BadgerDB skip tables without matching keys.
		// Reverse iteration cannot use it: it seeks to the upper bound,
		// which need not have the prefix.
		// Every key in [lower, upper) begins with their common prefix too,
		// which is often longer than opts.Prefix (a Start/End range of
		// positions has none): badger's Seek and Next skip deleted and
		// overwritten keys one by one until they find live ones, and stop
		// at the end of the prefix, so a longer prefix ends that walk sooner
		// past the upper bound.
		bopts.Prefix = append([]byte{dataPrefix}, opts.Prefix...)
		if common := commonPrefix(it.lower, it.upper); len(common) > len(bopts.Prefix) {
			bopts.Prefix = common
		}
	}
	inMain, inValues := snap.p.spans(it.lower, it.upper)
	var main, values *bdb.Iterator
	if inMain {
		main = it.seek(snap.mainTxn().NewIterator(bopts))
	}
	if inValues {
		values = it.seek(snap.valuesTxn().NewIterator(bopts))
	}
	switch {
	case main == nil:
		it.base = values
	case values == nil:
		it.base = main
	default:
		it.base = &mergedIterator{a: main, b: values, reverse: opts.Reverse}
	}
	if overlay != nil {
		it.ov = overlay.Iter(it.lower, it.upper, opts.Reverse)
		it.ovOK = it.ov.Next()
	}
	return it
}

// seek positions bi on the first key in range, in iteration order.
func (it *iterator) seek(bi *bdb.Iterator) *bdb.Iterator {
	if it.reverse {
		bi.Seek(it.upper)
		// Seeking backwards lands on the largest key <= upper; upper
		// itself is excluded.
		if bi.Valid() && bytes.Equal(bi.Item().Key(), it.upper) {
			bi.Next()
		}
	} else {
		bi.Seek(it.lower)
	}
	return bi
}

// baseIterator is the part of a BadgerDB iterator that iterator uses, so
// that it can read two databases' iterators merged as one.
type baseIterator interface {
	Valid() bool
	Item() *bdb.Item
	Next()
	Close()
}

// mergedIterator walks two positioned BadgerDB iterators, over databases
// that never hold the same key, in key order (or reverse key order).
type mergedIterator struct {
	a, b    *bdb.Iterator
	reverse bool
}

// cur returns the iterator whose key comes first, or nil if both are done.
func (m *mergedIterator) cur() *bdb.Iterator {
	switch {
	case !m.a.Valid():
		if m.b.Valid() {
			return m.b
		}
		return nil
	case !m.b.Valid():
		return m.a
	}
	c := bytes.Compare(m.a.Item().Key(), m.b.Item().Key())
	if m.reverse {
		c = -c
	}
	if c <= 0 {
		return m.a
	}
	return m.b
}

func (m *mergedIterator) Valid() bool     { return m.cur() != nil }
func (m *mergedIterator) Item() *bdb.Item { return m.cur().Item() }
func (m *mergedIterator) Next()           { m.cur().Next() }

func (m *mergedIterator) Close() {
	m.a.Close()
	m.b.Close()
}

// commonPrefix returns the longest prefix that a and b share.
func commonPrefix(a, b []byte) []byte {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n:n]
}

// baseKey returns the base iterator's current key, or nil if it is done or
// out of range.
func (it *iterator) baseKey() []byte {
	if it.base == nil || !it.base.Valid() {
		return nil
	}
	k := it.base.Item().Key()
	if it.reverse {
		if bytes.Compare(k, it.lower) < 0 {
			return nil
		}
	} else if bytes.Compare(k, it.upper) >= 0 {
		return nil
	}
	return k
}

func (it *iterator) Next() bool {
	it.key, it.value = nil, nil
	if it.closed || it.err != nil {
		return false
	}
	for {
		bk := it.baseKey()
		if bk == nil && !it.ovOK {
			return false
		}
		// c < 0 when the base key comes first in iteration order.
		c := 1
		switch {
		case bk == nil:
		case !it.ovOK:
			c = -1
		default:
			c = bytes.Compare(bk, it.ov.Key())
			if it.reverse {
				c = -c
			}
		}
		if c < 0 {
			if err := it.load(it.base.Item()); err != nil {
				it.err = err
				return false
			}
			it.base.Next()
			return true
		}
		k, e := it.ov.Key(), it.ov.Value()
		it.ovOK = it.ov.Next()
		if c == 0 {
			it.base.Next() // the overlay replaces this key
		}
		if e.del {
			continue
		}
		it.set(k, e.value)
		return true
	}
}

// load copies the key and value of a BadgerDB item.
func (it *iterator) load(item *bdb.Item) error {
	if !it.values {
		it.set(item.Key(), nil)
		return nil
	}
	err := item.Value(func(v []byte) error {
		it.set(item.Key(), v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("persist/badger: iterate: reading value of %q: %w", item.Key()[1:], err)
	}
	return nil
}

// set copies an internal key and a value into one caller-owned buffer.
func (it *iterator) set(ikey, value []byte) {
	k := ikey[1:]
	if !it.values {
		it.key = clone(k)
		return
	}
	buf := make([]byte, len(k)+len(value))
	copy(buf, k)
	copy(buf[len(k):], value)
	it.key, it.value = buf[:len(k):len(k)], buf[len(k):]
}

func (it *iterator) Key() []byte   { return it.key }
func (it *iterator) Value() []byte { return it.value }
func (it *iterator) Err() error    { return it.err }

func (it *iterator) Close() {
	if it.closed {
		return
	}
	it.closed = true
	if it.base != nil {
		it.base.Close()
		it.base = nil
	}
	it.ov = nil
	it.key, it.value = nil, nil
}
