package tree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// check verifies the AVL and ordering invariants of the subtree n and
// returns its size.
func check[V any](t *testing.T, n *node[V], lo, hi []byte) int {
	t.Helper()
	if n == nil {
		return 0
	}
	if (lo != nil && bytes.Compare(n.key, lo) <= 0) || (hi != nil && bytes.Compare(n.key, hi) >= 0) {
		t.Fatalf("key %q out of order between %q and %q", n.key, lo, hi)
	}
	if b := height(n.left) - height(n.right); b < -1 || b > 1 {
		t.Fatalf("node %q unbalanced by %d", n.key, b)
	}
	if want := max(height(n.left), height(n.right)) + 1; n.height != want {
		t.Fatalf("node %q has height %d, want %d", n.key, n.height, want)
	}
	return 1 + check(t, n.left, lo, n.key) + check(t, n.right, n.key, hi)
}

// model is the reference: a sorted slice of keys plus a map of values.
type model struct {
	vals map[string]int
}

func (m model) keys() []string {
	ks := make([]string, 0, len(m.vals))
	for k := range m.vals {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func collect(tr *Tree[int], lower, upper []byte, reverse bool) []string {
	var out []string
	for it := tr.Iter(lower, upper, reverse); it.Next(); {
		out = append(out, string(it.Key()))
	}
	return out
}

func TestRandomAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tr Tree[int]
	m := model{vals: map[string]int{}}
	type snap struct {
		tree Tree[int]
		vals map[string]int
	}
	var snaps []snap
	randKey := func() []byte {
		k := make([]byte, 1+r.IntN(3))
		for i := range k {
			k[i] = []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}[r.IntN(6)]
		}
		return k
	}
	for step := range 20000 {
		k := randKey()
		switch op := r.IntN(10); {
		case op < 6:
			tr.Set(k, step)
			m.vals[string(k)] = step
		case op < 9:
			_, had := m.vals[string(k)]
			if got := tr.Delete(k); got != had {
				t.Fatalf("step %d: Delete(%q) = %v, want %v", step, k, got, had)
			}
			delete(m.vals, string(k))
		default:
			tr.Freeze()
			snaps = append(snaps, snap{tree: tr, vals: maps(m.vals)})
		}
		if step%500 == 0 {
			if n := check(t, tr.root, nil, nil); n != len(m.vals) || tr.Len() != n {
				t.Fatalf("step %d: tree has %d nodes, Len %d, want %d", step, n, tr.Len(), len(m.vals))
			}
		}
	}
	for k, v := range m.vals {
		if got, ok := tr.Get([]byte(k)); !ok || got != v {
			t.Fatalf("Get(%q) = %d, %v; want %d", k, got, ok, v)
		}
	}
	if _, ok := tr.Get([]byte("absent key")); ok {
		t.Fatal("Get of absent key succeeded")
	}
	if got, want := collect(&tr, nil, nil, false), m.keys(); !slices.Equal(got, want) {
		t.Fatalf("forward iteration = %q, want %q", got, want)
	}
	// Every snapshot must still hold exactly what it held when taken.
	for i, s := range snaps {
		want := model{vals: s.vals}.keys()
		if got := collect(&s.tree, nil, nil, false); !slices.Equal(got, want) {
			t.Fatalf("snapshot %d changed: got %d keys, want %d", i, len(got), len(want))
		}
		for k, v := range s.vals {
			if got, _ := s.tree.Get([]byte(k)); got != v {
				t.Fatalf("snapshot %d: value of %q changed to %d from %d", i, k, got, v)
			}
		}
	}
}

func maps(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestIterBounds(t *testing.T) {
	var tr Tree[int]
	var all []string
	for i := range 200 {
		k := fmt.Sprintf("%03d", i*5)
		tr.Set([]byte(k), i)
		all = append(all, k)
	}
	bounds := [][]byte{nil, []byte("000"), []byte("001"), []byte("500"), []byte("502"), []byte("995"), []byte("999")}
	for _, lo := range bounds {
		for _, hi := range bounds {
			var want []string
			for _, k := range all {
				if (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi)) {
					want = append(want, k)
				}
			}
			if got := collect(&tr, lo, hi, false); !slices.Equal(got, want) {
				t.Errorf("[%q, %q) forward = %q, want %q", lo, hi, got, want)
			}
			slices.Reverse(want)
			if got := collect(&tr, lo, hi, true); !slices.Equal(got, want) {
				t.Errorf("[%q, %q) reverse = %q, want %q", lo, hi, got, want)
			}
		}
	}
}

func TestIterUnaffectedByWrites(t *testing.T) {
	var tr Tree[int]
	for i := range 100 {
		tr.Set(fmt.Appendf(nil, "%03d", i), i)
	}
	it := tr.Iter(nil, nil, false)
	var seen int
	for it.Next() {
		if it.Value() != seen {
			t.Fatalf("visited value %d, want %d", it.Value(), seen)
		}
		// Rewrite the tree heavily while iterating.
		tr.Delete(it.Key())
		tr.Set(fmt.Appendf(nil, "%03da", seen), -1)
		seen++
	}
	if seen != 100 {
		t.Fatalf("visited %d keys, want 100", seen)
	}
	if tr.Len() != 100 {
		t.Fatalf("Len = %d after replacing every key, want 100", tr.Len())
	}
}
