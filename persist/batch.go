package persist

import (
	"context"
	"fmt"
)

// UpdateFunc runs fn in a read-write transaction; Store.Update is one.
type UpdateFunc func(ctx context.Context, fn func(tx Tx) error) error

// batchOpOverhead approximates the bookkeeping bytes a backend spends on one
// write besides its key and value, so that many tiny writes still fill a
// chunk.
const batchOpOverhead = 32

// NewBufferedBatch returns a Batch that buffers writes in memory and applies
// them through update, one transaction per chunk. A chunk is applied as soon
// as it holds maxBytes bytes (counting keys, values and a small per-write
// overhead) or maxOps writes, and the rest is applied by Commit. A limit of
// zero or less means no limit, which makes the whole batch one atomic
// transaction. Backends use it to implement Store.NewBatch, choosing limits
// that keep each chunk below their transaction size limit.
func NewBufferedBatch(ctx context.Context, update UpdateFunc, maxBytes, maxOps int) Batch {
	return &bufferedBatch{ctx: ctx, update: update, maxBytes: maxBytes, maxOps: maxOps}
}

type batchOp struct {
	key, value []byte
	del        bool
}

type bufferedBatch struct {
	ctx              context.Context
	update           UpdateFunc
	maxBytes, maxOps int

	ops  []batchOp
	size int
	err  error // sticky: the first failure
	done bool
}

func (b *bufferedBatch) Set(key, value []byte) error {
	return b.add(key, value, false)
}

func (b *bufferedBatch) Delete(key []byte) error {
	return b.add(key, nil, true)
}

func (b *bufferedBatch) add(key, value []byte, del bool) error {
	if b.done {
		return fmt.Errorf("persist: batch write: %w", ErrTxDone)
	}
	if b.err != nil {
		return b.err
	}
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("persist: batch write: %w", err)
	}
	// One allocation holds both copies.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	b.ops = append(b.ops, batchOp{key: buf[:len(key):len(key)], value: buf[len(key):], del: del})
	b.size += len(buf) + batchOpOverhead
	if (b.maxBytes > 0 && b.size >= b.maxBytes) || (b.maxOps > 0 && len(b.ops) >= b.maxOps) {
		return b.flush()
	}
	return nil
}

// flush applies the buffered writes as one transaction.
func (b *bufferedBatch) flush() error {
	if len(b.ops) == 0 {
		return nil
	}
	ops := b.ops
	err := b.update(b.ctx, func(tx Tx) error {
		for _, op := range ops {
			var err error
			if op.del {
				err = tx.Delete(op.key)
			} else {
				err = tx.Set(op.key, op.value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	clear(b.ops)
	b.ops, b.size = b.ops[:0], 0
	if err != nil {
		b.err = fmt.Errorf("persist: batch: applying %d writes: %w", len(ops), err)
		return b.err
	}
	return nil
}

func (b *bufferedBatch) Commit() error {
	if b.done {
		return fmt.Errorf("persist: batch commit: %w", ErrTxDone)
	}
	b.done = true
	if b.err != nil {
		return b.err
	}
	return b.flush()
}

func (b *bufferedBatch) Discard() {
	b.done = true
	b.ops = nil
}
