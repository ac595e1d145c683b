package kvtest

import (
	"context"
	"sync/atomic"

	"hearth/persist"
)

// Counting is a store that counts what passes through it to the store it
// wraps, for tests that check how much work an operation does (a read that
// should be served from memory, a write that should not happen).
type Counting struct {
	persist.Store
	// Views and Updates count transactions; Gets, Steps (iterator Next
	// calls) and Writes (Set and Delete) count operations inside them.
	Views, Updates, Gets, Steps, Writes atomic.Int64
}

// View counts a read transaction and the operations fn makes in it.
func (c *Counting) View(ctx context.Context, fn func(tx persist.Tx) error) error {
	c.Views.Add(1)
	return c.Store.View(ctx, func(tx persist.Tx) error { return fn(countingTx{tx, c}) })
}

// Update counts a write transaction and the operations fn makes in it.
func (c *Counting) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	c.Updates.Add(1)
	return c.Store.Update(ctx, func(tx persist.Tx) error { return fn(countingTx{tx, c}) })
}

type countingTx struct {
	persist.Tx
	c *Counting
}

func (t countingTx) Get(key []byte) ([]byte, error) {
	t.c.Gets.Add(1)
	return t.Tx.Get(key)
}

func (t countingTx) Set(key, value []byte) error {
	t.c.Writes.Add(1)
	return t.Tx.Set(key, value)
}

func (t countingTx) Delete(key []byte) error {
	t.c.Writes.Add(1)
	return t.Tx.Delete(key)
}

func (t countingTx) Iterate(opts persist.IterOptions) persist.Iterator {
	return countingIterator{t.Tx.Iterate(opts), t.c}
}

type countingIterator struct {
	persist.Iterator
	c *Counting
}

func (it countingIterator) Next() bool {
	it.c.Steps.Add(1)
	return it.Iterator.Next()
}
