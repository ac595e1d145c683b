//go:build !js

package badger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrNoSpace is wrapped by the error of an Update refused because the
// filesystem holding the store is (nearly) full.
//
// BadgerDB writes its write-ahead log and value log through memory maps of
// sparse files, so it takes disk space only when a page is first written.
// When the filesystem has no space left for that page, the kernel answers
// with SIGBUS, which kills the process: BadgerDB never sees an error. So
// the store checks the free space itself before committing a group, and
// refuses the group, leaving the database as it was, unless the space left
// afterwards covers the group's writes twice (log and value log), a flush of
// every memtable into a table file, and the reserve (see
// WithFreeSpaceReserve). Writes resume by themselves once space is freed.
var ErrNoSpace = errors.New("persist/badger: not enough free disk space")

// defaultReserve is the free space the store leaves on its filesystem by
// default: room for BadgerDB's manifest, discard stats and the pages it
// reads past the end of its logs when it opens them again.
const defaultReserve = 4 << 20

// WithFreeSpaceReserve sets the free space, in bytes, that the store keeps
// on its filesystem: 4 MiB by default. A negative n turns the check off.
// See ErrNoSpace.
func WithFreeSpaceReserve(n int64) Option {
	return func(c *config) { c.reserve = n }
}

// spaceRecheck is how long checkSpace may go on from one statfs of the
// filesystem while the space it found, less what the store wrote since,
// stays well above what it needs. Asking for every group costs a system
// call per commit; other processes would have to fill the two memtables'
// worth of margin the fast path keeps within this time to matter.
const spaceRecheck = 100 * time.Millisecond

// spaceSeen is what the last statfs found. Only the writer goroutine uses
// it.
type spaceSeen struct {
	free    int64     // bytes free then
	at      time.Time // zero if unknown
	written int64     // raw bytes of the groups checked since
}

// checkSpace returns an error wrapping ErrNoSpace if writing raw bytes of
// keys and values could run the filesystem out of space, with the groups
// not yet applied to BadgerDB (which take their space when they are).
func (s *Store) checkSpace(raw int64) error {
	if s.reserve < 0 {
		return nil
	}
	need := 2*(raw+s.sinceUsed.raw+s.applyingRaw) + s.reserve
	// Fast path: even full memtables (the one written and one being
	// flushed) fit, by the last statfs if it is recent enough.
	seen := &s.space
	seen.written += raw
	if !seen.at.IsZero() && time.Since(seen.at) < s.spaceRecheck &&
		seen.free-2*seen.written >= need+2*s.memTableSize {
		return nil
	}
	free, err := s.freeSpace()
	if err != nil {
		seen.at = time.Time{}
		return nil // unknown: let BadgerDB try
	}
	*seen = spaceSeen{free: free, at: time.Now(), written: raw}
	if free >= need+2*s.memTableSize {
		return nil
	}
	for _, dir := range s.dirs {
		need += memTableBytes(dir)
	}
	if free >= need {
		return nil
	}
	return fmt.Errorf("persist/badger: commit: %w: %d bytes free on the filesystem of %s, %d needed", ErrNoSpace, free, s.dirs[0], need)
}

// memTableBytes returns the disk space taken by the memtables' logs in
// dir, which flushing them into table files takes again.
func memTableBytes(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += allocatedBytes(fi)
		}
	}
	return n
}
