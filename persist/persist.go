// Package persist defines hearth's storage interface: an ordered,
// transactional key-value store with byte-string keys.
//
// The interface is deliberately small so that very different backends can
// implement it: an embedded LSM store on servers (persist/badger), an
// in-memory store for tests and browsers (persist/memory), and later
// IndexedDB and edge key-value services. It therefore uses callback-style
// transactions (Store.View, Store.Update), which an asynchronous store that
// runs one transaction at a time can implement, and it has no
// backend-specific features such as TTLs.
//
// Keys are ordered byte-wise, as by bytes.Compare. Every key must be
// non-empty and at most MaxKeySize bytes long.
//
// Unless a method says otherwise, byte slices passed to the package's methods
// are not retained (implementations copy them), and byte slices returned by
// them belong to the caller, who may keep and modify them.
package persist

import (
	"context"
	"errors"
	"fmt"
)

// MaxKeySize is the length in bytes of the longest key a Store accepts. It
// is the largest key length every planned backend supports, so that data
// written through one backend can be moved to another.
const MaxKeySize = 2048

// Errors returned by every backend. Backends wrap them with context, so
// compare with errors.Is.
var (
	// ErrNotFound reports that a key has no value.
	ErrNotFound = errors.New("persist: key not found")

	// ErrInvalidKey reports a key that is empty or longer than MaxKeySize.
	ErrInvalidKey = errors.New("persist: invalid key")

	// ErrReadOnly reports a write through a transaction started by View.
	ErrReadOnly = errors.New("persist: write in read-only transaction")

	// ErrTxDone reports use of a transaction, iterator or batch after it
	// has finished: a Tx after its callback returned, or a Batch after
	// Commit or Discard.
	ErrTxDone = errors.New("persist: transaction already finished")

	// ErrTxTooBig reports a transaction whose writes exceed what the
	// backend can commit atomically. Use a Batch for bulk writes.
	ErrTxTooBig = errors.New("persist: transaction too big")

	// ErrClosed reports use of a Store after Close.
	ErrClosed = errors.New("persist: store closed")
)

// NotFoundError is the error of a Get of an absent key. It wraps
// ErrNotFound. Backends return it instead of formatting an error, since
// callers ask for absent keys on hot paths and mostly only test for
// ErrNotFound.
type NotFoundError struct {
	Backend string // e.g. "persist/badger"
	Key     string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s: get %q: %v", e.Backend, e.Key, ErrNotFound)
}

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Store is an ordered, transactional key-value store.
//
// All methods are safe for concurrent use. Transactions are serializable:
// read-write transactions behave as if run one at a time, and a read-only
// transaction sees a consistent snapshot that includes every transaction
// whose Update returned before View was called.
type Store interface {
	// View runs fn in a read-only transaction that sees a consistent
	// snapshot of the store. Writes through tx fail with ErrReadOnly.
	// View returns fn's error unchanged, or an error of its own if the
	// transaction could not be started (for example ctx is done, or the
	// store is closed).
	View(ctx context.Context, fn func(tx Tx) error) error

	// Update runs fn in a read-write transaction. If fn returns nil, its
	// writes are committed atomically; on a durable backend they are on
	// stable storage when Update returns nil. If fn returns an error or
	// panics, none of its writes are applied, and Update returns fn's
	// error unchanged (or re-panics). fn runs at most once.
	//
	// fn must not call Update on the same store, which would deadlock.
	// Backends may run fn on another goroutine than the caller's.
	Update(ctx context.Context, fn func(tx Tx) error) error

	// NewBatch returns a Batch for writing many keys, more than a single
	// transaction may hold. ctx governs every write the batch makes,
	// including the final Commit.
	NewBatch(ctx context.Context) Batch

	// Close waits for running transactions to finish, then releases the
	// store's resources. Afterwards every method fails with ErrClosed.
	// Calling Close again returns nil.
	Close() error
}

// Tx is a transaction, passed to the callbacks of Store.View and
// Store.Update. It is valid only until the callback returns, and must not be
// used by several goroutines at once.
type Tx interface {
	// Get returns a copy of the value stored under key, or an error
	// wrapping ErrNotFound. In a read-write transaction it sees the
	// transaction's own writes.
	Get(key []byte) ([]byte, error)

	// Set stores value under key, replacing any previous value. It copies
	// key and value, so the caller may reuse them. A nil value is stored
	// as an empty value.
	Set(key, value []byte) error

	// Delete removes key. Deleting a missing key is not an error.
	Delete(key []byte) error

	// Iterate returns an iterator over the keys selected by opts, in
	// byte-wise order or, if opts.Reverse is set, in reverse order. In a
	// read-write transaction it sees the writes the transaction made
	// before Iterate was called; whether it sees writes made later is
	// unspecified. Changing keys while iterating, for example deleting
	// each key as it is visited, is allowed.
	//
	// Iterators still open when the transaction ends are closed.
	Iterate(opts IterOptions) Iterator
}

// IterOptions selects the keys an Iterator visits: those that have Prefix,
// are greater than or equal to Start, and are less than End. Nil or empty
// fields do not restrict the range.
type IterOptions struct {
	// Prefix restricts iteration to keys that begin with it.
	Prefix []byte

	// Start is the inclusive lower bound.
	Start []byte

	// End is the exclusive upper bound.
	End []byte

	// Reverse makes iteration visit keys from largest to smallest.
	Reverse bool

	// KeysOnly skips loading values, which is much cheaper on some
	// backends; Iterator.Value then returns nil.
	KeysOnly bool
}

// Iterator is a cursor over a range of keys, returned by Tx.Iterate. It
// starts before the first key: call Next before Key and Value.
//
//	it := tx.Iterate(persist.IterOptions{Prefix: p})
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil {
//		return err
//	}
type Iterator interface {
	// Next advances to the next key and reports whether there is one. It
	// returns false at the end of the range, on error, after Close, and
	// once the transaction has finished.
	Next() bool

	// Key returns the current key. The slice belongs to the caller and
	// stays valid after Next and after the transaction ends.
	Key() []byte

	// Value returns the current value, or nil if IterOptions.KeysOnly was
	// set. Like Key, the slice belongs to the caller.
	Value() []byte

	// Err returns the error that stopped iteration, if any. Ending the
	// range or calling Close is not an error.
	Err() error

	// Close releases the iterator's resources. It may be called more than
	// once.
	Close()
}

// Batch collects writes for bulk loading. Unlike a transaction, a batch is
// not atomic as a whole: it is applied in one or more atomic chunks. A
// backend applies a chunk before Commit only when the batch has grown beyond
// what it can commit atomically; until then the writes are buffered and
// invisible to transactions. A Batch must not be used by several goroutines
// at once.
type Batch interface {
	// Set buffers a write of value under key. It copies key and value.
	// It returns the error of an earlier chunk that failed to apply, or
	// ErrTxDone after Commit or Discard.
	Set(key, value []byte) error

	// Delete buffers the removal of key. Errors are as for Set.
	Delete(key []byte) error

	// Commit applies the buffered writes. When it returns nil, every
	// write made through the batch is applied and, on a durable backend,
	// on stable storage. Writes are applied in the order they were made,
	// so a later write to a key wins.
	Commit() error

	// Discard drops the writes not yet applied. Chunks applied before
	// stay applied. Discard after Commit does nothing.
	Discard()
}
