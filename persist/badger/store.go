//go:build !js

package badger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// dataPrefix starts every key the store writes to BadgerDB, which keeps
// user keys clear of BadgerDB's reserved "!badger!" prefix and leaves room
// for metadata under other prefixes.
const dataPrefix = 'd'

// Option configures Open.
type Option func(*config)

type config struct {
	logger         *slog.Logger
	memTableSize   int64
	reserve        int64
	journalSegment int64
	applyAt        int64
	valueLog       []string
}

// WithLogger sends BadgerDB's warnings and errors to l; its informational
// messages are dropped. A nil l discards everything. By default the store
// logs to slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithMemTableSize sets the size of BadgerDB's memtables, 64 MiB by
// default. A transaction may write about 13.5% of it (see Update); smaller
// sizes save memory in tests. Below about 7 MiB, values larger than about
// 4% of n are kept in BadgerDB's value log instead of its LSM tree.
func WithMemTableSize(n int64) Option {
	return func(c *config) { c.memTableSize = n }
}

// WithValueLog keeps the values of the keys under the given prefixes in a
// value log, a second BadgerDB database (in the store's directory's
// "values" subdirectory) whose LSM tree holds only their keys and where
// the values lie. Writing a value then costs one append instead of a
// memtable entry that every flush and compaction copies again, which makes
// large values much cheaper to keep. The space of a value under these
// prefixes is never reclaimed once it is overwritten or deleted (see
// parts), so use them only for values written once and kept, such as a
// room's events. A store opened with prefixes moves the keys under them
// that it already holds.
func WithValueLog(prefixes ...string) Option {
	return func(c *config) { c.valueLog = append(c.valueLog, prefixes...) }
}

// Store is a persist.Store kept in a BadgerDB directory. Create one with
// Open.
type Store struct {
	db   *parts
	lim  limits
	reqs chan *request
	quit chan struct{} // closed to stop the writer
	done chan struct{} // closed when the writer has stopped

	// journal makes groups durable; sync is its write, replaced in tests.
	journal *journal
	sync    func(ts uint64, rec []byte) error

	// linger is how long a group waits for the members it expects
	// (groupLinger; see group.gather), timed by after (time.After,
	// replaced in tests).
	linger time.Duration
	after  func(time.Duration) <-chan time.Time

	// dirs are the BadgerDB directories, on one filesystem; freeSpace
	// returns the bytes free on it (statfsFree, replaced in tests). See
	// checkSpace.
	dirs         []string
	freeSpace    func() (int64, error)
	reserve      int64
	memTableSize int64
	space        spaceSeen
	spaceRecheck time.Duration // spaceRecheck, or 0 in tests of a filling disk

	// Only the writer goroutine uses these (see apply.go).
	//   - writeTs: the commit timestamp of the last group committed.
	//   - applied: that of the last group BadgerDB holds.
	//   - view: the writes of the groups after applied (it may also hold
	//     some BadgerDB already has), which reads see over BadgerDB.
	//   - since, sinceUsed: the writes of the groups committed after the
	//     apply in flight began, and their size.
	//   - applying: reports the outcome of the apply in flight (nil if
	//     none), which applies the groups up to applyingTs, applyingRaw
	//     bytes of keys and values.
	writeTs, applied uint64
	view, since      tree.Tree[entry]
	sinceUsed        usage
	applying         chan error
	applyingTs       uint64
	applyingRaw      int64

	// applyAt is how many bytes of keys and values synced groups gather
	// before they are applied, and applyBatch writes them to BadgerDB
	// (apply, replaced in tests).
	applyAt    int64
	applyBatch func(batch *tree.Tree[entry], base, ts uint64) error

	// pending counts Update calls in progress, so that Close can wait for
	// them.
	pending sync.WaitGroup

	mu       sync.Mutex
	idle     sync.Cond // signaled when nreaders drops to zero
	closed   bool
	failed   error          // set when a commit, sync or apply failed; writes stop then
	read     published      // what new View transactions read
	readers  map[uint64]int // readers by the BadgerDB timestamp they read at
	nreaders int

	closeOnce sync.Once
	closeErr  error
}

var _ persist.Store = (*Store)(nil)

// Open opens the store in dir, creating it if needed.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{logger: slog.Default(), memTableSize: 64 << 20, reserve: defaultReserve, journalSegment: journalSegment}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.applyAt == 0 {
		cfg.applyAt = cfg.journalSegment / 8 // see applyAt in apply.go
	}
	bopts := bdb.DefaultOptions(dir).
		// Group commit syncs explicitly, once per group.
		WithSyncWrites(false).
		// Writers run one at a time, so they cannot conflict.
		WithDetectConflicts(false).
		WithMemTableSize(cfg.memTableSize).
		// With events' values in the value log (see parts), the tables
		// hold small values; a quarter of the default cache holds plenty
		// of their blocks and takes about 380 fewer page faults to set up
		// at every start.
		WithBlockCacheSize(64 << 20).
		WithLogger(newLogger(cfg.logger))
	// BadgerDB requires values kept in the LSM tree to fit in a
	// transaction; with small memtables keep fewer of them there.
	if maxBatch := 15 * bopts.MemTableSize / 100; bopts.ValueThreshold >= maxBatch {
		bopts = bopts.WithValueThreshold(maxBatch / 4)
	}
	var prefixes [][]byte
	for _, p := range cfg.valueLog {
		prefixes = append(prefixes, append([]byte{dataPrefix}, p...))
	}
	db, err := openParts(dir, bopts, prefixes)
	if err != nil {
		return nil, fmt.Errorf("persist/badger: open %s: %w", dir, err)
	}
	lim := newLimits(bopts)
	j, ts, err := recoverJournal(db, lim, dir, cfg.journalSegment)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("persist/badger: open %s: %w", dir, err)
	}
	db.setDiscardTs(ts)
	s := &Store{
		db:      db,
		lim:     lim,
		reqs:    make(chan *request),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		writeTs: ts,
		applied: ts,
		read:    published{base: ts},
		readers: make(map[uint64]int),
		journal: j,
		linger:  groupLinger,
		after:   time.After,
		applyAt: cfg.applyAt,
	}
	s.applyBatch = s.apply
	s.sync = func(uint64, []byte) error { return j.syncStaged() }
	s.dirs, s.reserve, s.memTableSize = db.dirs(), cfg.reserve, bopts.MemTableSize
	s.freeSpace = func() (int64, error) { return statfsFree(dir) }
	s.spaceRecheck = spaceRecheck
	s.idle.L = &s.mu
	go s.writeLoop()
	return s, nil
}

// journalSegment is the size of each of the journal's two segments: a
// checkpoint every 2 MiB of writes, 4 MiB of disk.
const journalSegment = 2 << 20

// recoverJournal opens the journal in dir, applies what BadgerDB lost of
// it, makes that durable and starts the journal over. It returns the
// journal and the timestamp of the newest group.
func recoverJournal(db *parts, lim limits, dir string, segment int64) (*journal, uint64, error) {
	j, err := openJournal(dir, db.dirs(), segment, db.sync)
	if err != nil {
		return nil, 0, err
	}
	last, err := j.replay(db, lim)
	if err == nil {
		last = max(last, db.maxVersion())
		err = j.start(last)
	}
	if err != nil {
		j.close()
		return nil, 0, err
	}
	return j, last, nil
}

// View runs fn in a read-only transaction on the snapshot left by the last
// durable Update.
func (s *Store) View(ctx context.Context, fn func(tx persist.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("persist/badger: view: %w", err)
	}
	pub, err := s.acquireReader()
	if err != nil {
		return fmt.Errorf("persist/badger: view: %w", err)
	}
	defer s.releaseReader(pub.base)
	tx := &readTx{s: s, snap: snapshot{p: s.db, ts: pub.base}, view: pub.view}
	defer tx.finish()
	return fn(tx)
}

// acquireReader registers a reader of what was last published, which
// keeps compaction from discarding the versions it reads.
func (s *Store) acquireReader() (published, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return published{}, persist.ErrClosed
	}
	s.readers[s.read.base]++
	s.nreaders++
	return s.read, nil
}

func (s *Store) releaseReader(ts uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readers[ts]--; s.readers[ts] == 0 {
		delete(s.readers, ts)
	}
	if s.nreaders--; s.nreaders == 0 {
		s.idle.Broadcast()
	}
}

// publish makes what pub holds visible to new readers and lets compaction
// discard versions no reader needs any more.
func (s *Store) publish(pub published) {
	s.mu.Lock()
	s.read = pub
	// Versions newer than the last checkpoint stay until the next one:
	// replaying the journal may apply them again (see journal).
	discard := min(pub.base, s.journal.durable)
	for r := range s.readers {
		discard = min(discard, r)
	}
	s.mu.Unlock()
	s.db.setDiscardTs(discard)
}

// Update runs fn in a read-write transaction and returns once its writes
// are durable. Read-write transactions run one at a time on the store's
// writer goroutine, not the caller's; a panic in fn is re-raised in the
// caller.
//
// A transaction's writes are limited to roughly 13.5% of the memtable size
// (about 8.6 MiB by default), counting values of 1 MiB or more as a few
// bytes, since BadgerDB keeps those out of the LSM tree. Writes beyond the
// limit fail with persist.ErrTxTooBig.
func (s *Store) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("persist/badger: update: %w", err)
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return fmt.Errorf("persist/badger: update: %w", persist.ErrClosed)
	case s.failed != nil:
		s.mu.Unlock()
		return fmt.Errorf("persist/badger: update: store stopped writing after an earlier failure: %w", s.failed)
	}
	s.pending.Add(1)
	s.mu.Unlock()
	defer s.pending.Done()

	r := &request{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.reqs <- r
	<-r.done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// NewBatch returns a batch that applies its writes through Update in chunks
// of at most half the transaction size limit, so chunks can share a group
// commit.
func (s *Store) NewBatch(ctx context.Context) persist.Batch {
	return persist.NewBufferedBatch(ctx, s.Update, int(s.lim.size/2), int(s.lim.count/2))
}

// Close waits for running transactions, then closes the database.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closeErr = s.shutdown()
	})
	if first {
		return s.closeErr
	}
	return nil
}

func (s *Store) shutdown() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	// No Update can start now; wait for the accepted ones, then stop the
	// writer.
	s.pending.Wait()
	close(s.quit)
	<-s.done
	s.mu.Lock()
	for s.nreaders > 0 {
		s.idle.Wait()
	}
	failed := s.failed
	s.mu.Unlock()
	// A last checkpoint leaves the next Open nothing to replay.
	var err error
	if failed == nil {
		err = s.journal.start(s.writeTs)
	}
	if cerr := s.db.close(); err == nil {
		err = cerr
	}
	if jerr := s.journal.close(); err == nil {
		err = jerr
	}
	if err != nil {
		return fmt.Errorf("persist/badger: close: %w", err)
	}
	return nil
}
