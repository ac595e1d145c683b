//go:build !js

package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// request is one Update call waiting for the writer.
type request struct {
	ctx context.Context
	fn  func(tx persist.Tx) error

	err      error
	panicked bool
	panicVal any
	done     chan struct{}
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// maxGroup bounds the number of transactions in one group commit, which
// bounds how long the first of them waits.
const maxGroup = 1024

// limits bounds what one BadgerDB transaction may hold.
type limits struct {
	size, count    int64 // BadgerDB's estimate of a transaction's size, with a margin
	raw            int64 // bytes of keys and values, bounding memory use
	valueThreshold int64
}

func newLimits(o bdb.Options) limits {
	// BadgerDB rejects a transaction once its estimated size reaches 15%
	// of the memtable size, or its entry count that size divided by the
	// size of a skiplist node. Stay 10% below.
	maxSize := 15 * o.MemTableSize / 100
	return limits{
		size:           maxSize * 9 / 10,
		count:          maxSize / int64(skl.MaxNodeSize) * 9 / 10,
		raw:            256 << 20,
		valueThreshold: o.ValueThreshold,
	}
}

// cost is BadgerDB's size estimate for writing a key (with dataPrefix) and
// value: values at or above the value threshold live in the value log and
// count as a 12-byte pointer; every entry costs 2 bytes of metadata and 10
// for its version.
func (l limits) cost(keyLen, valueLen int) int64 {
	v := int64(valueLen)
	if v >= l.valueThreshold {
		v = 12
	}
	return int64(keyLen) + v + 2 + 10
}

// usage is the share of limits a transaction or group uses.
type usage struct{ size, count, raw int64 }

func (u usage) plus(v usage) usage {
	return usage{u.size + v.size, u.count + v.count, u.raw + v.raw}
}

func (l limits) fits(u usage) bool {
	return u.size <= l.size && u.count <= l.count && u.raw <= l.raw
}

// entry is a pending write: a value, or a deletion.
type entry struct {
	value []byte
	del   bool
}

// op is one write of a transaction, in the order made.
type op struct {
	key []byte // with dataPrefix
	entry
}

// group is the set of transactions committed together. Their combined
// writes live in overlay, on top of the store's unapplied writes and a
// snapshot of BadgerDB at the last applied timestamp.
type group struct {
	s       *Store
	base    *snapshot        // read-only snapshot, opened on first read
	overlay tree.Tree[entry] // s.view plus the members' writes
	writes  tree.Tree[entry] // the members' writes alone
	used    usage
	members []*request

	// syncing is closed when the sync of the previous group has finished;
	// nil if there is none in flight.
	syncing chan struct{}

	// target is the number of members of the last group committed. A
	// group with fewer waits a little for more (see gather).
	target int
}

// groupLinger bounds how long a group with fewer members than the last one
// waits for more before it is committed. Writers that commit together
// share one sync, which costs far more than the wait (see gather).
const groupLinger = time.Millisecond

// writeLoop runs transactions and commits them in groups. It pipelines:
// while one group is being synced, the next one forms and its callbacks
// run, reading what the syncing group wrote. The next group is committed
// only once the sync has finished, so each sync covers exactly one group.
// Synced groups go to BadgerDB in the background (see apply.go).
func (s *Store) writeLoop() {
	defer close(s.done)
	g := &group{s: s}
	defer func() {
		// Close checkpoints what BadgerDB holds: give it everything. After
		// a failure Close does not checkpoint, and the next Open replays.
		g.waitSync()
		_ = s.applyAll()
	}()
	for {
		select {
		case r := <-s.reqs:
			g.begin()
			g.run(r)
			g.gather()
			_ = g.flush() // the members got the error
		case <-g.syncing: // nil, and never ready, if no sync is in flight
			g.syncing = nil
			s.maybeApply()
		case err := <-s.applying: // nil, and never ready, if none is in flight
			_ = s.finishApply(err) // a failure stops the store
			if g.syncing == nil {
				s.maybeApply()
			}
		case <-s.quit:
			return
		}
	}
}

// gather adds waiting transactions to the group: those that arrive while
// the previous group syncs, then those already queued when it is done,
// then, while the group has fewer members than the last one, those that
// arrive within the store's linger.
//
// The wait is for writers that take turns: each commits, gets its answer
// and writes again. Left alone, the ones that came back during a sync
// commit as one group and the rest follow in the next, so every sync
// covers a few of them; each sync costs a data write, a cache flush of the
// disk and the wakeups around them, more than the work of the group it
// covers. Waiting for as many as the last group had lets them share syncs
// again. A writer that does not come back costs one linger, after which
// the target is the smaller group; a lone writer never waits.
func (g *group) gather() {
	var linger <-chan time.Time // armed at the first wait for a member
	for len(g.members) < maxGroup {
		if g.syncing != nil {
			select {
			case r := <-g.s.reqs:
				g.run(r)
			case <-g.syncing:
				g.syncing = nil
			}
			continue
		}
		select {
		case r := <-g.s.reqs:
			g.run(r)
			continue
		default:
		}
		if len(g.members) >= g.target || g.s.linger <= 0 {
			return
		}
		if linger == nil {
			linger = g.s.after(g.s.linger)
		}
		select {
		case r := <-g.s.reqs:
			g.run(r)
		case <-linger:
			return
		}
	}
}

func (g *group) waitSync() {
	if g.syncing != nil {
		<-g.syncing
		g.syncing = nil
	}
}

// begin starts a group on what the committed groups left.
func (g *group) begin() {
	g.s.view.Freeze()
	g.overlay = g.s.view
}

// baseSnapshot returns the group's BadgerDB snapshot, under its overlay,
// opening it if needed.
func (g *group) baseSnapshot() *snapshot {
	if g.base == nil {
		g.base = &snapshot{p: g.s.db, ts: g.s.applied}
	}
	return g.base
}

// run runs one transaction and adds its writes to the group, or finishes
// it with its error.
func (g *group) run(r *request) {
	if err := g.s.failure(); err != nil {
		r.finish(fmt.Errorf("persist/badger: update: store stopped writing after an earlier failure: %w", err))
		return
	}
	if err := r.ctx.Err(); err != nil {
		r.finish(fmt.Errorf("persist/badger: update: %w", err))
		return
	}
	g.overlay.Freeze()
	saved := g.overlay
	tx := &writeTx{g: g}
	err := tx.call(r)
	if err != nil || r.panicked {
		g.overlay = saved
		r.finish(err)
		return
	}
	if !g.s.lim.fits(g.used.plus(tx.used)) {
		// Commit the group without r, then start a new one with r's
		// writes. r read the state the earlier members left, which is
		// exactly what they commit.
		g.overlay = saved
		if err := g.flush(); err != nil {
			// r read writes that were not committed.
			r.finish(err)
			return
		}
		g.begin()
		for _, o := range tx.log {
			g.overlay.Set(o.key, o.entry)
		}
	}
	for _, o := range tx.log {
		g.writes.Set(o.key, o.entry)
	}
	g.used = g.used.plus(tx.used)
	g.members = append(g.members, r)
}

// flush waits for the previous group's sync, commits this group and starts
// syncing it; the members learn the outcome when the sync is done. Then it
// resets the group for the next one. It returns the error of the commit, if
// any.
func (g *group) flush() error {
	g.waitSync()
	s := g.s
	// Every group committed so far is synced: BadgerDB may have them.
	s.maybeApply()
	members := g.members
	var err error
	var rec []byte
	if len(members) > 0 {
		g.target = len(members)
		// The members read what the previous group wrote: if its sync
		// failed, they fail too.
		if err = s.failure(); err == nil {
			if err = s.checkSpace(g.used.raw); err == nil {
				rec, err = s.commit(g)
			}
		}
	}
	if g.base != nil {
		g.base.discard()
		g.base = nil
	}
	g.overlay, g.writes = tree.Tree[entry]{}, tree.Tree[entry]{}
	g.used = usage{}
	g.members = nil
	if len(members) == 0 {
		return nil
	}
	if err != nil {
		for _, r := range members {
			r.finish(err)
		}
		return err
	}
	done := make(chan struct{})
	g.syncing = done
	go func(ts uint64, pub published) {
		defer close(done)
		err := s.syncAndPublish(ts, rec, pub)
		for _, r := range members {
			r.finish(err)
		}
	}(s.writeTs, published{base: s.applied, view: s.view})
	return nil
}

// commit stages g's journal record and makes its writes part of what the
// next groups read; it returns the record, which the caller syncs.
func (s *Store) commit(g *group) ([]byte, error) {
	// A memory bound on what BadgerDB has yet to take (see maxUnapplied).
	if s.sinceUsed.raw+g.used.raw > maxUnapplied {
		if err := s.waitApply(); err != nil {
			return nil, err
		}
		s.startApply()
	}
	ts := s.writeTs + 1
	// Each write takes its key and value (used.raw counts them, with the
	// key's prefix) and at most 21 bytes of kind and lengths.
	rec := newRecord(ts, g.used.raw+21*g.used.count)
	for it := g.writes.Iter(nil, nil, false); it.Next(); {
		rec.add(it.Key(), it.Value())
	}
	sealed := rec.seal()
	if s.journal.full(len(sealed)) {
		// The checkpoint that starts the next segment covers every group
		// before this one, so BadgerDB must have them.
		if err := s.applyAll(); err != nil {
			return nil, err
		}
	}
	if err := s.journal.stage(ts, sealed); err != nil {
		return nil, s.writeError("journal", err)
	}
	s.writeTs = ts
	g.overlay.Freeze()
	s.view = g.overlay
	for it := g.writes.Iter(nil, nil, false); it.Next(); {
		s.since.Set(it.Key(), it.Value())
	}
	s.sinceUsed = s.sinceUsed.plus(g.used)
	return sealed, nil
}

// syncAndPublish makes the group committed at ts, whose journal record is
// rec, durable, then visible to readers through pub. Nothing is
// acknowledged or visible before this sync.
func (s *Store) syncAndPublish(ts uint64, rec []byte, pub published) error {
	if err := s.sync(ts, rec); err != nil {
		return s.writeError("sync", err)
	}
	s.publish(pub)
	return nil
}

// writeError wraps a failure to commit. A transaction that was too big
// leaves the database as it was; any other failure leaves its state on disk
// unknown, so the store stops accepting writes.
func (s *Store) writeError(op string, err error) error {
	if errors.Is(err, bdb.ErrTxnTooBig) {
		return fmt.Errorf("persist/badger: %s: %w (%w)", op, persist.ErrTxTooBig, err)
	}
	err = fmt.Errorf("persist/badger: %s: %w", op, err)
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	return err
}

func (s *Store) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
