//go:build !js

package badger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
)

// withJournalSegment sets the size of the journal's segments, so that tests
// can fill them quickly.
func withJournalSegment(n int64) Option {
	return func(c *config) { c.journalSegment = n }
}

// copyDir copies the regular files of src into a new directory, as a
// process crash would leave them: with everything written so far, synced or
// not.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyTree(t, src, dst)
	return dst
}

// copyTree copies the regular files and directories in src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		switch {
		case e.Type().IsRegular():
			copySparse(t, from, to)
		case e.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil {
				t.Fatal(err)
			}
			copyTree(t, from, to)
		}
	}
}

// Whence values of lseek that find the data of a sparse file.
const (
	seekData = 3
	seekHole = 4
)

// copySparse copies the file src to dst, skipping the holes of a sparse
// src: BadgerDB's value log is a 2 GiB file with a few pages written.
func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Truncate(fi.Size()); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < fi.Size(); {
		start, err := in.Seek(off, seekData)
		if err != nil {
			break // no data after off (ENXIO)
		}
		end, err := in.Seek(start, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, start), io.NewSectionReader(in, start, end-start)); err != nil {
			t.Fatal(err)
		}
		off = end
	}
}

// loseMemtables removes BadgerDB's memtable logs from dir: what a power
// loss does to everything BadgerDB wrote since its last sync, and more.
func loseMemtables(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	values, _ := filepath.Glob(filepath.Join(dir, valuesDir, "*.mem"))
	logs = append(logs, values...)
	if len(logs) == 0 {
		t.Fatal("no memtable logs to lose")
	}
	for _, f := range logs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// losePower closes s after copying its directory dir as a crash of the
// process would leave it, then takes the copy's memtable logs away as a
// power loss might; it returns the copy.
func losePower(t *testing.T, s *Store, dir string) string {
	t.Helper()
	crashed := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	loseMemtables(t, crashed)
	return crashed
}

// checkReopened opens the store in dir with opts, checks that it holds
// want, each key in the database its prefix assigns it to, and closes it.
func checkReopened(t *testing.T, dir string, want map[string]string, opts ...Option) {
	t.Helper()
	s, err := Open(dir, append([]Option{WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatalf("Open %s: %v", dir, err)
	}
	checkContents(t, s, want)
	checkParts(t, s, want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeWorkload makes n groups of sets, overwrites and deletes and returns
// what the store must then hold.
func writeWorkload(t *testing.T, s *Store, n int, value string) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := range n {
		err := s.Update(t.Context(), func(tx persist.Tx) error {
			k := fmt.Sprintf("k%03d", i)
			if err := tx.Set([]byte(k), []byte(value+k)); err != nil {
				return err
			}
			if i%3 == 2 { // overwrite an earlier key
				return tx.Set([]byte(fmt.Sprintf("k%03d", i-1)), []byte("again"))
			}
			if i%5 == 4 { // delete an earlier key
				return tx.Delete([]byte(fmt.Sprintf("k%03d", i-2)))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
		k := fmt.Sprintf("k%03d", i)
		want[k] = value + k
		if i%3 == 2 {
			want[fmt.Sprintf("k%03d", i-1)] = "again"
		} else if i%5 == 4 {
			delete(want, fmt.Sprintf("k%03d", i-2))
		}
	}
	return want
}

func checkContents(t *testing.T, s *Store, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	err := s.View(t.Context(), func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{})
		defer it.Close()
		for it.Next() {
			got[string(it.Key())] = string(it.Value())
		}
		return it.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("store holds %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestJournalRestoresWhatBadgerLost checks that the journal restores what a
// power loss took from BadgerDB's memtables: with a value log, the pointers
// lost from both databases.
func TestJournalRestoresWhatBadgerLost(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  []Option
		value string
	}{
		{"one database", nil, "v"},
		{"with a value log", []Option{WithValueLog("k0")}, strings.Repeat("v", 300)},
		// Nothing reaches BadgerDB before Close: only the journal has it.
		{"never applied", []Option{WithApplyAt(1 << 40)}, "v"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]Option{WithLogger(nil)}, c.opts...)
			dir := t.TempDir()
			s, err := Open(dir, opts...)
			if err != nil {
				t.Fatal(err)
			}
			want := writeWorkload(t, s, 200, c.value)
			crashed := losePower(t, s, dir)

			s, err = Open(crashed, opts...)
			if err != nil {
				t.Fatalf("Open after the loss: %v", err)
			}
			defer s.Close()
			checkContents(t, s, want)
			checkParts(t, s, want)
			// The store keeps working, and what it writes now survives a
			// crash.
			if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte("after"), []byte("x")) }); err != nil {
				t.Fatal(err)
			}
			want["after"] = "x"
			checkReopened(t, copyDir(t, crashed), want, c.opts...)
		})
	}
}

// TestJournalCheckpoints checks that the journal starts its segments over,
// also when nothing but the checkpoints applies groups to BadgerDB.
func TestJournalCheckpoints(t *testing.T) {
	for _, applyAt := range []int64{0, 1 << 40} {
		t.Run(fmt.Sprint("apply at ", applyAt), func(t *testing.T) { testJournalCheckpoints(t, WithApplyAt(applyAt)) })
	}
}

func testJournalCheckpoints(t *testing.T, applyAt Option) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil), withJournalSegment(4<<10), applyAt)
	if err != nil {
		t.Fatal(err)
	}
	start := s.journal.durable
	// About 60 KiB of records: many checkpoints, and one group larger
	// than a segment, whose record takes a segment past its size.
	want := writeWorkload(t, s, 300, strings.Repeat("x", 200))
	big := strings.Repeat("b", 8<<10)
	if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte("big"), []byte(big)) }); err != nil {
		t.Fatal(err)
	}
	want["big"] = big
	if s.journal.durable <= start {
		t.Errorf("no checkpoint after 60 KiB of 4 KiB segments: durable %d, at open %d", s.journal.durable, start)
	}
	if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte("last"), []byte("l")) }); err != nil {
		t.Fatal(err)
	}
	want["last"] = "l"
	crashed := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, crashed} {
		checkReopened(t, d, want, withJournalSegment(4<<10))
	}
}

func TestReadRecordsStops(t *testing.T) {
	rec := func(ts uint64, key string) []byte {
		r := newRecord(ts, 0)
		r.add([]byte(key), entry{value: []byte("v")})
		return r.seal()
	}
	marker := func(ts uint64) []byte { r := newRecord(ts, 0); return r.seal() }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	torn := rec(12, "c")
	torn[len(torn)-1] ^= 0xff
	tests := []struct {
		name string
		data []byte
		want []uint64
	}{
		{"empty", nil, nil},
		{"zeros", make([]byte, 64), nil},
		{"records then zeros", cat(marker(9), rec(10, "a"), rec(11, "b"), make([]byte, 64)), []uint64{9, 10, 11}},
		{"torn record", cat(marker(9), rec(10, "a"), torn, rec(13, "d")), []uint64{9, 10}},
		{"stale record after new ones", cat(marker(20), rec(21, "a"), rec(5, "old"), rec(6, "old")), []uint64{20, 21}},
		{"cut short", cat(marker(9), rec(10, "a")[:20]), []uint64{9}},
		{"length beyond the segment", cat(marker(9), []byte{0xff, 0xff, 0xff, 0x7f}, make([]byte, 12)), []uint64{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			err := readRecords(bytes.NewReader(tt.data), 1<<20, func(r journalRecord) error {
				got = append(got, r.ts)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("timestamps %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJournalWriteFailureStopsWrites(t *testing.T) {
	s := openTest(t)
	s.journal.dataSync = func(*os.File) error { return errors.New("disk on fire") }
	if err := set(s, t, "k", "v"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Update with a failing journal = %v", err)
	}
	if visible(t, s, "k") {
		t.Error("a write the journal could not sync is visible")
	}
}

func TestCleanCloseLeavesNothingToReplay(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := writeWorkload(t, s, 50, "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bdb.OpenManaged(bdb.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := &parts{main: db}
	j, err := openJournal(dir, p.dirs(), journalSegment, p.sync)
	if err != nil {
		t.Fatal(err)
	}
	last, err := j.replay(p, newLimits(db.Opts()))
	j.close()
	db.Close()
	if err != nil || last != 0 {
		t.Fatalf("after a clean close the journal replayed up to %d (%v), want nothing", last, err)
	}
	s, err = Open(dir, WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkContents(t, s, want)
}

// stageLost stages the journal record of a group at the next timestamp
// that writes writes, as a process that crashed before syncing it leaves
// it: written, neither synced nor applied.
func stageLost(t *testing.T, s *Store, writes map[string]string) {
	t.Helper()
	var size int64
	for k, v := range writes {
		size += int64(len(k) + len(v) + 22)
	}
	errSkip := errors.New("skip the commit")
	// Update's callback runs on the writer goroutine, which owns the
	// journal; the callback's error leaves the group empty.
	err := s.Update(t.Context(), func(persist.Tx) error {
		rec := newRecord(s.writeTs+1, size)
		for k, v := range writes {
			rec.add(append([]byte{dataPrefix}, k...), entry{value: []byte(v)})
		}
		if err := s.journal.stage(s.writeTs+1, rec.seal()); err != nil {
			return err
		}
		return errSkip
	})
	if !errors.Is(err, errSkip) {
		t.Fatalf("stage a record: %v", err)
	}
}

// TestStagedRecord checks what replay makes of a record staged (written,
// not synced) for a group that then never reached BadgerDB: after a crash
// of the process it applies it whole, to both databases.
func TestStagedRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil), WithValueLog("g"))
	if err != nil {
		t.Fatal(err)
	}
	want := writeWorkload(t, s, 20, "v")
	lost := map[string]string{"gh": "ghost", "mh": "main"}
	stageLost(t, s, lost)
	crashed := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	maps.Copy(want, lost)
	checkReopened(t, crashed, want, WithValueLog("g"))
}
