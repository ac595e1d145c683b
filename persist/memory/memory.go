// Package memory implements persist.Store in memory.
//
// It keeps keys in a persistent (copy-on-write) balanced tree: a read-only
// transaction holds the tree as it was when the transaction started, so
// View has real snapshot isolation at no copying cost, while read-write
// transactions run one at a time and publish their tree on commit. Nothing
// is written to disk. The package uses only the standard library and works
// in browsers (GOOS=js).
package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// Store is an in-memory persist.Store. Create one with New.
type Store struct {
	// wmu serializes read-write transactions and Close.
	wmu sync.Mutex
	// root is the committed tree. It is frozen: transactions copy it by
	// value and never modify its nodes.
	root   atomic.Pointer[tree.Tree[[]byte]]
	closed atomic.Bool
}

// New returns an empty store.
func New() *Store {
	s := new(Store)
	s.root.Store(new(tree.Tree[[]byte]))
	return s
}

var _ persist.Store = (*Store)(nil)

// View runs fn in a read-only transaction on a snapshot of the store.
func (s *Store) View(ctx context.Context, fn func(tx persist.Tx) error) error {
	if err := s.begin(ctx, "view"); err != nil {
		return err
	}
	tx := &txn{t: *s.root.Load(), readOnly: true}
	defer tx.finish()
	return fn(tx)
}

// Update runs fn in a read-write transaction. Transactions run one at a
// time; fn's writes become visible atomically when it returns nil.
func (s *Store) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	if err := s.begin(ctx, "update"); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Close may have run while we waited for the lock.
	if s.closed.Load() {
		return fmt.Errorf("persist/memory: update: %w", persist.ErrClosed)
	}
	tx := &txn{t: *s.root.Load()}
	defer tx.finish()
	if err := fn(tx); err != nil {
		return err
	}
	tx.t.Freeze()
	s.root.Store(&tx.t)
	return nil
}

func (s *Store) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("persist/memory: %s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("persist/memory: %s: %w", op, persist.ErrClosed)
	}
	return nil
}

// NewBatch returns a batch that buffers every write and applies them all
// in one transaction on Commit; the memory store has no transaction size
// limit.
func (s *Store) NewBatch(ctx context.Context) persist.Batch {
	return persist.NewBufferedBatch(ctx, s.Update, 0, 0)
}

// Close waits for a running read-write transaction and marks the store
// closed. Read-only transactions already running finish on their snapshot.
// The data is dropped once no transaction refers to it.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.closed.Store(true)
	return nil
}
