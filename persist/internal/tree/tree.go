// Package tree implements an ordered map from byte-string keys to values as a
// persistent AVL tree.
//
// A Tree is a small value (a root pointer, a length and an owner token).
// Copying a Tree after calling Freeze yields an immutable snapshot: later
// writes through the original copy the nodes they change instead of
// modifying them (copy-on-write). Until Freeze is called again, nodes
// created by writes belong to the tree and are modified in place, so a run of
// writes copies each node at most once.
package tree

import "bytes"

// owner identifies the writer allowed to modify a node in place. It has a
// non-zero size so that distinct owners have distinct addresses.
type owner struct{ _ byte }

type node[V any] struct {
	key         []byte
	val         V
	left, right *node[V]
	height      int8
	owner       *owner
}

// Tree is an ordered map from byte-string keys, compared with bytes.Compare,
// to values of type V. The zero value is an empty tree ready to use.
type Tree[V any] struct {
	root  *node[V]
	owner *owner
	n     int
}

// Len returns the number of keys in t.
func (t *Tree[V]) Len() int { return t.n }

// Freeze makes t's current nodes immutable, so that copies of t taken from
// now on are snapshots unaffected by later writes through t.
func (t *Tree[V]) Freeze() { t.owner = nil }

// Get returns the value stored under key and whether there is one.
func (t *Tree[V]) Get(key []byte) (V, bool) {
	for n := t.root; n != nil; {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Set stores val under key. The tree keeps key, so the caller must not
// modify it afterwards.
func (t *Tree[V]) Set(key []byte, val V) {
	if t.owner == nil {
		t.owner = new(owner)
	}
	var added bool
	t.root, added = t.insert(t.root, key, val)
	if added {
		t.n++
	}
}

// Delete removes key and reports whether it was present.
func (t *Tree[V]) Delete(key []byte) bool {
	if t.owner == nil {
		t.owner = new(owner)
	}
	root, ok := t.remove(t.root, key)
	if ok {
		t.root = root
		t.n--
	}
	return ok
}

// mut returns n if t owns it, or else a copy of n that t owns.
func (t *Tree[V]) mut(n *node[V]) *node[V] {
	if n.owner == t.owner {
		return n
	}
	c := *n
	c.owner = t.owner
	return &c
}

func (t *Tree[V]) insert(n *node[V], key []byte, val V) (*node[V], bool) {
	if n == nil {
		return &node[V]{key: key, val: val, height: 1, owner: t.owner}, true
	}
	c := bytes.Compare(key, n.key)
	n = t.mut(n)
	var added bool
	switch {
	case c < 0:
		n.left, added = t.insert(n.left, key, val)
	case c > 0:
		n.right, added = t.insert(n.right, key, val)
	default:
		n.val = val
		return n, false
	}
	return t.rebalance(n), added
}

func (t *Tree[V]) remove(n *node[V], key []byte) (*node[V], bool) {
	if n == nil {
		return nil, false
	}
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		left, ok := t.remove(n.left, key)
		if !ok {
			return n, false
		}
		n = t.mut(n)
		n.left = left
		return t.rebalance(n), true
	case c > 0:
		right, ok := t.remove(n.right, key)
		if !ok {
			return n, false
		}
		n = t.mut(n)
		n.right = right
		return t.rebalance(n), true
	}
	switch {
	case n.left == nil:
		return n.right, true
	case n.right == nil:
		return n.left, true
	}
	n = t.mut(n)
	var min *node[V]
	n.right, min = t.removeMin(n.right)
	n.key, n.val = min.key, min.val
	return t.rebalance(n), true
}

// removeMin removes the smallest node of the subtree n and returns the new
// subtree and the removed node.
func (t *Tree[V]) removeMin(n *node[V]) (rest, min *node[V]) {
	if n.left == nil {
		return n.right, n
	}
	n = t.mut(n)
	n.left, min = t.removeMin(n.left)
	return t.rebalance(n), min
}

func height[V any](n *node[V]) int8 {
	if n == nil {
		return 0
	}
	return n.height
}

func fix[V any](n *node[V]) {
	n.height = max(height(n.left), height(n.right)) + 1
}

// rebalance restores the AVL invariant at n, which t owns, and returns the
// subtree's new root.
func (t *Tree[V]) rebalance(n *node[V]) *node[V] {
	fix(n)
	switch b := height(n.left) - height(n.right); {
	case b > 1:
		if height(n.left.left) < height(n.left.right) {
			n.left = t.rotateLeft(t.mut(n.left))
		}
		return t.rotateRight(n)
	case b < -1:
		if height(n.right.right) < height(n.right.left) {
			n.right = t.rotateRight(t.mut(n.right))
		}
		return t.rotateLeft(n)
	}
	return n
}

// rotateRight lifts n's left child above n, which t owns.
func (t *Tree[V]) rotateRight(n *node[V]) *node[V] {
	l := t.mut(n.left)
	n.left, l.right = l.right, n
	fix(n)
	fix(l)
	return l
}

// rotateLeft lifts n's right child above n, which t owns.
func (t *Tree[V]) rotateLeft(n *node[V]) *node[V] {
	r := t.mut(n.right)
	n.right, r.left = r.left, n
	fix(n)
	fix(r)
	return r
}
