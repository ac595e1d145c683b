//go:build !js

package badger

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// valuesDir is the directory, inside the store's, of the BadgerDB database
// that holds the keys under the prefixes given to WithValueLog.
const valuesDir = "values"

// valueLogFileSize bounds the files of the value log. Opening the
// database reads the newest one whole, to find where its valid entries
// end, which at the default 1 GiB delayed a restart after a busy run by
// about 0.7 s.
const valueLogFileSize = 8 << 20

// valuesThreshold is the value size from which the values database keeps a
// value in its value log rather than its LSM tree.
const valuesThreshold = 64

// parts is the store's BadgerDB databases. main holds every key, except,
// when WithValueLog named prefixes, the keys under them: values holds
// those, with their values in its value log, so that its LSM tree (its
// memtables, flushes and compactions) carries only keys and pointers.
//
// A value log reclaims the space of a value overwritten or deleted only by
// garbage collection, which BadgerDB cannot do safely with the journal
// (it moves live values without syncing them before deleting the old log
// file), and which the store therefore never runs: the prefixes must be
// for values that are written once and kept. Every other key stays in
// main, whose values live in its LSM tree, where compaction reclaims them.
//
// Both databases use the same commit timestamps: a group commits to each
// at the same one, and a snapshot reads both at the same one.
type parts struct {
	main     *bdb.DB
	values   *bdb.DB  // nil without prefixes
	prefixes [][]byte // internal keys (with dataPrefix), in values
}

// inValues says whether the internal key ikey belongs in values.
func (p *parts) inValues(ikey []byte) bool {
	for _, pre := range p.prefixes {
		if bytes.HasPrefix(ikey, pre) {
			return true
		}
	}
	return false
}

// all returns the databases, main first.
func (p *parts) all() []*bdb.DB {
	if p.values == nil {
		return []*bdb.DB{p.main}
	}
	return []*bdb.DB{p.main, p.values}
}

// dirs returns the databases' directories.
func (p *parts) dirs() []string {
	dirs := make([]string, 0, 2)
	for _, db := range p.all() {
		dirs = append(dirs, db.Opts().Dir)
	}
	return dirs
}

// sync makes everything committed to every database's current memtable
// and value log durable.
func (p *parts) sync() error {
	for _, db := range p.all() {
		if err := db.Sync(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parts) setDiscardTs(ts uint64) {
	for _, db := range p.all() {
		db.SetDiscardTs(ts)
	}
}

func (p *parts) maxVersion() uint64 {
	var v uint64
	for _, db := range p.all() {
		v = max(v, db.MaxVersion())
	}
	return v
}

func (p *parts) close() error {
	var errs []error
	for _, db := range p.all() {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// spans says which databases may hold keys in [lower, upper): main unless
// the range lies inside one value-log prefix, values if it meets one.
func (p *parts) spans(lower, upper []byte) (main, values bool) {
	main = true
	for _, pre := range p.prefixes {
		end := prefixEnd(pre)
		if bytes.Compare(lower, end) >= 0 || bytes.Compare(upper, pre) <= 0 {
			continue // no overlap
		}
		values = true
		if bytes.Compare(lower, pre) >= 0 && bytes.Compare(upper, end) <= 0 {
			main = false
		}
	}
	return main, values
}

// prefixEnd returns the smallest key above every key with prefix pre, which
// is never empty here: internal keys start with dataPrefix.
func prefixEnd(pre []byte) []byte {
	end := bytes.Clone(pre)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0xff} // unreachable for dataPrefix keys
}

// snapshot reads the databases at one timestamp, opening each one's
// read-only transaction when first needed.
type snapshot struct {
	p    *parts
	ts   uint64
	main *bdb.Txn
	vals *bdb.Txn
}

// txn returns the transaction of the database that holds ikey.
func (sn *snapshot) txn(ikey []byte) *bdb.Txn {
	if sn.p.inValues(ikey) {
		return sn.valuesTxn()
	}
	return sn.mainTxn()
}

func (sn *snapshot) mainTxn() *bdb.Txn {
	if sn.main == nil {
		sn.main = sn.p.main.NewTransactionAt(sn.ts, false)
	}
	return sn.main
}

func (sn *snapshot) valuesTxn() *bdb.Txn {
	if sn.vals == nil {
		sn.vals = sn.p.values.NewTransactionAt(sn.ts, false)
	}
	return sn.vals
}

func (sn *snapshot) discard() {
	if sn.main != nil {
		sn.main.Discard()
		sn.main = nil
	}
	if sn.vals != nil {
		sn.vals.Discard()
		sn.vals = nil
	}
}

// writeTxns stages one group's writes in a read-write transaction per
// database, opened when the group first writes to it.
type writeTxns struct {
	p            *parts
	readTs       uint64
	main, values *bdb.Txn
}

func (w *writeTxns) set(ikey, value []byte) error {
	return w.txn(ikey).SetEntry(bdb.NewEntry(ikey, value))
}

func (w *writeTxns) delete(ikey []byte) error { return w.txn(ikey).Delete(ikey) }

func (w *writeTxns) txn(ikey []byte) *bdb.Txn {
	if w.p.inValues(ikey) {
		if w.values == nil {
			w.values = w.p.values.NewTransactionAt(w.readTs, true)
		}
		return w.values
	}
	if w.main == nil {
		w.main = w.p.main.NewTransactionAt(w.readTs, true)
	}
	return w.main
}

// commit commits the transactions opened at ts, the two at once: each
// commit waits for its database's write goroutine.
func (w *writeTxns) commit(ts uint64) error {
	switch {
	case w.values == nil && w.main == nil:
		return nil
	case w.values == nil:
		return w.main.CommitAt(ts, nil)
	case w.main == nil:
		return w.values.CommitAt(ts, nil)
	}
	done := make(chan error, 1)
	// With a callback, CommitAt returns at once and reports through it.
	_ = w.values.CommitAt(ts, func(err error) { done <- err })
	err := w.main.CommitAt(ts, nil)
	return errors.Join(err, <-done)
}

// chunkedTxns writes to the databases at one timestamp, in as many
// transactions per database as lim requires: a commit of many groups at
// once (an apply), or of a journal record written with other limits.
// Readers read the databases at a timestamp below ts until every chunk is
// committed.
type chunkedTxns struct {
	p          *parts
	lim        limits
	readTs, ts uint64
	txns       writeTxns
	used       usage
}

func newChunkedTxns(p *parts, lim limits, readTs, ts uint64) *chunkedTxns {
	return &chunkedTxns{p: p, lim: lim, readTs: readTs, ts: ts, txns: writeTxns{p: p, readTs: readTs}}
}

// write stages a write of ikey, committing the chunk before it if the
// write would not fit.
func (c *chunkedTxns) write(ikey []byte, e entry) error {
	u := usage{c.lim.cost(len(ikey), len(e.value)), 1, int64(len(ikey) + len(e.value))}
	if c.used.count > 0 && !c.lim.fits(c.used.plus(u)) {
		if err := c.commit(); err != nil {
			return err
		}
	}
	c.used = c.used.plus(u)
	if e.del {
		return c.txns.delete(ikey)
	}
	return c.txns.set(ikey, e.value)
}

// commit commits the chunk staged so far and starts the next.
func (c *chunkedTxns) commit() error {
	err := c.txns.commit(c.ts)
	c.txns.discard()
	c.txns, c.used = writeTxns{p: c.p, readTs: c.readTs}, usage{}
	return err
}

func (w *writeTxns) discard() {
	for _, txn := range []*bdb.Txn{w.main, w.values} {
		if txn != nil {
			txn.Discard()
		}
	}
}

// openParts opens the main database in dir with opts and, when prefixes
// are given (as internal keys), the values database beside it. Then it
// moves into values any key under the prefixes that main holds, as a store
// written before the prefixes were given has them there.
func openParts(dir string, opts bdb.Options, prefixes [][]byte) (*parts, error) {
	if len(prefixes) == 0 {
		main, err := bdb.OpenManaged(opts)
		if err != nil {
			return nil, err
		}
		return &parts{main: main}, nil
	}
	// Its tables hold keys and pointers, which neither compress nor need
	// a cache of decompressed blocks; leaving the cache out saves its
	// memory and the time to set it up.
	vopts := opts.WithDir(filepath.Join(dir, valuesDir)).
		WithValueDir(filepath.Join(dir, valuesDir)).
		WithValueThreshold(valuesThreshold).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithValueLogFileSize(valueLogFileSize)
	// Opening waits on the disk: open the two at once.
	var values *bdb.DB
	var verr error
	opened := make(chan struct{})
	go func() {
		defer close(opened)
		values, verr = bdb.OpenManaged(vopts)
	}()
	main, err := bdb.OpenManaged(opts)
	<-opened
	if err != nil || verr != nil {
		for _, db := range []*bdb.DB{main, values} {
			if db != nil {
				db.Close()
			}
		}
		return nil, errors.Join(err, verr)
	}
	p := &parts{main: main, values: values, prefixes: prefixes}
	if err := p.moveToValues(); err != nil {
		p.close()
		return nil, fmt.Errorf("move keys into %s: %w", valuesDir, err)
	}
	return p, nil
}

// moveToValues copies every key under the prefixes that main holds into
// values, at the version main has, makes that durable, then deletes the
// keys from main. Copying at the same version keeps any newer write of the
// key (replayed from the journal, say) the newest; a crash between the
// steps leaves keys in main that nothing reads, since reads of them go to
// values, and that the next open moves again.
func (p *parts) moveToValues() error {
	for _, pre := range p.prefixes {
		for {
			moved, err := p.moveBatch(pre)
			if err != nil {
				return err
			}
			if !moved {
				break
			}
		}
	}
	return nil
}

// moveBatch moves up to a batch of the keys under pre from main to values,
// and says whether it found any.
func (p *parts) moveBatch(pre []byte) (bool, error) {
	const batch = 1000
	ts := p.maxVersion()
	txn := p.main.NewTransactionAt(ts, false)
	defer txn.Discard()
	it := txn.NewIterator(bdb.IteratorOptions{Prefix: pre})
	defer it.Close()
	wb := p.values.NewManagedWriteBatch()
	defer wb.Cancel()
	var keys [][]byte
	for it.Rewind(); it.Valid() && len(keys) < batch; it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return false, err
		}
		k := item.KeyCopy(nil)
		if err := wb.SetEntryAt(bdb.NewEntry(k, v), item.Version()); err != nil {
			return false, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return false, nil
	}
	if err := wb.Flush(); err != nil {
		return false, err
	}
	if err := p.values.Sync(); err != nil {
		return false, err
	}
	del := p.main.NewTransactionAt(ts, true)
	defer del.Discard()
	for _, k := range keys {
		if err := del.Delete(k); err != nil {
			return false, err
		}
	}
	if err := del.CommitAt(ts+1, nil); err != nil {
		return false, err
	}
	return true, p.main.Sync()
}
