package tree

import "bytes"

// maxHeight bounds the height of an AVL tree: one of height 92 would need
// more nodes than fit in memory.
const maxHeight = 92

// Iter walks the keys of a tree in a half-open range [lower, upper), in
// ascending or descending order. It walks the snapshot taken when it was
// created and is unaffected by later writes to the tree.
type Iter[V any] struct {
	stack        [maxHeight]*node[V]
	n            int
	cur          *node[V]
	lower, upper []byte
	reverse      bool
}

// Iter returns an iterator over the keys k with lower <= k < upper; a nil
// bound leaves that side open. It freezes t, so that later writes to t do
// not disturb the iterator.
func (t *Tree[V]) Iter(lower, upper []byte, reverse bool) *Iter[V] {
	it := new(Iter[V])
	t.InitIter(it, lower, upper, reverse)
	return it
}

// InitIter is like Iter but reuses it, which lets callers embed an Iter in
// their own iterator and save an allocation.
func (t *Tree[V]) InitIter(it *Iter[V], lower, upper []byte, reverse bool) {
	t.Freeze()
	*it = Iter[V]{lower: lower, upper: upper, reverse: reverse}
	// Push the path to the first key: every node on the path that is in
	// the range and on the near side of it.
	for n := t.root; n != nil; {
		if !reverse {
			if lower == nil || bytes.Compare(n.key, lower) >= 0 {
				it.push(n)
				n = n.left
			} else {
				n = n.right
			}
		} else {
			if upper == nil || bytes.Compare(n.key, upper) < 0 {
				it.push(n)
				n = n.right
			} else {
				n = n.left
			}
		}
	}
}

func (it *Iter[V]) push(n *node[V]) {
	it.stack[it.n] = n
	it.n++
}

// Next advances to the next key in the range and reports whether there is
// one.
func (it *Iter[V]) Next() bool {
	if it.n == 0 {
		it.cur = nil
		return false
	}
	it.n--
	n := it.stack[it.n]
	it.stack[it.n] = nil
	if !it.reverse {
		for c := n.right; c != nil; c = c.left {
			it.push(c)
		}
		if it.upper != nil && bytes.Compare(n.key, it.upper) >= 0 {
			it.n, it.cur = 0, nil
			return false
		}
	} else {
		for c := n.left; c != nil; c = c.right {
			it.push(c)
		}
		if it.lower != nil && bytes.Compare(n.key, it.lower) < 0 {
			it.n, it.cur = 0, nil
			return false
		}
	}
	it.cur = n
	return true
}

// Key returns the current key. The tree owns it: do not modify it.
func (it *Iter[V]) Key() []byte { return it.cur.key }

// Value returns the current value.
func (it *Iter[V]) Value() V { return it.cur.val }
